import type { Floor } from './floor.js';
import type { ChurnReport, CleanupResult, HoldResult, NaiveReport, RampStep, StormReport } from './scenarios.js';
import { fmt, ratio, type Summary } from './stats.js';
import { lineChart } from './svg.js';

export interface RunReport {
  date: string;
  command: string;
  machine: string;
  loadBefore: string;
  loadAfter: string;
  config: string[];
  floor?: Floor;
  ramp: RampStep[];
  hold?: HoldResult;
  storm?: StormReport;
  cleanup?: CleanupResult;
  churn?: ChurnReport;
  naive?: NaiveReport;
  generator: string;
}

const kib = (b: number) => fmt(b / 1024, 1);
const pq = (s: Summary | undefined, d = 1) => (s && s.n ? `${fmt(s.p50, d)} / ${fmt(s.p99, d)}` : '-');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The step at the target's rate, or the nearest one above it. */
function stepAt(steps: RampStep[], rate: number): RampStep | undefined {
  return steps.find((s) => s.rate === rate) ?? [...steps].sort((a, b) => a.rate - b.rate).find((s) => s.rate >= rate);
}

export function targets(r: RunReport): string[][] {
  const rows: string[][] = [];
  const mark = (ok: boolean | undefined) => (ok === undefined ? 'not run' : ok ? 'met' : '**not met**');
  const s500 = stepAt(r.ramp, 500);
  if (s500) {
    rows.push([
      `join-to-running p50 <= 5 ms, p99 <= 25 ms at 500 joins/s`,
      `p50 ${fmt(s500.first.p50)} ms, p99 ${fmt(s500.first.p99)} ms at ${s500.rate}/s (first tab; other tabs ${pq(s500.warm)})`,
      mark(s500.first.p50 <= 5 && s500.first.p99 <= 25 && s500.missing === 0),
    ]);
    const n500 = r.naive?.ramp.find((s) => s.rate === s500.rate);
    if (n500) {
      rows.push([
        'within 2x of the naive process on join-to-running',
        `p50 ${ratio(s500.first.p50, n500.first.p50)}, p99 ${ratio(s500.first.p99, n500.first.p99)} (naive ${pq(n500.first)} ms) at ${s500.rate}/s`,
        mark(s500.first.p50 <= 2 * n500.first.p50 && s500.first.p99 <= 2 * n500.first.p99),
      ]);
    }
  } else rows.push(['join-to-running at 500 joins/s', 'no step at or above 500/s', 'not run']);
  if (r.cleanup) {
    const c = r.cleanup;
    rows.push([
      'cleanup lateness p50 <= 10 ms, p99 <= 100 ms, never negative (10,000 users leaving at once)',
      `p50 ${fmt(c.lateness.p50)} ms, p99 ${fmt(c.lateness.p99)} ms, min ${fmt(c.lateness.min)} ms, ${c.stopped}/${c.users} users`,
      mark(c.lateness.p50 <= 10 && c.lateness.p99 <= 100 && c.negative === 0 && c.stopped === c.users && c.users >= 10_000),
    ]);
  }
  if (r.hold) {
    const h = r.hold;
    rows.push([
      'hold 20,000 sessions of 10,000 users: gateway <= 30 KiB/session, workers <= 5 KiB/idle manager',
      `${h.sessions} sessions, ${h.managers} managers: gateway ${kib(h.gatewayBytesPerSession)} KiB/session, workers ${kib(h.workersBytesPerManager)} KiB/manager (RSS)`,
      mark(h.gatewayBytesPerSession <= 30 * 1024 && h.workersBytesPerManager <= 5 * 1024 && h.sessions >= 20_000 && h.managers >= 10_000),
    ]);
  }
  if (r.churn) {
    const c = r.churn;
    rows.push([
      'churn 2,000 joins+leaves/s for 60 s: 0 lost, 0 spurious restarts',
      `${fmt(c.achievedRate, 0)}/s for ${c.seconds} s: ${c.lost} lost, ${c.spuriousStops} spurious stops, ${c.extraStarts} extra starts`,
      mark(c.lost === 0 && c.consumerPending === 0 && c.spuriousStops === 0 && c.extraStarts === 0 && c.rate >= 2000 && c.seconds >= 60),
    ]);
  }
  if (r.storm) {
    const s = r.storm;
    rows.push([
      'reconnect storm: 0 restarts for users back within the timeout',
      `${s.tabsBack}/${s.tabs} tabs back${s.timeToAllBackMs === null ? '' : ` in ${fmt(s.timeToAllBackMs / 1000, 2)} s`}; ${s.spuriousStops} spurious stops (${s.usersAwayTooLong} users away too long)`,
      mark(s.spuriousStops === 0 && s.tabsBack === s.tabs),
    ]);
  }
  return rows;
}

