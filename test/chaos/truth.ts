import type { SimTab } from './population.js';

export interface Timings {
  graceMs: number;
  gatewayTtlMs: number;
  workerTtlMs: number;
}

/** When a user had at least one tab connected: merged, sorted periods ([from, to), to = Infinity while connected). */
export function presenceOf(tabs: SimTab[]): Array<{ from: number; to: number }> {
  const all = tabs.flatMap((t) => t.connected.map((c) => ({ from: c.from, to: c.to ?? Infinity }))).sort((a, b) => a.from - b.from);
  const merged: Array<{ from: number; to: number }> = [];
  for (const p of all) {
    const last = merged.at(-1);
    if (last && p.from <= last.to) last.to = Math.max(last.to, p.to);
    else merged.push({ ...p });
  }
  return merged;
}

/** Whether the user had a tab connected at some moment of [from, to]. */
export function presentDuring(periods: Array<{ from: number; to: number }>, from: number, to: number): boolean {
  return periods.some((p) => p.from <= to && p.to > from);
}

/**
 * What the clients' own observations demand of the running managers at time `t`, leaving out the
 * users whose case the clients cannot decide:
 * - mustRun: a tab connected within the last (grace - slack), in an episode of presence (gaps
 *   shorter than the grace) that began at least `settleMs` ago: their manager runs;
 * - mustNotRun: no tab connected for longer than the grace plus GATEWAY_TTL_MS plus slack (a
 *   session on a gateway that died ends only when presence declares the gateway dead): no manager.
 */
export function bandsAt(byUser: Map<string, SimTab[]>, t: number, timings: Timings, settleMs = 1500, slackMs = 1000) {
  const mustRun = new Set<string>();
  const mustNotRun = new Set<string>();
  for (const [user, tabs] of byUser) {
    const periods = presenceOf(tabs).filter((p) => p.from <= t);
    const last = periods.at(-1);
    const lastSeen = !last ? -Infinity : Math.min(last.to, t);
    if (lastSeen < t - (timings.graceMs + timings.gatewayTtlMs + slackMs)) {
      mustNotRun.add(user);
      continue;
    }
    if (!last || lastSeen < t - (timings.graceMs - slackMs)) continue;
    let episodeStart = last.from;
    for (let i = periods.length - 2; i >= 0; i--) {
      if (periods[i + 1].from - periods[i].to >= timings.graceMs - slackMs) break;
      episodeStart = periods[i].from;
    }
    if (episodeStart <= t - settleMs) mustRun.add(user);
  }
  return { mustRun, mustNotRun };
}
