/** What a /health answer says; 200 only when every check is up and the app is ready. */
export interface HealthReport {
  status: 'ok' | 'unavailable';
  app: string;
  instanceId: string;
  ready: boolean;
  checks: Record<string, 'up' | 'down'>;
}

export function healthReport(app: string, instanceId: string, ready: boolean, checks: Record<string, boolean>): HealthReport {
  const c = Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, v ? 'up' : 'down'])) as Record<string, 'up' | 'down'>;
  const ok = ready && Object.values(checks).every(Boolean);
  return { status: ok ? 'ok' : 'unavailable', app, instanceId, ready, checks: c };
}
