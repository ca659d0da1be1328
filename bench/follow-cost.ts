/**
 * What a gateway's follow and forget of one user cost the NATS server: its CPU (from /proc) while a
 * connection subscribes to a user's lifecycle subjects and later drops them, for many users, in the
 * two shapes a gateway could use: three wildcards (`stream.manager.<u>.*`, ...) or the six literal
 * subjects of `lifecycleSubjectsOf`. Traffic over other users' subjects runs between the steps, as
 * it does in a mass leave, so the server's subject cache stays full: that cache is why the shapes
 * differ (a new wildcard interest is tested against every cached subject). The two shapes alternate
 * round by round so that a machine whose speed drifts affects both alike.
 *
 *   npm run build:bench && node dist/bench/follow-cost.js [users] [rounds]
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { AUDIT_STREAM_SUBJECTS, lifecycleSubjectsOf } from '#libs/contracts/index.js';
import { startNatsServer, waitForPort } from '../scripts/services.js';
import { freePort } from '../test/support/harness.js';
import { sample } from './proc.js';
import { percentile } from './stats.js';

const users = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 4);
/** Users followed (or forgotten) between two bursts of other traffic. */
const STEP = 100;
/** Messages of one burst: each to its own subject, like a mass leave's events. */
const BURST = 3000;

const shapes = {
  wildcard: (u: string) => [`stream.manager.${u}.*`, `presence.cleanup.${u}.*`, `presence.user.${u}.*`],
  literal: lifecycleSubjectsOf,
} as const;
type Shape = keyof typeof shapes;

const port = await freePort();
const server = startNatsServer(port);
try {
  if (!(await waitForPort('127.0.0.1', port, 10_000))) throw new Error('nats-server did not start');
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  const traffic = await connect({ servers: `127.0.0.1:${port}` });
  // The stream captures the lifecycle subjects, as on a real deployment.
  await (await jetstreamManager(nc)).streams.add({ name: 'FOLLOW_COST', subjects: AUDIT_STREAM_SUBJECTS });
  let burstNo = 0;
  const burst = async () => {
    burstNo++;
    for (let i = 0; i < BURST; i++) traffic.publish(`presence.session.t${burstNo}x${i}.left`, '{}');
    await traffic.flush();
  };
  const serverCpuMs = () => sample(server.pid!)!.cpuSeconds * 1000;
  /** Server CPU of `step` run users/STEP times, each followed by a burst, less the bursts' own cost. */
  const timed = async (step: (from: number) => void) => {
    const c0 = serverCpuMs();
    for (let from = 0; from < users; from += STEP) {
      step(from);
      await nc.flush();
      await burst();
    }
    return serverCpuMs() - c0;
  };
  const out: Record<Shape, { follow: number[]; forget: number[] }> = {
    wildcard: { follow: [], forget: [] },
    literal: { follow: [], forget: [] },
  };
  /** The same steps with nothing but the bursts: their own cost, to subtract. */
  const burstsOnly: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order: Shape[] = round % 2 === 0 ? ['wildcard', 'literal'] : ['literal', 'wildcard'];
    for (const shape of order) {
      const subs: Array<ReturnType<typeof nc.subscribe>[]> = [];
      out[shape].follow.push(
        await timed((from) => {
          for (let i = from; i < Math.min(users, from + STEP); i++) subs.push(shapes[shape](`r${round}${shape}${i}`).map((s) => nc.subscribe(s)));
        }),
      );
      out[shape].forget.push(
        await timed((from) => {
          for (let i = from; i < Math.min(users, from + STEP); i++) for (const s of subs[i]) s.unsubscribe();
        }),
      );
    }
    burstsOnly.push(await timed(() => {}));
  }
  const bursts = percentile(burstsOnly, 50);
  const perUser = (ms: number[]) => ((percentile(ms, 50) - bursts) * 1000) / users;
  console.log(`nats-server CPU per user, µs (median of ${rounds} rounds of ${users} users, less the other traffic's ${bursts.toFixed(0)} ms)`);
  console.log('| subscriptions | follow (subscribe) | forget (unsubscribe) |');
  console.log('| --- | --- | --- |');
  for (const shape of ['wildcard', 'literal'] as const) {
    console.log(`| ${shape} (${shapes[shape]('u').length} per user) | ${perUser(out[shape].follow).toFixed(0)} | ${perUser(out[shape].forget).toFixed(0)} |`);
  }
  await nc.close();
  await traffic.close();
} finally {
  server.kill();
}
