import type { Seen } from '../support/harness.js';
import type { SimTab } from './population.js';
import { presenceOf, presentDuring } from './truth.js';

export interface Violation {
  invariant: string;
  user?: string;
  detail: string;
}

const ticksOf = (seen: Seen[], user: string) => seen.filter((s) => s.subject === `stream.console.${user}.tick`);

/** The events about one user, in the order they were seen. */
export function eventsOf(seen: Seen[], user: string): Seen[] {
  return seen.filter((s) => s.subject.split('.')[2] === user && !s.subject.startsWith('stream.console.'));
}

/**
 * Never two managers for one user at once, by their fencing tokens: the generations of a user's
 * `started` events only grow, and once a tick of a newer generation was seen, no tick of an
 * older one follows (a stale holder that kept ticking beside the new one).
 */
export function checkSingleManager(seen: Seen[], users: string[]): Violation[] {
  const out: Violation[] = [];
  for (const user of users) {
    let lastStart = -1;
    for (const s of seen.filter((e) => e.subject === `stream.manager.${user}.started`)) {
      const g = Number(s.data.generation);
      if (!(g > lastStart)) out.push({ invariant: 'single manager (events)', user, detail: `started generation ${g} after ${lastStart}` });
      lastStart = Math.max(lastStart, g);
    }
    let newest = -1;
    for (const t of ticksOf(seen, user)) {
      const g = Number(t.data.generation);
      if (g < newest) out.push({ invariant: 'single manager (ticks)', user, detail: `tick #${String(t.data.n)} of generation ${g} (worker ${String(t.data.workerId)}) after one of ${newest}` });
      newest = Math.max(newest, g);
    }
  }
  return out;
}

/**
 * No manager stops before its user's last leave plus the grace: a stop because the user went
 * offline comes only after a whole grace with no tab of the user connected (by the clients' own
 * observations; `toleranceMs` for the time a message takes).
 */
export function checkNoEarlyStop(seen: Seen[], byUser: Map<string, SimTab[]>, graceMs: number, toleranceMs = 300): Violation[] {
  const out: Violation[] = [];
  for (const [user, tabs] of byUser) {
    const periods = presenceOf(tabs);
    for (const s of seen.filter((e) => e.subject === `stream.manager.${user}.stopped`)) {
      if (!['offline', 'reconcile', 'admin'].includes(String(s.data.reason))) continue;
      if (presentDuring(periods, s.receivedAt - graceMs + toleranceMs, s.receivedAt - toleranceMs)) {
        out.push({ invariant: 'no early stop', user, detail: `stopped (${String(s.data.reason)}) at ${new Date(s.receivedAt).toISOString()} with a tab connected within the grace before` });
      }
    }
  }
  return out;
}

/** A user's story for a failure report: their events and what their tabs lived through. */
export function historyOf(seen: Seen[], user: string, tabs: SimTab[]): string {
  const t0 = seen[0]?.receivedAt ?? 0;
  const lines = eventsOf(seen, user).map((e) => `  +${e.receivedAt - t0} ms ${e.subject} ${JSON.stringify(e.data)}`);
  for (const [i, t] of tabs.entries()) {
    const periods = t.connected.map((c) => `[+${c.from - t0}, ${c.to === undefined ? 'now' : `+${c.to - t0}`})`).join(' ');
    lines.push(`  tab ${i}: connected ${periods || 'never'}${t.closedAt ? `, closed at +${t.closedAt - t0}` : ''}; sessions ${t.sessions.join(', ')}`);
  }
  return lines.join('\n');
}