const STACK = ['gateway', 'presence', 'stream-workers', 'nats-server', 'redis-server'];
const stackCpu = (byApp: Record<string, number> | undefined) => STACK.reduce((t, a) => t + (byApp?.[a] ?? 0), 0);

const vs = (ours: number, naive: number, unit: string, d: number) => `${ratio(ours, naive)} (${fmt(ours, d)} vs ${fmt(naive, d)} ${unit})`;

/** Ours against the naive process: a row per ramp step run against both, then the other figures run against both. */
export function againstNaive(r: RunReport): { ramp: string[][]; other: string[] } {
  const ramp: string[][] = [];
  for (const s of r.ramp) {
    const n = r.naive?.ramp.find((x) => x.rate === s.rate);
    if (n) ramp.push([String(s.rate), vs(s.first.p50, n.first.p50, 'ms', 1), vs(s.first.p99, n.first.p99, 'ms', 1), vs(stackCpu(s.cpuMsPerJoin), n.cpuMsPerJoin.naive, 'ms', 2)]);
  }
  const other: string[] = [];
  const c = r.cleanup;
  const nc = r.naive?.cleanup;
  if (c?.cpuMsPerLeave && nc) other.push(`CPU per session closed, ${c.users} users leaving at once: ${vs(stackCpu(c.cpuMsPerLeave), nc.cpuMsPerLeave, 'ms', 3)}`);
  const h = r.hold;
  const nh = r.naive?.hold;
  if (h && nh) other.push(`Memory per session, RSS (ours: the gateways; naive: the whole process): ${vs(h.gatewayBytesPerSession / 1024, nh.bytesPerSession / 1024, 'KiB', 1)}`);
  return { ramp, other };
}

