/** `npm run bench` options: the one list of knobs, printed by --help and on docs/BENCHMARKS.md. */
import type { Options } from './scenarios.js';

export const HELP = `npm run bench -- [options]
  --quick                   small and short: a smoke run of every scenario (~1 min)
  --scenarios LIST          comma list of floor,ramp,hold,storm,cleanup,churn,naive (default: all)
  --ramp-rates LIST         session joins per second per ramp step (default 100,250,500,1000)
  --ramp-seconds N          length of each ramp step (default 6)
  --hold-users N            users held connected (default 10000); --hold-tabs N tabs each (default 2)
  --hold-rate N             connects per second while building the hold (default 500)
  --storm-users N           users (x --hold-tabs tabs) of the reconnect storm (default 1000)
  --churn-users N           users of the churn pool (default 2000)
  --churn-rate N            joins and leaves per second, together (default 2000)
  --churn-seconds N         (default 60)
  --cleanup-timeout MS      CLEANUP_TIMEOUT_MS of the stack (default 5000, the contract's default)
  --log-level L             LOG_LEVEL of gateway and presence (default warn)
  --worker-log-level L      LOG_LEVEL of stream-workers (default warn: 10k managers log 10k lines/s)
  --addresses N             127.0.0.x source addresses of the clients (default 4)
  --profile                 run the apps with --cpu-prof; profiles land in bench-profiles/
  --no-write                print only; do not write docs/BENCHMARKS.md and docs/bench-latency.svg
                            (--quick never writes them unless --write is given)
  --processes N             gateways and generator processes (default: enough for the descriptor limit)
  --seed N                  seed of the tab counts (default 1)
  --floor-n N               round trips of each kind in the floor (default 2000)
  --console-interval MS     CONSOLE_LOGGER_INTERVAL_MS of the stack (default 1000)
  --render FILE             run nothing: write docs/BENCHMARKS.md and docs/bench-latency.svg again from
                            a saved report (docs/bench-latest.json), e.g. after a change to the page's text
Environment: BENCH_APP_FLAGS="--trace-gc ..." adds Node flags to the apps (their output lands in bench-logs/);
BENCH_NO_APP_FLAGS=1 runs the apps without the Node flags they start with (libs/config/node-flags.ts).`;

export function parse(argv: string[]) {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=', 2);
    if (v !== undefined) flags.set(k, v);
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) flags.set(k, argv[++i]);
    else flags.set(k, 'true');
  }
  const quick = flags.has('quick');
  const num = (k: string, full: number, q: number) => {
    const raw = flags.get(k);
    const v = raw === undefined ? (quick ? q : full) : Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number, got ${raw}`);
    return v;
  };
  const list = (k: string, full: string, q: string) => (flags.get(k) ?? (quick ? q : full)).split(',').map((s) => s.trim()).filter(Boolean);
  const o: Options = {
    quick,
    scenarios: new Set(list('scenarios', 'floor,ramp,hold,storm,cleanup,churn,naive', 'floor,ramp,hold,storm,cleanup,churn,naive')),
    rampRates: list('ramp-rates', '100,250,500,1000', '50,200').map(Number),
    rampSeconds: num('ramp-seconds', 6, 2),
    holdUsers: num('hold-users', 10_000, 300),
    holdTabs: num('hold-tabs', 2, 2),
    holdRate: num('hold-rate', 500, 300),
    stormUsers: num('storm-users', 1000, 200),
    churnUsers: num('churn-users', 2000, 200),
    churnRate: num('churn-rate', 2000, 200),
    churnSeconds: num('churn-seconds', 60, 5),
    cleanupTimeoutMs: num('cleanup-timeout', 5000, 2000),
    logLevel: flags.get('log-level') ?? 'warn',
    workerLogLevel: flags.get('worker-log-level') ?? 'warn',
    consoleLoggerIntervalMs: num('console-interval', 1000, 1000),
    addresses: num('addresses', 4, 2),
    floorN: num('floor-n', 2000, 300),
    seed: num('seed', 1, 1),
    processes: flags.has('processes') ? num('processes', 1, 1) : undefined,
  };
  return { o, help: flags.has('help'), write: quick ? flags.has('write') : !flags.has('no-write'), profile: flags.has('profile'), render: flags.get('render') };
}
