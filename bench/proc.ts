import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** CPU and memory of a process, read from /proc (Linux). */
export interface ProcSample {
  /** user + system CPU time, seconds */
  cpuSeconds: number;
  rssBytes: number;
  at: number;
}

let ticks = 0;
function clockTicks(): number {
  if (!ticks) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The fields after the `(comm)` of /proc/<pid>/stat: utime is the 14th field, stime the 15th. */
export function parseStat(stat: string): { utime: number; stime: number } {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3].
  return { utime: Number(rest[11]), stime: Number(rest[12]) };
}

export function sample(pid: number): ProcSample | null {
  try {
    const { utime, stime } = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: (utime + stime) / clockTicks(), rssBytes: rssKb * 1024, at: performance.now() };
  } catch {
    return null;
  }
}

/** CPU share (1.0 = one core) between two samples. */
export function cpuShare(a: ProcSample, b: ProcSample): number {
  const wall = (b.at - a.at) / 1000;
  return wall > 0 ? (b.cpuSeconds - a.cpuSeconds) / wall : NaN;
}

/** /proc/loadavg and the number of cores, for the report. */
export function machineLoad(): string {
  try {
    const [l1, l5, l15] = readFileSync('/proc/loadavg', 'utf8').split(' ');
    return `loadavg ${l1} ${l5} ${l15}`;
  } catch {
    return 'loadavg unknown';
  }
}

/** Busy fraction of all cores between two readings of /proc/stat's first line. */
export function parseCpuLine(line: string): { busy: number; total: number } {
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: idle and iowait are the idle time.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

export interface SaturationReport {
  /** Seconds sampled. */
  windowS: number;
  /** Seconds in which every core was busy (at least 95 % of the machine). */
  saturatedS: number;
  /** Seconds from the start to the end of the last saturated sample. */
  lastSaturatedS: number;
}

/**
 * Samples the whole machine every 100 ms: how long every core was busy. A latency figure taken
 * while the machine had no idle core measures the machine as much as the code.
 */
export class SaturationSampler {
  private timer?: NodeJS.Timeout;
  private prev?: { busy: number; total: number };
  private t0 = 0;
  private prevAt = 0;
  private saturated = 0;
  private lastSaturated = 0;

  start() {
    this.t0 = this.prevAt = performance.now();
    this.prev = this.read();
    this.timer = setInterval(() => this.tick(), 100);
    return this;
  }

  private read() {
    try {
      return parseCpuLine(readFileSync('/proc/stat', 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  }

  private tick() {
    const cur = this.read();
    if (!cur || !this.prev) return;
    const dt = cur.total - this.prev.total;
    const share = dt > 0 ? (cur.busy - this.prev.busy) / dt : 0;
    const now = performance.now();
    // A loaded machine delays this timer too: count the time that really passed.
    if (share >= 0.95) {
      this.saturated += (now - this.prevAt) / 1000;
      this.lastSaturated = (now - this.t0) / 1000;
    }
    this.prev = cur;
    this.prevAt = now;
  }

  stop(): SaturationReport {
    clearInterval(this.timer);
    return { windowS: (this.prevAt - this.t0) / 1000, saturatedS: this.saturated, lastSaturatedS: this.lastSaturated };
  }
}
