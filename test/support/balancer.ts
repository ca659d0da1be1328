import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP load balancer in front of several gateways, as an operator would run one: each new
 * connection goes to the next backend in turn that accepts it (a stopped gateway refuses, and the
 * next is tried). Connections already made stay with their backend until either side ends them.
 */
export class Balancer {
  private server?: Server;
  private next = 0;
  private readonly open = new Set<Socket>();
  port = 0;

  constructor(private backends: number[]) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Which backend ports new connections may go to. */
  setBackends(ports: number[]) {
    this.backends = ports;
  }

  async start() {
    this.server = createServer((client) => {
      this.open.add(client);
      client.on('close', () => this.open.delete(client));
      client.on('error', () => undefined);
      client.pause();
      this.route(client, this.next++, 0);
    });
    await new Promise<void>((res) => this.server!.listen(0, '127.0.0.1', () => res()));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Tries the backends in turn from `first`, each at most once (a shared counter could pick the refusing one again). */
  private route(client: Socket, first: number, tried: number) {
    if (tried >= this.backends.length || client.destroyed) return void client.destroy();
    const port = this.backends[(first + tried) % this.backends.length];
    const upstream = connect(port, '127.0.0.1');
    upstream.once('error', () => this.route(client, first, tried + 1));
    upstream.once('connect', () => {
      upstream.removeAllListeners('error');
      upstream.on('error', () => client.destroy());
      this.open.add(upstream);
      upstream.on('close', () => {
        this.open.delete(upstream);
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  async close() {
    for (const s of this.open) s.destroy();
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
  }
}
