import { beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from './config.js';
import { parseRedisUrl } from '../redis/redis-url.js';
import { ROLES, ROLE_PASSWORD_ENV, type Role } from '../nats/permissions.js';

/**
 * deploy/ cannot be run here (no Docker engine, no Kubernetes): it is checked by parsing it. The
 * HA compose file wires a 3-node NATS cluster, Redis with a replica and 3 Sentinels and two of each
 * app; the kustomize base has separate liveness and readiness probes on routes the apps serve, a
 * grace period longer than the apps' drain, a PodDisruptionBudget per app and a sticky ingress; each
 * app reaches NATS as its own user, and each app that uses Redis reaches it as its own ACL user, from
 * Secrets the operator creates with the commands of docs/OPERATIONS.md; every environment variable
 * handed to an app is one libs/config reads, and the whole of it is accepted.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const APPS = { gateway: 3000, presence: 3001, 'stream-workers': 3002 } as const;
// Parsed YAML, read loosely: the assertions are the checks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walked by path in the assertions, typed by them
type Doc = Record<string, any>;

let load: (s: string) => unknown;
let loadAll: (s: string) => unknown[];
beforeAll(async () => {
  // js-yaml comes with Jest (istanbul), as for compose.spec.ts.
  const yaml = (await import('js-yaml' as string)) as { load?(s: string): unknown; loadAll?(s: string): unknown[]; default?: { load(s: string): unknown; loadAll(s: string): unknown[] } };
  load = yaml.load ?? yaml.default!.load;
  loadAll = yaml.loadAll ?? yaml.default!.loadAll;
});

/** Every variable libs/config reads, from its source: the one list of names. */
function configVariables(): Set<string> {
  const src = ['config.ts', 'security.ts'].map((f) => readFileSync(join(ROOT, 'libs', 'config', f), 'utf8')).join('\n');
  const names = new Set<string>();
  for (const m of src.matchAll(/env(?:, '([A-Z0-9_]+)'|\.([A-Z0-9_]+))|positiveInt\('([A-Z0-9_]+)'/g)) names.add(m[1] ?? m[2] ?? m[3]);
  names.add('NATS_URL');
  return names;
}

/** The HTTP routes ObservabilityController serves, from its source. */
function healthRoutes(): string[] {
  const src = readFileSync(join(ROOT, 'libs', 'runtime', 'observability.controller.ts'), 'utf8');
  return [...src.matchAll(/'(health[a-z/]*)'/g)].map((m) => `/${m[1]}`);
}

const PROD = { AUTH_JWT_SECRET: 'a-production-secret-of-32-chars!!', BOARD_USER: 'ops', BOARD_PASSWORD: 'not-the-default' };

describe('deploy/compose/docker-compose.ha.yml', () => {
  let services: Record<string, Doc>;
  beforeAll(() => {
    services = (load(readFileSync(join(ROOT, 'deploy', 'compose', 'docker-compose.ha.yml'), 'utf8')) as Doc).services;
  });
  const env = (s: Doc) => Object.fromEntries(Object.entries(s.environment as Record<string, string>).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]));

  it('a 3-node NATS cluster, each routed to the two others, with JetStream', () => {
    const nats = ['nats-1', 'nats-2', 'nats-3'];
    for (const n of nats) {
      const cmd = (services[n].command as string[]).join(' ');
      expect(cmd).toContain('-js');
      expect(cmd).toContain(`-n ${n}`);
      for (const other of nats.filter((o) => o !== n)) expect(cmd).toContain(`nats://${other}:6222`);
      expect(services[n].healthcheck.test.join(' ')).toContain('/healthz');
      // The least-privilege configuration, and nothing published.
      expect(services[n].command.slice(0, 2)).toEqual(['-c', '/etc/nats/nats.conf']);
      expect(services[n].volumes).toContain('../nats/nats.conf:/etc/nats/nats.conf:ro');
      expect(services[n].ports).toBeUndefined();
    }
  });

  it('back ends from their official images: NATS 2.x, Redis 7', () => {
    for (const n of ['nats-1', 'nats-2', 'nats-3']) expect(services[n].image).toMatch(/^nats:2\./);
    for (const r of ['redis-primary', 'redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3']) expect(services[r].image).toMatch(/^redis:7/);
  });

  it('Redis: a primary, its replica, and 3 Sentinels watching it with a quorum of 2', () => {
    expect(services['redis-replica'].command.join(' ')).toContain('--replicaof redis-primary 6379');
    for (const s of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
      const cmd = (services[s].command as string[]).join(' ');
      expect(cmd).toContain('sentinel monitor presence redis-primary 6379 2');
      expect(cmd).toContain('--sentinel');
    }
  });

  it.each(Object.entries(APPS))('two %s, pointed at every NATS node and every Sentinel, healthy by a route it serves', (app, port) => {
    const replicas = Object.keys(services).filter((n) => n.startsWith(`${app}-`));
    expect(replicas).toHaveLength(2);
    for (const name of replicas) {
      const s = services[name];
      expect(s.command).toContain(`dist/apps/${app}/main.js`);
      // The one image of ../../Dockerfile, built once for every app.
      expect(s.image).toBe('presence-lifecycle:local');
      expect(s.build.context).toBe('../..');
      const e = env(s);
      for (const k of Object.keys(e)) expect([app, k, configVariables().has(k)]).toEqual([app, k, true]);
      const c = loadConfig({ ...e, ...PROD });
      // Every node, each with this app's own NATS user.
      expect(c.natsUrl.split(',').map((u) => new URL(u)).map((u) => `${u.username}@${u.host}`)).toEqual(['nats-1', 'nats-2', 'nats-3'].map((n) => `${app}@${n}:4222`));
      expect(c.eventsReplicas).toBe(3);
      const redis = parseRedisUrl(c.redisUrl);
      expect(redis).toMatchObject({ kind: 'sentinel', masterName: 'presence' });
      if (redis.kind === 'sentinel') expect(redis.sentinels.map((x) => x.host)).toEqual(['sentinel-1', 'sentinel-2', 'sentinel-3']);
      const check = s.healthcheck.test.join(' ');
      expect(check).toContain(`http://127.0.0.1:${port}/health/ready`);
      expect(healthRoutes()).toContain('/health/ready');
    }
  });

  it('a balancer keeps each client on one gateway and passes WebSocket upgrades', () => {
    const conf = readFileSync(join(ROOT, 'deploy', 'compose', 'nginx.conf'), 'utf8');
    expect(conf).toMatch(/ip_hash;/);
    expect(conf).toContain('server gateway-1:3000');
    expect(conf).toContain('server gateway-2:3000');
    expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade/);
    expect(services.balancer.volumes[0]).toMatch(/^\.\/nginx\.conf:/);
  });
});

