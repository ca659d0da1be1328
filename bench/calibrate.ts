import net from 'node:net';

export interface Calibration {
  /** One JSON.stringify + JSON.parse of a session event, µs: the machine's speed at our kind of work. */
  jsonMicros: number;
  /** One ping-pong over loopback TCP inside one process, µs: what each hop's write, wake-up and read costs. */
  loopbackMicros: number;
}

/**
 * The same code has measured twice as slow per join on one 2-core machine as on another (an Intel
 * Xeon at 2 GHz against an AMD EPYC). These two figures, taken before the stack starts, let a
 * reader tell a slower machine from slower code when comparing runs.
 */
export async function calibrate(): Promise<Calibration> {
  return { jsonMicros: jsonRoundTrip(), loopbackMicros: await loopbackPingPong() };
}

export function describeCalibration(c: Calibration): string {
  return `a session event's JSON round trip ${c.jsonMicros.toFixed(2)} µs, a loopback TCP ping-pong ${c.loopbackMicros.toFixed(1)} µs`;
}

function jsonRoundTrip(n = 200_000): number {
  const event = { userId: 'user-000123', sessionId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b', gatewayId: 'gateway-1', page: '/dashboard', at: new Date().toISOString() };
  let sink = 0;
  const run = (k: number) => {
    for (let i = 0; i < k; i++) sink += (JSON.parse(JSON.stringify(event)) as { at: string }).at.length;
  };
  run(n / 10); // warm up the JIT
  const t = performance.now();
  run(n);
  const micros = ((performance.now() - t) * 1000) / n;
  return sink > 0 ? micros : NaN;
}

function loopbackPingPong(n = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.on('data', (d) => s.write(d)));
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const client = net.connect(port, '127.0.0.1');
      client.setNoDelay(true);
      const ping = Buffer.from('ping');
      let left = n + n / 10;
      let t = 0;
      client.on('data', () => {
        if (--left === n) t = performance.now();
        if (left > 0) return void client.write(ping);
        const micros = ((performance.now() - t) * 1000) / n;
        client.destroy();
        server.close(() => resolve(micros));
      });
      client.on('error', reject);
      client.on('connect', () => client.write(ping));
    });
  });
}
