/**
 * `npm run bench`: starts its own stack (private nats-server -js and redis-server, the three built
 * apps), drives it with real Socket.IO clients from a separate load generator process, measures
 * the references (the floor and the naive process), prints a table and writes docs/BENCHMARKS.md
 * and docs/bench-latency.svg. Options: `npm run bench -- --help`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { ROOT, TEST_SECRET } from '../test/support/harness.js';
import { measureFloor } from './floor.js';
import { GeneratorPool } from './generator.js';
import { machineLoad } from './proc.js';
import { calibrate, describeCalibration } from './calibrate.js';
import { HELP, parse } from './options.js';
import { writeBenchmarks } from './page.js';
import { chart, markdown, targets, type RunReport } from './report.js';
import * as sc from './scenarios.js';
import { BenchStack, NaiveProcess } from './stack.js';

/** 20k sockets on each side of the connection need more descriptors than the usual 1024 (or 20000). */
function raiseFileLimit(want: number): string {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`]);
  if (r.status === 0) return `file descriptors raised to ${want} (prlimit)`;
  const soft = spawnSync('sh', ['-c', 'ulimit -n']).stdout?.toString().trim();
  return `could not raise file descriptors (${r.stderr?.toString().trim() || 'prlimit missing'}); soft limit ${soft}`;
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args).toString().trim().split('\n')[0];
  } catch {
    return `${cmd}: unknown`;
  }
}

const log = (s: string) => process.stdout.write(`[bench] ${s}\n`);

async function main() {
  const { o, help, write, profile, render } = parse(process.argv.slice(2));
  if (help) return void process.stdout.write(`${HELP}\n`);
  if (render) return writePage(JSON.parse(readFileSync(render, 'utf8')) as RunReport, false);
  const fdNote = raiseFileLimit(200_000);
  log(fdNote);
  // Before anything else runs: a quiet machine's own speed, so runs on different machines compare.
  const cal = await calibrate();
  log(`calibration: ${describeCalibration(cal)}`);
  const report: RunReport = {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${version('nats-server', ['--version'])}, ${version('redis-server', ['--version']).replace(/ sha=.*$/, '')}; calibration (quiet machine, before the stack starts): ${describeCalibration(cal)}`,
    loadBefore: machineLoad(),
    loadAfter: '',
    config: [],
    ramp: [],
    generator: '',
  };
  // One process holds at most its descriptor limit of sockets: spread the clients over enough
  // generator processes and the sessions over enough gateways.
  const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n']).stdout?.toString().trim()) || 1024;
  const mostSockets = Math.max(o.scenarios.has('hold') || o.scenarios.has('cleanup') ? o.holdUsers * o.holdTabs : 0, o.stormUsers * o.holdTabs, o.churnUsers * 3, ...o.rampRates.map((r) => r * o.rampSeconds));
  const procs = o.processes ?? Math.max(1, Math.ceil(mostSockets / Math.max(1000, fdLimit - 2000)));
  const addresses = Array.from({ length: o.addresses }, (_, i) => `127.0.0.${i + 1}`);
  const stack = new BenchStack({
    cleanupTimeoutMs: o.cleanupTimeoutMs,
    logLevel: o.logLevel,
    workerLogLevel: o.workerLogLevel,
    consoleLoggerIntervalMs: o.consoleLoggerIntervalMs,
    gateways: procs,
    appFlags: process.env.BENCH_NO_APP_FLAGS !== '1',
    execArgv: [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench-profiles')}`] : []), ...(process.env.BENCH_APP_FLAGS?.split(' ').filter(Boolean) ?? [])],
  });
  report.config = [
    `CLEANUP_TIMEOUT_MS=${o.cleanupTimeoutMs}`,
    `CONSOLE_LOGGER_INTERVAL_MS=${o.consoleLoggerIntervalMs}`,
    `LOG_LEVEL=${o.logLevel} (gateway, presence), ${o.workerLogLevel} (stream-workers: at info, every manager writes a line per interval)`,
    'other variables at their defaults (GATEWAY_TTL_MS, WORKER_TTL_MS 15000; Socket.IO ping 10 s)',
    fdNote,
  ];
  report.generator = `${procs} separate Node process(es) of socket.io-client 4.8 clients (websocket transport, default reconnection), source addresses ${addresses.join(', ')}; ${procs} gateway process(es), one generator process per gateway (descriptor limit ${fdLimit} per process)`;
  const random = sc.rng(o.seed);
  let gen: GeneratorPool | undefined;
  let np: NaiveProcess | undefined;
  let stopNaiveGen: (() => Promise<void> | undefined) | undefined;
  const stopAll = async () => {
    await gen?.exit().catch(() => undefined);
    await stopNaiveGen?.()?.catch(() => undefined);
    await np?.stop().catch(() => undefined);
    await stack.stop(profile).catch(() => undefined);
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  // A promise that can never settle would otherwise end the run silently, with code 0.
  process.once('beforeExit', () => {
    process.stderr.write('[bench] stopped early: the event loop ran empty while waiting\n');
    process.exitCode = 1;
  });
  try {
    log('starting nats-server, redis-server and the three apps');
    await stack.start();
    gen = new GeneratorPool(procs);
    await gen.init({ urls: stack.gatewayUrls, secret: TEST_SECRET, natsUrl: stack.backends.natsUrl, localAddresses: addresses });
    const probe = new sc.Probe(stack, Object.fromEntries(gen.pids.map((pid, i) => [`loadgen-${i + 1}`, pid])));
    // The naive process runs beside the (idle) stack, and each of its measurements follows ours at
    // once: on a shared machine, the two then see the same load.
    let naiveGen: GeneratorPool | undefined;
    const naiveRandom = sc.rng(o.seed);
    if (o.scenarios.has('naive')) {
      np = new NaiveProcess({ AUTH_JWT_SECRET: TEST_SECRET, CLEANUP_TIMEOUT_MS: String(o.cleanupTimeoutMs), CONSOLE_LOGGER_INTERVAL_MS: String(o.consoleLoggerIntervalMs), LOG_LEVEL: o.workerLogLevel });
      await np.start();
      naiveGen = new GeneratorPool(procs);
      await naiveGen.init({ urls: [np.url], secret: TEST_SECRET, localAddresses: addresses });
      report.naive = { ramp: [] };
      stopNaiveGen = () => naiveGen?.exit();
    }
    if (o.scenarios.has('floor')) {
      log('floor: NATS request/reply, JetStream publish, Redis PING');
      report.floor = await measureFloor(stack.backends.natsUrl, stack.backends.redisUrl, o.floorN);
    }
    // Hold first: its memory deltas are measured on a fresh stack, before earlier scenarios grew the heaps.
    const needHold = ['hold', 'cleanup'].some((s) => o.scenarios.has(s));
    if (needHold) {
      log(`hold: ${o.holdUsers} users x ${o.holdTabs} tabs at ${o.holdRate}/s`);
      const h = await sc.hold(stack, gen, o);
      if (o.scenarios.has('hold')) report.hold = h.report;
      log(`  ${h.report.sessions} sessions, ${h.report.managers} managers: gateway ${(h.report.gatewayBytesPerSession / 1024).toFixed(1)} KiB/session, workers ${(h.report.workersBytesPerManager / 1024).toFixed(1)} KiB/manager`);
      if (o.scenarios.has('cleanup')) {
        log(`cleanup: ${o.holdUsers} users leave at once`);
        report.cleanup = await sc.cleanup(stack, gen, probe, o, h.userIds);
        log(`  lateness p50 ${report.cleanup.lateness.p50} p99 ${report.cleanup.lateness.p99} ms (${report.cleanup.stopped}/${report.cleanup.users})`);
      } else await gen.close();
      await stack.quiesce(o.cleanupTimeoutMs + 120_000).catch((e: Error) => log(`warning: ${e.message}`));
      if (np && naiveGen && report.naive) {
        log('naive: hold and cleanup');
        try {
          Object.assign(report.naive, await sc.naiveHold(np, naiveGen, o, fdLimit - 2000));
        } catch (err) {
          log(`naive hold failed: ${(err as Error).message}`);
        }
      }
    }
    if (o.scenarios.has('ramp')) {
      for (const rate of o.rampRates) {
        log(`ramp: ${rate} sessions/s for ${o.rampSeconds} s`);
        const step = await sc.rampStep(stack, gen, probe, o, rate, `ramp${rate}-`, random);
        report.ramp.push(step);
        log(`  first tab p50 ${step.first.p50.toFixed(1)} p99 ${step.first.p99.toFixed(1)} ms; missing ${step.missing + step.errors} ${step.errorSamples.join(', ')}`);
        if (np && naiveGen && report.naive) {
          const n = await sc.naiveRampStep(np, naiveGen, o, rate, naiveRandom);
          report.naive.ramp.push(n);
          log(`  naive: first tab p50 ${n.first.p50.toFixed(1)} p99 ${n.first.p99.toFixed(1)} ms`);
        }
      }
    }
    if (o.scenarios.has('storm')) {
      log(`storm: ${o.stormUsers} users x ${o.holdTabs} tabs drop and reconnect`);
      report.storm = await sc.storm(stack, gen, o);
      log(`  ${report.storm.tabsBack}/${report.storm.tabs} back (all in ${report.storm.timeToAllBackMs ?? '-'} ms), ${report.storm.spuriousStops} spurious stops ${report.storm.notBack.join('; ')}`);
      for (const l of report.storm.stuckLogs) log(`  stuck: ${l}`);
    }
    if (o.scenarios.has('churn')) {
      log(`churn: ${o.churnUsers} users, ${o.churnRate} joins+leaves/s for ${o.churnSeconds} s`);
      report.churn = await sc.churn(stack, gen, probe, o, random);
      log(`  ${report.churn.lost} lost, ${report.churn.spuriousStops} spurious stops, join p99 ${report.churn.join.p99.toFixed(1)} ms`);
    }
    await gen.exit();
    gen = undefined;
    await stack.stop(profile);
    await naiveGen?.exit();
    await np?.stop();
  } finally {
    await stopAll();
  }
  report.loadAfter = machineLoad();
  const rows = targets(report);
  process.stdout.write(`\n${markdown(report, 'bench-latency.svg')}\n`);
  process.stdout.write(`\n${rows.map((r) => `${r[2].replace(/\*/g, '').padEnd(8)} ${r[0]}: ${r[1]}`).join('\n')}\n`);
  if (write) writePage(report, true);
}

/** docs/BENCHMARKS.md and its chart from a report; with `json`, the report itself beside them. */
function writePage(report: RunReport, json: boolean) {
  writeBenchmarks(join(ROOT, 'docs', 'BENCHMARKS.md'), markdown(report, 'bench-latency.svg'));
  writeFileSync(join(ROOT, 'docs', 'bench-latency.svg'), chart(report));
  if (json) writeFileSync(join(ROOT, 'docs', 'bench-latest.json'), `${JSON.stringify(report, null, 1)}\n`);
  log(`wrote docs/BENCHMARKS.md and docs/bench-latency.svg${json ? ' and docs/bench-latest.json' : ''}`);
}

// stdout is asynchronous when it is a pipe: exit only once everything written has been flushed.
const flushThenExit = (code: number) => process.stdout.write('', () => process.exit(code));

main().then(
  () => flushThenExit(0),
  (err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    flushThenExit(1);
  },
);