/** The Secrets holding each app's NATS_URL and REDIS_URL: created by the operator, never shipped. */
const NATS_SECRET = 'presence-lifecycle-nats';
const REDIS_SECRET = 'presence-lifecycle-redis';

type DocumentedKey = { user: string; passwordVar: string; url: string };

/**
 * A `kubectl create secret` command docs/OPERATIONS.md gives the operator, read as far as it
 * matters: the URL template of its shell function `fn` and, per key of the Secret, the user and the
 * password variable it passes to `fn`. The URL each app would get is the template with a stand-in
 * password.
 */
function documentedSecret(secret: string, fn: string): Map<string, DocumentedKey> {
  const doc = readFileSync(join(ROOT, 'docs', 'OPERATIONS.md'), 'utf8');
  const block = [...doc.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes(`create secret generic ${secret} `));
  expect(block).toBeDefined();
  const template = new RegExp(`^${fn}\\(\\) \\{ echo "([^"]+)"; \\}$`, 'm').exec(block!)?.[1];
  expect(template).toBeDefined();
  // This Secret's command only: its first line and the lines continued with a backslash.
  const lines = block!.split('\n');
  const first = lines.findIndex((l) => l.includes(`create secret generic ${secret} `));
  const command: string[] = [];
  for (let i = first; i < lines.length; i++) {
    command.push(lines[i]);
    if (!lines[i].endsWith('\\')) break;
  }
  const keys = new Map<string, DocumentedKey>();
  for (const m of command.join('\n').matchAll(new RegExp(`--from-literal=([a-z-]+)="\\$\\(${fn} ([a-z-]+) "\\$([A-Z_]+)"\\)"`, 'g'))) {
    keys.set(m[1], { user: m[2], passwordVar: m[3], url: template!.replaceAll('$1', m[2]).replaceAll('$2', `pw-of-${m[2]}`) });
  }
  return keys;
}

/**
 * The Redis ACL users of the production compose file's redis command (the one definition of them),
 * each with the variable holding its password; the passwordless health-check user is no app's.
 */