export function markdown(r: RunReport, svgName: string): string {
  const out: string[] = [];
  out.push(`## Current results: ${r.date}`, '');
  out.push(`Command: \`${r.command}\``, '');
  out.push(`Machine: ${r.machine}. Load before: ${r.loadBefore}; after: ${r.loadAfter}.`, '');
  out.push(`Settings: ${r.config.join('; ')}.`, '');
  out.push(`Load generator: ${r.generator}.`, '');
  const naive = againstNaive(r);
  if (naive.ramp.length || naive.other.length) {
    out.push('### Against the naive process (same run, same machine)', '');
    out.push('Ours divided by the naive process\'s (ours vs naive in brackets), each naive measurement taken right after ours: 1.00x would be as cheap as one process with no guarantees. CPU counts every process of the stack (gateways, presence, stream-workers, nats-server, redis-server), not the load generator. Join-to-running is the first tab\'s, the one that starts the manager.', '');
    if (naive.ramp.length) out.push(table(['joins/s', 'join-to-running p50', 'join-to-running p99', 'CPU per join'], naive.ramp), '');
    if (naive.other.length) out.push(...naive.other.map((l) => `- ${l}`), '');
  }
  out.push('### Targets', '', table(['target', 'measured', ''], targets(r)), '');
  out.push('### Absolute figures (machine-dependent)', '');
  out.push('Milliseconds and bytes on the machine above, under the load recorded with each scenario: compare them only with runs on the same machine.', '');
  if (r.floor) {
    const f = r.floor;
    out.push('#### References: the floor (sequential round trips on the same servers), ms', '');
    out.push(table(['round trip', 'p50', 'p90', 'p99', 'max'], [
      ['NATS request/reply', fmt(f.natsRequest.p50, 3), fmt(f.natsRequest.p90, 3), fmt(f.natsRequest.p99, 3), fmt(f.natsRequest.max, 3)],
      ['JetStream publish (acked, file storage)', fmt(f.jetstreamPublish.p50, 3), fmt(f.jetstreamPublish.p90, 3), fmt(f.jetstreamPublish.p99, 3), fmt(f.jetstreamPublish.max, 3)],
      ['Redis PING', fmt(f.redisPing.p50, 3), fmt(f.redisPing.p90, 3), fmt(f.redisPing.p99, 3), fmt(f.redisPing.max, 3)],
    ]), '');
  }
  if (r.ramp.length) {
    out.push('#### 1. Ramp: join-to-running, ms (p50 / p99)', '');
    out.push('From the client starting to connect to its `manager` event with state `running`. "First tab": the user\'s first tab, whose join starts the manager; "NATS": to `stream.manager.<u>.started` seen on NATS. Event-loop lag p99 and CPU (1.0 = one core) over the step.', '');
    const rows = r.ramp.map((s) => {
      const n = r.naive?.ramp.find((x) => x.rate === s.rate);
      return [
        `${s.rate} (${fmt(s.achievedRate, 0)})`,
        `${s.sessions} / ${s.users}`,
        pq(s.first),
        pq(s.nats),
        pq(s.warm),
        pq(s.connect),
        n ? pq(n.first) : '-',
        n ? `${ratio(s.first.p50, n.first.p50)} / ${ratio(s.first.p99, n.first.p99)}` : '-',
        ['gateway', 'presence', 'stream-workers'].map((a) => fmt(s.lag[a]?.p99, 0)).join(' / '),
        STACK.map((a) => fmt(s.cpu[a], 2)).join(' / '),
        STACK.map((a) => fmt(s.cpuMsPerJoin[a], 2)).join(' / ') +
          ` (Σ ${fmt(stackCpu(s.cpuMsPerJoin), 2)}; naive ${fmt(n?.cpuMsPerJoin.naive, 2)}; clients ${fmt(s.cpuMsPerJoin.loadgen, 2)})`,
        `${s.missing + s.errors}${s.connectedNotRunning ? ` (${s.connectedNotRunning} connected)` : ''}`,
        s.load.replace('loadavg ', ''),
      ];
    });
    out.push(table(['sessions/s (achieved)', 'sessions / users', 'first tab', 'NATS started', 'other tabs', 'socket connect', 'naive first tab', 'ours / naive', 'EL lag p99 gw/pr/wk', 'CPU gw/pr/wk/nats/redis', 'CPU ms per join gw/pr/wk/nats/redis', 'missing', 'loadavg'], rows), '');
    out.push(`![join-to-running latency against load](${svgName})`, '');
    out.push('Where a first tab\'s time goes, ms p50 / p99, as the generator sees the lifecycle events on NATS: connecting until the gateway publishes `presence.session.<u>.joined`; then presence\'s `presence.user.<u>.online` (JetStream, the durable consumer, the Redis script); then the worker\'s `stream.manager.<u>.started` (lease, components); then the `manager` event at the client (gateway).', '');
    out.push(table(['sessions/s', 'start -> joined', 'joined -> online', 'online -> started', 'started -> running at the client'], r.ramp.filter((s) => s.stages).map((s) => [
      String(s.rate), pq(s.stages.toJoined, 2), pq(s.stages.toOnline, 2), pq(s.stages.toStarted, 2), pq(s.stages.toRunning, 2),
    ])), '');
  }
  if (r.hold) {
    const h = r.hold;
    out.push('#### 2. Hold: memory and idle CPU', '');
    out.push(`${h.users} users, ${h.sessions} sessions, ${h.managers} managers. RSS and V8 heap used, before connecting and after (settled). Idle CPU over a quiet window (1.0 = one core). ${h.load}.`, '');
    out.push(table(['process', 'RSS before MiB', 'RSS after MiB', 'heap before MiB', 'heap after MiB', 'V8 heap committed before / after MiB', 'idle CPU'], Object.keys(h.rss).map((n) => [
      n,
      fmt(h.rss[n].before / 2 ** 20),
      fmt(h.rss[n].after / 2 ** 20),
      h.heap[n] ? fmt(h.heap[n].before / 2 ** 20) : '-',
      h.heap[n] ? fmt(h.heap[n].after / 2 ** 20) : '-',
      h.committed?.[n] ? `${fmt(h.committed[n].before / 2 ** 20)} / ${fmt(h.committed[n].after / 2 ** 20)}` : '-',
      fmt(h.idleCpu[n], 3),
    ])), '');
    const nh = r.naive?.hold;
    out.push(table(['per', 'RSS', 'V8 heap', 'naive (RSS)'], [
      ['gateway, per session', `${kib(h.gatewayBytesPerSession)} KiB`, `${kib(h.gatewayHeapPerSession)} KiB`, nh ? `${kib(nh.bytesPerSession)} KiB (whole process, ${nh.sessions} sessions, idle CPU ${fmt(nh.idleCpu, 3)})` : '-'],
      ['stream-workers, per idle manager', `${kib(h.workersBytesPerManager)} KiB`, `${kib(h.workersHeapPerManager)} KiB`, ''],
      ['presence, per user', `${kib(h.presenceBytesPerUser)} KiB`, '', ''],
      ['redis-server, per user', `${kib(h.redisBytesPerUser)} KiB`, '', ''],
    ]), '');
    out.push(`Connecting them took ${fmt(h.open.seconds, 1)} s: first tab ${pq(h.open.first)} ms, other tabs ${pq(h.open.warm)} ms; ${h.open.missing + h.open.errors} tabs without a \`running\` event in time (${h.open.connectedNotRunning} of them connected${h.open.connectedNotRunning ? `; the last state they were sent: ${counts(h.open.notRunningLastState)}` : ''}). Once the stack settled, the connected tabs by the last state they were sent: ${counts(h.open.settledTabs) || 'none'}.`, '');
  }
  if (r.storm) {
    const s = r.storm;
    out.push('#### 5. Reconnect storm', '');
    out.push(`Every tab's transport drops at once; Socket.IO reconnects with its default backoff (1 s, randomisation 0.5). ${s.load}.`, '');
    out.push(table(['tabs / users', 'back', 'reconnect ms p50 / p99', 'time to all back', 'time to all running', 'users away > timeout', 'stops / starts', 'spurious stops'], [[
      `${s.tabs} / ${s.users}`,
      `${s.tabsBack} (${s.tabsRunning} running)`,
      pq(s.back, 0),
      s.timeToAllBackMs === null ? 'not all' : `${fmt(s.timeToAllBackMs / 1000, 2)} s`,
      s.timeToAllRunningMs === null ? 'not all' : `${fmt(s.timeToAllRunningMs / 1000, 2)} s`,
      String(s.usersAwayTooLong),
      `${s.stops} / ${s.starts}`,
      String(s.spuriousStops),
    ]]), '');
    if (s.notBack.length) out.push(`Tabs not back: ${s.notBack.join('; ')}.`, '');
    if (s.stuckLogs.length) out.push('Users with a tab back but not `running` again (their tabs\' events and the NATS events, ms from the drop):', '', ...s.stuckLogs.map((l) => `- ${l}`), '');
  }
  if (r.cleanup) {
    const c = r.cleanup;
    const nc = r.naive?.cleanup;
    if (nc) out.push(`The naive process's own cleanup lateness (its setTimeout against its own clock) is over ${nc.users} users.`, '');
    out.push('#### 4. Cleanup precision', '');
    out.push(`Every held user leaves at once. Lateness = \`at\` of \`stream.manager.<u>.stopped\` minus (\`at\` of the user's last \`presence.session.<u>.left\` + CLEANUP_TIMEOUT_MS). The leaves themselves (their \`at\`, stamped by the gateways) spread over ${fmt(c.spreadOfLeavesMs, 0)} ms; ${c.repeatedLeaves ?? 0} of them were published more than once (a repeat of a publish whose JetStream ack came late; timed at its first copy). Event-loop lag p99 gw/pr/wk ${['gateway', 'presence', 'stream-workers'].map((a) => fmt(c.lag[a]?.p99, 0)).join(' / ')} ms; CPU gw/pr/wk/nats/redis ${STACK.map((a) => fmt(c.cpu[a], 2)).join(' / ')}. ${c.load}.`, '');
    out.push(table(['users', 'stopped', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'min ms', 'negative', 'naive p50 / p99 ms'], [[
      String(c.users), String(c.stopped), fmt(c.lateness.p50), fmt(c.lateness.p90), fmt(c.lateness.p99), fmt(c.lateness.max), fmt(c.lateness.min), String(c.negative), nc ? pq(nc.lateness) : '-',
    ]]), '');
    if (c.cpuMsPerLeave) {
      out.push(
        `CPU ms per session closed, from the first close to the last stop (so each user's cleanup is in it), gw/pr/wk/nats/redis: ${STACK.map((a) => fmt(c.cpuMsPerLeave[a], 3)).join(' / ')} (Σ ${fmt(stackCpu(c.cpuMsPerLeave), 3)}; naive ${fmt(nc?.cpuMsPerLeave, 3)}; clients ${fmt(c.cpuMsPerLeave.loadgen, 3)}).`,
        '',
      );
    }
    if (c.stages) {
      out.push('Where the lateness comes from, ms p50 / p99 per user: the last leave from its `at` (gateway) to the bench seeing it on NATS; from there to `presence.cleanup.<u>.scheduled` (presence applied it); from the cleanup\'s `runAt` to `presence.user.<u>.offline` (`at`); from offline to `stream.manager.<u>.stopped` (`at`).', '');
      out.push(table(['left published', 'left -> scheduled', 'runAt -> offline', 'offline -> stopped'], [[pq(c.stages.leftPublished, 0), pq(c.stages.scheduled, 0), pq(c.stages.offlineAfterRunAt, 0), pq(c.stages.stoppedAfterOffline, 0)]]), '');
      const ms = ([a, b]: [number, number]) => `${fmt(a * 1000, 0)} / ${fmt(b * 1000, 0)}`;
      const pl = c.presenceLeft;
      if (pl) {
        out.push(`Inside presence, per \`left\` (its \`nats_event_wait_seconds\` and \`nats_event_handle_seconds\` histograms, bucketed): waiting for its turn (its user's earlier events, a free slot) ${ms(pl.wait)} ms, in its handler ${ms(pl.handle)} ms (p50 / p99).`, '');
      }
      const wo = c.workersOffline;
      if (wo) out.push(`Inside the workers, per \`offline\` (the same histograms): waiting for its turn (its user's earlier events, a free slot) ${ms(wo.wait)} ms, in its handler (lease check, stop, lease release) ${ms(wo.handle)} ms.`, '');
      const b = c.barrier;
      if (b) {
        out.push(`A due cleanup first waits until presence has applied the user's events stored before it (\`presence_cleanup_barrier_wait_seconds\`): ${ms(b.wait)} ms p50 / p99; ${b.timeouts} gave up waiting.`, '');
      }
    }
    const sat = c.saturation;
    if (sat) out.push(`The whole machine (every process on it, the load generator included) had no idle core for ${fmt(sat.saturatedS, 1)} s of the ${fmt(sat.windowS, 1)} s from the first close to the last stop, the last time ${fmt(sat.lastSaturatedS, 1)} s after the first close (each cleanup comes due CLEANUP_TIMEOUT_MS after its user's last leave).`, '');
    if (c.earlyStops.length) out.push('Early stops (event, its `at` and when the bench saw it, ms from the start of the scenario):', '', ...c.earlyStops.map((e) => `- ${e}`), '');
  }
  if (r.churn) {
    const c = r.churn;
    out.push('#### 3. Churn', '');
    out.push(`${c.users} users; sessions join and leave at ${c.rate}/s together (half each) for ${c.seconds} s (achieved ${fmt(c.achievedRate, 0)}/s; ${c.skippedLeaves} leaves skipped because every tab tried was still connecting). A user whose last tab closed comes back with the next join. A stop is spurious when the gateways saw the user back in time: from the last \`left\` before the stop to the next \`joined\`, shorter than the timeout; ${c.usersAwayTooLong} users were away longer (their connection took that long), so their stops are due. ${c.load}.`, '');
    out.push(`Presence's durable consumer at the end: ${c.consumerPending} pending, ${c.consumerAckPending} unacknowledged; ${c.redeliveries} redeliveries (acks later than ack_wait: applied twice, harmlessly).`, '');
    out.push(table(['joins / leaves', 'published joined / left (NATS)', 'consumed by presence', 'lost', 'join-to-running p50 / p99', 'returning user p50 / p99', 'returns', 'longest absence', 'stops / starts', 'spurious stops / extra starts', 'EL lag p99 gw/pr/wk', 'CPU gw/pr/wk/nats/redis'], [[
      `${c.joins} / ${c.leaves}`,
      `${c.publishedJoined} / ${c.publishedLeft}`,
      `${c.consumedJoined} / ${c.consumedLeft}`,
      String(c.lost),
      pq(c.join),
      pq(c.returning),
      String(c.returns),
      `${fmt(c.maxGapMs, 0)} ms`,
      `${c.stops} / ${c.starts}`,
      `${c.spuriousStops} / ${c.extraStarts}`,
      ['gateway', 'presence', 'stream-workers'].map((a) => fmt(c.lag[a]?.p99, 0)).join(' / '),
      STACK.map((a) => fmt(c.cpu[a], 2)).join(' / '),
    ]]), '');
    if (c.spuriousLogs.length) out.push('Spurious stops, what the generator saw (ms from the start of the churn):', '', ...c.spuriousLogs.map((l) => `- ${l.length > 700 ? `${l.slice(0, 700)} ...` : l}`), '');
  }
  return out.join('\n');
}

