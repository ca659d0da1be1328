/**
 * docs/BENCHMARKS.md as `npm run bench` writes it: what is measured and why, how to reproduce it
 * (the knobs are options.ts's own --help), the latest run's results, and below KEPT what people
 * wrote by hand (the changelog), which every run keeps as it is.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { HELP } from './options.js';

export const KEPT = '<!-- Written by hand: npm run bench rewrites everything above this line and keeps everything below it. -->';

const INTRO = `# Benchmarks

\`npm run bench\` measures the whole stack against a naive single-process version of the same
service, on the same machine and in the same run. This page is written by it (\`bench/page.ts\`,
\`bench/report.ts\`), except the part after the results, which is written by hand and kept.

## What is measured, and why

The stack pays for its guarantees (a crashed process, a second gateway, a restart lose nothing)
with hops: a join crosses the gateway, JetStream, presence and Redis, a stream worker, and NATS
back to the gateway. The bench says what those hops cost, in latency and in CPU, against
\`bench/naive/server.ts\`: one process with Socket.IO, an in-memory \`Map\` and \`setTimeout\` (and a
\`setInterval\` per manager), the same namespace, token and \`manager\` event, which survives none of
those faults. Each naive measurement follows ours at once, so both see the same machine and load:
**the ratios are what to compare between runs and machines**; absolute milliseconds depend on the
machine and on whatever else runs on it.

| scenario | what |
| --- | --- |
| floor | sequential round trips on the bench's own servers (NATS request/reply, a JetStream-acknowledged publish, Redis \`PING\`): what one hop costs at least |
| 1. ramp | users with 1 to 3 tabs (seeded) connect at R sessions per second, open loop. Join-to-running: from a tab starting to connect to its \`manager\` event with state \`running\`; "first tab" is the join that starts the user's manager (the whole pipeline). Per process: CPU from \`/proc\`, also as CPU ms per join (which depends much less on how busy the machine is than latency does), and event-loop lag |
| 2. hold | memory per session (all gateways) and per idle manager: RSS and V8 heap of every process before connecting and once settled; idle CPU |
| 3. churn | sessions join and leave at R per second together: events lost (published on NATS against consumed by presence), spurious stops (a user the gateways saw back within the timeout), extra starts |
| 4. cleanup | every held user leaves at once. Lateness: \`at\` of \`stream.manager.<u>.stopped\` minus (the user's last \`left\` + \`CLEANUP_TIMEOUT_MS\`), never negative; CPU per session closed |
| 5. storm | every tab's transport drops at once and Socket.IO reconnects with its default backoff: time until every tab is back; stops of users back within the timeout (must be 0) |
| naive | the ramp, the hold and the cleanup against the naive process |

The apps run as built (\`node dist/apps/<app>/main.js\`) against a private \`nats-server -js\` and
\`redis-server\` on free ports. The clients are real \`socket.io-client\` instances (websocket
transport, default reconnection) in separate load-generator processes, so they share no event loop
with the apps or the measurements, spread over several \`127.0.0.x\` source addresses.

## How to reproduce

\`\`\`bash
npm ci && npm run bench                                   # everything; rewrites this page, docs/bench-latency.svg and docs/bench-latest.json
npm run bench -- --scenarios floor,ramp,naive --no-write  # the short run: join latency and CPU per join against the naive process (about 3 minutes)
npm run bench -- --quick                                  # every scenario at small sizes, a smoke run; writes nothing unless --write
npm run bench -- --render docs/bench-latest.json          # runs nothing: this page again from the saved figures
\`\`\`

\`nats-server\` and \`redis-server\` must be on the PATH, as for \`npm test\`. The stack runs with
\`CLEANUP_TIMEOUT_MS\` 5000 and \`LOG_LEVEL=warn\` (at \`info\`, ten thousand managers write ten thousand
lines a second and the bench would measure its own pipe); everything else at its default. A process
holds at most its descriptor limit of sockets, so the bench starts as many gateways and generator
processes as its largest scenario needs (per-session memory is summed over them). Every run records
the machine, a calibration taken before the stack starts (a JSON round trip and a loopback
ping-pong) and the load average: on a small or shared machine, repeat a run and compare ratios and
CPU per join, not milliseconds. The full run's hold (20,000 sessions) needs a machine that is
otherwise quiet; the short run above is the one to compare a change by, before and after, with the
same knobs. \`--profile\` writes the apps' CPU profiles to \`bench-profiles/\`; the apps' warnings of the
last run are kept in \`bench-logs/\`; \`BENCH_APP_FLAGS\` adds Node flags to the apps
([CONFIGURATION.md](CONFIGURATION.md#tests-and-the-bench)). Two costs are measured alone, after
\`npm run build:bench\`: \`node dist/bench/follow-cost.js\` (what following and forgetting a user's
lifecycle subjects costs the NATS server) and \`node --expose-gc dist/bench/io-bindings.js\` (heap per
socket of NestJS's message bindings against the gateway's plain listeners), and \`node --expose-gc
dist/bench/upgrade-request.js\` (what dropping Engine.IO's kept upgrade request frees per session).

Every knob (\`npm run bench -- --help\`):

\`\`\`text
${HELP}
\`\`\`
`;

const NO_CHANGELOG = '## Changelog\n\n(none yet)\n';

/** What follows KEPT in an existing page (the marker included), or an empty changelog. */
export function keptPart(old: string | undefined): string {
  const at = old?.indexOf(KEPT) ?? -1;
  return old && at >= 0 ? old.slice(at) : `${KEPT}\n\n${NO_CHANGELOG}`;
}

/** The whole page: the generated part, then the kept part as it was. */
export function benchmarksPage(results: string, old: string | undefined): string {
  return `${INTRO}\n${results.trim()}\n\n${keptPart(old).trimEnd()}\n`;
}

export function writeBenchmarks(path: string, results: string): void {
  writeFileSync(path, benchmarksPage(results, existsSync(path) ? readFileSync(path, 'utf8') : undefined));
}