function composeRedisUsers(): Map<string, string> {
  const compose = readFileSync(join(ROOT, 'deploy', 'compose', 'docker-compose.prod.yml'), 'utf8');
  return new Map([...compose.matchAll(/--user ([a-z-]+) on ">\$\$([A-Z_]+)"/g)].map((m) => [m[1], m[2]]));
}

/** The apps whose module asks CoreModule for a Redis client: the gateway's does not. */
function appsUsingRedis(): string[] {
  return Object.keys(APPS).filter((app) => /CoreModule\.forApp\([^)]*redis: true/.test(readFileSync(join(ROOT, 'apps', app, `${app}.module.ts`), 'utf8')));
}

describe('deploy/k8s (kustomize)', () => {
  const dir = join(ROOT, 'deploy', 'k8s');
  let docs: Doc[];
  beforeAll(() => {
    const base = load(readFileSync(join(dir, 'base', 'kustomization.yaml'), 'utf8')) as Doc;
    docs = (base.resources as string[]).flatMap((f) => loadAll(readFileSync(join(dir, 'base', f), 'utf8')) as Doc[]).filter(Boolean);
  });
  const of = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;

  it('every resource a kustomization names exists, base and overlay', () => {
    for (const k of ['base', join('overlays', 'production')]) {
      const kz = load(readFileSync(join(dir, k, 'kustomization.yaml'), 'utf8')) as Doc;
      for (const r of kz.resources as string[]) expect([k, r, existsSync(join(dir, k, r))]).toEqual([k, r, true]);
    }
    expect(readdirSync(join(dir, 'base')).filter((f) => f.endsWith('.yaml')).length).toBe(6);
  });

  it.each(Object.entries(APPS))('%s: separate liveness and readiness probes on routes it serves, a grace period past its drain, a PDB', (app, port) => {
    const d = of('Deployment', app);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.command).toContain(`dist/apps/${app}/main.js`);
    // The name kustomize's `images` rewrites (base: local tag; overlay: the registry's).
    expect(c.image).toBe('presence-lifecycle');
    for (const k of ['base', join('overlays', 'production')]) {
      const kz = load(readFileSync(join(dir, k, 'kustomization.yaml'), 'utf8')) as Doc;
      expect((kz.images as Doc[]).map((i) => i.name)).toContain('presence-lifecycle');
    }
    expect(c.ports[0].containerPort).toBe(port);
    expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/health/live');
    for (const p of [c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]) expect(healthRoutes()).toContain(p);
    // The drain is given 20 s in compose (stop_grace_period); here it comes after the preStop pause.
    const pause = Number(c.lifecycle.preStop.exec.command[1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + 20);
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    const pdb = of('PodDisruptionBudget', app);
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.selector.matchLabels).toEqual(d.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).toBe(1);
    expect(of('Service', app).spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(c.env.find((e: Doc) => e.name === 'INSTANCE_ID').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
  });

  it.each(Object.keys(APPS))('%s: NATS_URL from its own key of the NATS Secret, never from the shared ConfigMap', (app) => {
    const c = of('Deployment', app).spec.template.spec.containers[0];
    const nats = (c.env as Doc[]).filter((e) => e.name === 'NATS_URL');
    expect(nats).toHaveLength(1);
    expect(nats[0].value).toBeUndefined();
    // The key is the app's name, which is its NATS user (a role of libs/nats/permissions.ts).
    expect(nats[0].valueFrom).toEqual({ secretKeyRef: { name: NATS_SECRET, key: app } });
    expect(ROLES).toContain(app);
    // A credential-less URL in the ConfigMap would be refused by deploy/nats/nats.conf, and shared by all.
    const data = of('ConfigMap', 'presence-lifecycle-config').data as Record<string, string>;
    expect(Object.keys(data)).not.toContain('NATS_URL');
    expect(Object.keys(data)).not.toContain('NATS_CREDS');
    for (const src of c.envFrom as Doc[]) expect(src.configMapRef?.name ?? src.secretRef?.name).not.toBe(NATS_SECRET);
  });

  it('the documented Secret gives each app its own NATS user and password, to every server of the cluster', () => {
    const documented = documentedSecret(NATS_SECRET, 'nats_url');
    const refs = Object.keys(APPS).map((app) => of('Deployment', app).spec.template.spec.containers[0].env.find((e: Doc) => e.name === 'NATS_URL').valueFrom.secretKeyRef.key);
    expect([...documented.keys()].sort()).toEqual([...refs].sort());
    for (const app of Object.keys(APPS) as Array<Exclude<Role, 'operator'>>) {
      const { user, passwordVar, url } = documented.get(app)!;
      expect([app, user, passwordVar]).toEqual([app, app, ROLE_PASSWORD_ENV[app]]);
      const servers = url.split(',').map((u) => new URL(u));
      expect(servers).toHaveLength(3);
      for (const u of servers) expect([u.username, u.password]).toEqual([app, `pw-of-${app}`]);
    }
  });

  it.each(Object.keys(APPS))('%s: REDIS_URL, where it uses Redis, from its own key of the Redis Secret, never from the shared ConfigMap', (app) => {
    const c = of('Deployment', app).spec.template.spec.containers[0];
    const redis = (c.env as Doc[]).filter((e) => e.name === 'REDIS_URL');
    if (appsUsingRedis().includes(app)) {
      expect(redis).toHaveLength(1);
      expect(redis[0].value).toBeUndefined();
      // The key is the app's name, which is its Redis ACL user (as in the production compose file).
      expect(redis[0].valueFrom).toEqual({ secretKeyRef: { name: REDIS_SECRET, key: app } });
      expect([...composeRedisUsers().keys()]).toContain(app);
    } else {
      // The gateway holds no Redis identity, as in compose (no ACL user of its own).
      expect(redis).toHaveLength(0);
      expect([...composeRedisUsers().keys()]).not.toContain(app);
    }
    // A credential-less URL in the ConfigMap would be refused by Redis with the default user off, and shared by all.
    const data = of('ConfigMap', 'presence-lifecycle-config').data as Record<string, string>;
    expect(Object.keys(data)).not.toContain('REDIS_URL');
    for (const src of c.envFrom as Doc[]) expect(src.configMapRef?.name ?? src.secretRef?.name).not.toBe(REDIS_SECRET);
  });

  it('the documented Redis Secret gives each app that uses Redis its own ACL user and password, through the Sentinels', () => {
    const documented = documentedSecret(REDIS_SECRET, 'redis_url');
    const users = composeRedisUsers();
    expect(appsUsingRedis().sort()).toEqual(['presence', 'stream-workers']);
    const refs = Object.keys(APPS).flatMap((app) => (of('Deployment', app).spec.template.spec.containers[0].env as Doc[]).filter((e) => e.name === 'REDIS_URL').map((e) => e.valueFrom.secretKeyRef.key));
    expect([...documented.keys()].sort()).toEqual([...refs].sort());
    expect([...documented.keys()].sort()).toEqual(appsUsingRedis().sort());
    for (const app of appsUsingRedis()) {
      const { user, passwordVar, url } = documented.get(app)!;
      expect([app, user, passwordVar]).toEqual([app, app, users.get(app)]);
      const target = parseRedisUrl(url);
      expect(target).toMatchObject({ kind: 'sentinel', username: app, password: `pw-of-${app}` });
      expect(target.kind === 'sentinel' && target.sentinels).toHaveLength(3);
    }
  });

  it('the ConfigMap names only variables libs/config reads, and with the secrets the apps accept it in production', () => {
    const data = of('ConfigMap', 'presence-lifecycle-config').data as Record<string, string>;
    for (const k of Object.keys(data)) expect([k, configVariables().has(k)]).toEqual([k, true]);
    const redis = documentedSecret(REDIS_SECRET, 'redis_url');
    for (const [app, { url }] of documentedSecret(NATS_SECRET, 'nats_url')) {
      const c = loadConfig({ ...data, ...PROD, NATS_URL: url, ...(redis.has(app) ? { REDIS_URL: redis.get(app)!.url } : {}), INSTANCE_ID: `${app}-7d9f8-abcde` });
      expect(c.production).toBe(true);
      expect(c.natsUrl.split(',')).toHaveLength(3);
      expect(c.eventsReplicas).toBe(3);
      // The gateway's REDIS_URL is its default, which it never connects to.
      expect([app, parseRedisUrl(c.redisUrl).kind]).toEqual([app, redis.has(app) ? 'sentinel' : 'server']);
    }
  });

  it('the gateway ingress is sticky (cookie affinity) and keeps WebSockets open', () => {
    const ing = of('Ingress', 'gateway');
    expect(ing.metadata.annotations['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    expect(Number(ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
    expect(ing.spec.rules[0].http.paths[0].backend.service.name).toBe('gateway');
  });
});