export function chart(r: RunReport): string {
  const pts = (steps: RampStep[] | undefined, pick: (s: RampStep) => number) => (steps ?? []).map((s) => [s.rate, pick(s)] as [number, number]);
  return lineChart({
    title: 'Join-to-running latency against load',
    xLabel: 'session joins per second',
    yLabel: 'ms (log scale)',
    logY: true,
    series: [
      { name: 'ours p50', color: '#1f77b4', points: pts(r.ramp, (s) => s.first.p50) },
      { name: 'ours p99', color: '#1f77b4', dashed: true, points: pts(r.ramp, (s) => s.first.p99) },
      { name: 'naive p50', color: '#2ca02c', points: pts(r.naive?.ramp, (s) => s.first.p50) },
      { name: 'naive p99', color: '#2ca02c', dashed: true, points: pts(r.naive?.ramp, (s) => s.first.p99) },
      { name: 'NATS started p50', color: '#ff7f0e', points: pts(r.ramp, (s) => s.nats.p50) },
    ],
    marks: [
      { y: 5, label: 'target p50 5 ms', color: '#888' },
      { y: 25, label: 'target p99 25 ms', color: '#d62728' },
    ],
  });
}

/** `running 18368, starting 1632` */
function counts(byKey: Record<string, number>): string {
  return Object.entries(byKey).map(([k, n]) => `${k} ${n}`).join(', ');
}
