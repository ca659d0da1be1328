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
