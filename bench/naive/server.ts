/**
 * The naive alternative, as a NestJS user might first write it: one process, Socket.IO, an
 * in-memory Map and setTimeout. Same namespace, token and `manager` event as the gateway, so the
 * load generator measures it the same way. It cannot survive a crash or run twice: that is what
 * the real system pays for. GET /stats reports its sessions, managers and cleanup lateness.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { verifyToken } from '#libs/auth/token.js';

const port = Number(process.env.GATEWAY_PORT ?? 3100);
const secret = process.env.AUTH_JWT_SECRET ?? '';
const timeoutMs = Number(process.env.CLEANUP_TIMEOUT_MS ?? 5000);
const tickMs = Number(process.env.CONSOLE_LOGGER_INTERVAL_MS ?? 1000);
const verbose = process.env.LOG_LEVEL === 'info' || process.env.LOG_LEVEL === 'debug';

interface Manager {
  startedAt: number;
  count: number;
  timer: NodeJS.Timeout;
}
interface Presence {
  sockets: Set<string>;
  manager?: Manager;
  cleanup?: NodeJS.Timeout;
}

const users = new Map<string, Presence>();
const lateness: number[] = [];
let sessions = 0;

function startManager(userId: string): Manager {
  const m: Manager = { startedAt: Date.now(), count: 0, timer: setInterval(() => {
    m.count++;
    if (verbose) console.log(`[UserStreamManager:${userId}] Console log #${m.count} - ${new Date().toISOString()}`);
  }, tickMs) };
  return m;
}

const http = createServer((req, res) => {
  if (req.url === '/health') return res.writeHead(200).end('ok');
  if (req.url === '/stats') {
    let managers = 0;
    for (const p of users.values()) if (p.manager) managers++;
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ sessions, users: users.size, managers, lateness }));
  }
  if (req.url === '/reset') {
    lateness.length = 0;
    return res.writeHead(200).end('ok');
  }
  res.writeHead(404).end();
});
const io = new Server(http, { pingInterval: 10_000, pingTimeout: 10_000 });
const nsp = io.of('/presence');

nsp.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token ?? socket.handshake.query.token;
  const claims = verifyToken(secret, token);
  if (!claims) return next(new Error('unauthorized'));
  socket.data.userId = claims.userId;
  next();
});

nsp.on('connection', (socket) => {
  const userId = socket.data.userId as string;
  let p = users.get(userId);
  if (!p) users.set(userId, (p = { sockets: new Set() }));
  p.sockets.add(socket.id);
  sessions++;
  if (p.cleanup) {
    clearTimeout(p.cleanup);
    p.cleanup = undefined;
  }
  p.manager ??= startManager(userId);
  socket.emit('manager', { userId, state: 'running' });
  socket.on('disconnect', () => {
    sessions--;
    p.sockets.delete(socket.id);
    if (p.sockets.size > 0) return;
    const due = Date.now() + timeoutMs;
    p.cleanup = setTimeout(() => {
      lateness.push(Date.now() - due);
      if (p.manager) clearInterval(p.manager.timer);
      users.delete(userId);
    }, timeoutMs);
  });
});

http.listen(port, () => console.log(`naive ready on port ${port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
