import { describe, expect, it } from '@jest/globals';
import { parseCpuLine, parseStat } from './proc.js';

describe('bench/proc', () => {
  it('reads busy and total jiffies from /proc/stat, idle and iowait counted as idle', () => {
    expect(parseCpuLine('cpu  100 5 50 800 40 3 2 0 0 0')).toEqual({ busy: 160, total: 1000 });
  });

  it('reads utime and stime of /proc/<pid>/stat, even with spaces and parentheses in the name', () => {
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 1234 567 0 0 20 0 11 0 100 1000 200';
    expect(parseStat(stat)).toEqual({ utime: 1234, stime: 567 });
  });
});
