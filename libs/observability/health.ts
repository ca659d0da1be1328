/** What a /health answer says; 200 only when every check is up and the app is ready. */
export interface HealthReport {
  status: 'ok' | 'unavailable';
  app: string;
  instanceId: string;
  ready: boolean;
  checks: Record<string, 'up' | 'down'>;
  /** Why each check that is down is down, when it can tell. */
  problems?: Record<string, string>;
}

/** A check's result: true (up), false (down), or the reason it is down. */
export type CheckResult = boolean | string;

export function healthReport(app: string, instanceId: string, ready: boolean, checks: Record<string, CheckResult>): HealthReport {
  const c: Record<string, 'up' | 'down'> = {};
  const problems: Record<string, string> = {};
  for (const [name, result] of Object.entries(checks)) {
    c[name] = result === true ? 'up' : 'down';
    if (typeof result === 'string') problems[name] = result;
  }
  const ok = ready && Object.values(c).every((v) => v === 'up');
  return { status: ok ? 'ok' : 'unavailable', app, instanceId, ready, checks: c, ...(Object.keys(problems).length > 0 ? { problems } : {}) };
}
