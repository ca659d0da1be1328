import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, Stack, uniqueUser, until } from './support/harness.js';
import { probeBody, typedConsumer } from './support/sdk/probe.js';

jest.setTimeout(240_000);

/*
 * The SDK as a front-end team gets it: `npm pack` of packages/client (built by npm run build),
 * installed into an empty project, driving a real gateway from Node as ESM and as CommonJS.
 */
const stack = new Stack();
let project: string;
let tarball: string;

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'sdk-consumer-'));
  const packed = execFileSync('npm', ['pack', '--pack-destination', project, '--silent'], { cwd: join(ROOT, 'packages', 'client'), encoding: 'utf8' }).trim().split('\n').pop()!;
  tarball = join(project, packed);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: project, encoding: 'utf8', timeout: 180_000 });
  await stack.start();
});
afterAll(async () => {
  await stack.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

/** A running consumer: its JSON lines as they come, and a way to send it commands. */
function runProbe(file: string, token: string) {
  const child: ChildProcess = spawn(process.execPath, [file], { cwd: project, env: { ...process.env, GATEWAY_URL: stack.gateway.url, TOKEN: token }, stdio: ['pipe', 'pipe', 'pipe'] });
  const events: Array<Record<string, unknown>> = [];
  let err = '';
  let rest = '';
  child.stdout!.on('data', (b: Buffer) => {
    rest += b.toString();
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as Record<string, unknown>);
  });
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const wait = (what: string, fn: (e: Record<string, unknown>) => boolean, from = 0) =>
    until(what, () => {
      if (child.exitCode !== null && child.exitCode !== 0) throw new Error(`probe exited ${child.exitCode}: ${err}`);
      return events.slice(from).find(fn);
    }, 20_000);
  return { child, events, wait, send: (cmd: string) => child.stdin!.write(`${cmd}\n`) };
}

describe('the packed client SDK', () => {
  it('is a tarball whose only dependency is socket.io-client, with ESM, CommonJS and declarations, no zod inside', () => {
    const pkg = JSON.parse(readFileSync(join(project, 'node_modules', '@presence-lifecycle', 'client', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(pkg.dependencies as object)).toEqual(['socket.io-client']);
    expect(pkg.peerDependenciesMeta).toEqual({ react: { optional: true } });
    const dist = join(project, 'node_modules', '@presence-lifecycle', 'client', 'dist');
    expect(readdirSync(dist)).toEqual(expect.arrayContaining(['index.mjs', 'index.cjs', 'react.mjs', 'react.cjs', 'types', 'types-cjs']));
    for (const f of ['index.mjs', 'index.cjs']) expect(readFileSync(join(dist, f), 'utf8')).not.toMatch(/from ["']zod["']|require\(["']zod["']\)/);
    // Installed alone: nothing but socket.io-client's own tree came with it (no React, no zod).
    expect(readdirSync(join(project, 'node_modules'))).not.toEqual(expect.arrayContaining(['zod']));
    expect(readdirSync(join(project, 'node_modules'))).not.toContain('react');
  });

  it('type-checks a TypeScript consumer, ESM and CommonJS, against its declarations', () => {
    writeFileSync(join(project, 'consumer.mts'), typedConsumer);
    // The same source as CommonJS: TypeScript compiles its imports to require(), resolved by the package's "require" condition.
    writeFileSync(join(project, 'consumer.cts'), typedConsumer);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const compilerOptions = { noEmit: true, strict: true, skipLibCheck: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [] };
    for (const f of ['consumer.mts', 'consumer.cts']) {
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: [f] }));
      try {
        execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
      } catch (err) {
        throw new Error(`tsc ${f}: ${(err as { stdout?: string }).stdout ?? String(err)}`, { cause: err });
      }
    }
  });

  for (const flavour of ['esm', 'cjs'] as const) {
    it(`drives the real gateway from Node (${flavour}): status, manager, users, setStatus, logout; reconnects after the gateway restarts`, async () => {
      const file = join(project, flavour === 'esm' ? 'probe.mjs' : 'probe.cjs');
      const imports = flavour === 'esm' ? "import { connectPresence } from '@presence-lifecycle/client';" : "const { connectPresence } = require('@presence-lifecycle/client');";
      writeFileSync(file, `${imports}\n${probeBody}`);
      const user = uniqueUser(`sdk-${flavour}`);
      const probe = runProbe(file, await stack.token(user));
      await probe.wait('connected', (e) => e.ev === 'status' && e.status === 'connected');
      await probe.wait('manager running', (e) => e.ev === 'manager' && e.state === 'running');
      await probe.wait('itself online', (e) => e.ev === 'users' && JSON.stringify((e.users as Record<string, string[]>)[user]) === '["visible"]');
      probe.send('hidden');
      await probe.wait('ack', (e) => e.ev === 'ack' && (e.answer as { ok?: boolean }).ok === true);
      await probe.wait('itself hidden', (e) => e.ev === 'users' && JSON.stringify((e.users as Record<string, string[]>)[user]) === '["hidden"]');

      // The gateway stops (SIGTERM) and comes back on the same port: the client reconnects by itself.
      const mark = probe.events.length;
      await stack.gateway.kill('SIGTERM');
      await probe.wait('disconnected', (e) => e.ev === 'status' && e.status === 'disconnected', mark);
      await stack.gateway.start();
      await probe.wait('connected again', (e) => e.ev === 'status' && e.status === 'connected', mark);
      await probe.wait('itself online again', (e) => e.ev === 'users' && (e.users as Record<string, string[]>)[user]?.length === 1, mark);

      probe.send('logout');
      await probe.wait('bye', (e) => e.ev === 'bye');
      await stack.observer.waitFor(`presence.session.${user}.left`, 10_000, 2);
      const reasons = stack.observer.on(`presence.session.${user}.left`).map((m) => m.data.reason);
      expect(reasons).toEqual(['gateway_down', 'logout']);
    });
  }
});
