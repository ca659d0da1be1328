# syntax=docker/dockerfile:1
#
# One image for all three apps (gateway, presence, stream-workers).
# The default CMD starts the gateway; docker-compose.yml overrides `command`
# per service, e.g. ["node", "dist/apps/presence/main.js"].
# No HEALTHCHECK here on purpose: docker-compose.yml defines one per app/port.

# ---- build stage -------------------------------------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app

# Install all dependencies (dev included) from the lockfile; cached unless
# package.json / package-lock.json change.
COPY package.json package-lock.json ./
RUN npm ci

# Compile the apps, libs and scripts (tsc -p tsconfig.build.json; bench/ and test/ are neither
# in the build nor in the context, see .dockerignore) into dist/, then drop dev deps.
COPY . .
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime stage -----------------------------------------------------------
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app

COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist

USER node

EXPOSE 3000 3001 3002
CMD ["node", "dist/apps/gateway/main.js"]
