/**
 * What Engine.IO's kept upgrade request costs per session: a Socket.IO server in this process, and
 * N WebSocket clients in a child process (so their memory is not counted), once with the request
 * kept (Engine.IO's default) and once dropped after the connection (`socket.conn.request = null`,
 * Socket.IO's advice; the gateway does not, since it frees nothing while the connection lives). Heap used and RSS of the server after a full collection, per
 * session, over the empty server's, and how many of the requests were collected while their
 * sessions were still connected (dropping one is worth it only if that frees it). The two ways
 * alternate round by round.
 *
 *   npm run build:bench && node --expose-gc dist/bench/upgrade-request.js [sessions] [rounds]
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';

const gc = (globalThis as { gc?: () => void }).gc;

/** About what a desktop browser sends with a WebSocket upgrade (the gateway's clients are pages). */
const BROWSER_HEADERS = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'accept-language': 'en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'cache-control': 'no-cache',
  pragma: 'no-cache',
  origin: 'https://dashboard.example.com',
  cookie: `session=${'x'.repeat(200)}; theme=dark; consent=${'y'.repeat(60)}`,
  'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
};

async function clients(url: string, n: number) {
  const sockets = Array.from({ length: n }, () => io(url, { transports: ['websocket'], reconnection: false, extraHeaders: BROWSER_HEADERS }));
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.once('connect', () => r()))));
  process.send?.('connected');
  process.once('message', () => {
    for (const s of sockets) s.close();
    process.exit(0);
  });
}

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
};

async function round(n: number, drop: boolean) {
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'] });
  let collected = 0;
  const requests = new FinalizationRegistry(() => collected++);
  server.on('connection', (socket) => {
    requests.register(socket.conn.request, null);
    if (drop) (socket.conn as unknown as { request: unknown }).request = null;
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const before = await settle();
  const child = fork(fileURLToPath(import.meta.url), ['--clients', `http://127.0.0.1:${(http.address() as AddressInfo).port}`, String(n)]);
  await new Promise((r) => child.once('message', r));
  const after = await settle();
  child.send('close');
  await new Promise((r) => child.once('exit', r));
  await server.close();
  return { heap: (after.heap - before.heap) / n, rss: (after.rss - before.rss) / n, collected };
}

if (process.argv[2] === '--clients') await clients(process.argv[3], Number(process.argv[4]));
else {
  if (!gc) throw new Error('run with node --expose-gc');
  const n = Number(process.argv[2] ?? 2000);
  const rounds = Number(process.argv[3] ?? 3);
  const kib = (b: number) => (b / 1024).toFixed(2);
  for (let r = 1; r <= rounds; r++) {
    for (const drop of r % 2 ? [false, true] : [true, false]) {
      const m = await round(n, drop);
      process.stdout.write(`round ${r} request ${drop ? 'dropped' : 'kept   '}: ${kib(m.heap)} KiB heap, ${kib(m.rss)} KiB RSS per session; requests collected while connected ${m.collected} of ${n}\n`);
    }
  }
}
