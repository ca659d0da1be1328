import type { ConnectionStatus, ConsoleLogEvent, ManagerStateEvent, PresenceMap } from '../../../../packages/client/src/index.js';

/** The page's elements by id; a missing one is a bug in index.html, said at once. */
export function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: #${id} missing from the page`);
  return el;
}

function el(tag: string, className: string, text: string): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  e.textContent = text;
  return e;
}

export function renderConnection(status: ConnectionStatus | 'disconnected', detail?: string) {
  document.body.dataset.connection = status;
  const badge = $('connection');
  badge.className = `badge ${status}`;
  badge.textContent = detail ? `${status}: ${detail}` : status;
}

export function renderSession(sessionId: string | null) {
  document.body.dataset.session = sessionId ?? '';
  $('session-id').textContent = sessionId ?? '-';
}

export function renderManager(manager: ManagerStateEvent | null) {
  const state = manager ? manager.state : 'unknown';
  document.body.dataset.manager = state;
  const badge = $('manager-state');
  badge.className = `badge ${state}`;
  badge.textContent = state;
  $('manager-worker').textContent = manager?.workerId ?? '-';
  renderCountdown(manager);
}

/** `stopping` with its cleanup time: seconds left, to a tenth. */
export function renderCountdown(manager: ManagerStateEvent | null, now = Date.now()) {
  const at = manager?.cleanupAt === undefined ? NaN : Date.parse(manager.cleanupAt);
  const active = manager?.state === 'stopping' && !Number.isNaN(at);
  $('countdown-row').hidden = !active;
  $('countdown').textContent = active ? `${(Math.max(0, at - now) / 1000).toFixed(1)} s` : '';
}

export function renderTicks(ticks: ConsoleLogEvent[]) {
  const box = $('console-log');
  box.textContent = '';
  const last = ticks.at(-1)?.n ?? null;
  box.dataset.lastTick = last === null ? '' : String(last);
  $('last-tick').textContent = last === null ? '-' : String(last);
  if (ticks.length === 0) {
    box.appendChild(el('li', 'empty', 'No ticks yet'));
    return;
  }
  for (const t of ticks) {
    const li = el('li', '', `Console log #${t.n} - ${t.at}`);
    li.dataset.n = String(t.n);
    li.dataset.userId = t.userId;
    box.appendChild(li);
  }
}

/** Users in their grace period, soonest first, each with the seconds until their manager stops. */
export function renderGrace(graces: Record<string, string>, now = Date.now()) {
  const ids = Object.keys(graces)
    .filter((u) => Date.parse(graces[u]) > now - 1000)
    .sort((a, b) => Date.parse(graces[a]) - Date.parse(graces[b]));
  $('grace').hidden = ids.length === 0;
  const list = $('grace-list');
  list.textContent = '';
  for (const uid of ids) {
    const li = el('li', '', '');
    li.dataset.userId = uid;
    li.appendChild(el('span', 'uid', uid));
    li.appendChild(el('span', 'countdown', `${(Math.max(0, Date.parse(graces[uid]) - now) / 1000).toFixed(1)} s`));
    list.appendChild(li);
  }
}

/** Everyone online: this user first, then by id; each tab a pill with its status, this tab outlined. */
export function renderPresence(users: PresenceMap, me: string, mySessionId: string | null) {
  const ids = Object.keys(users)
    .filter((u) => users[u].metas.length > 0)
    .sort((a, b) => (a === me ? -1 : b === me ? 1 : a < b ? -1 : a > b ? 1 : 0));
  $('online-count').textContent = String(ids.length);
  const list = $('online-list');
  list.textContent = '';
  if (ids.length === 0) {
    list.appendChild(el('li', 'muted', 'Nobody online'));
    return;
  }
  for (const uid of ids) {
    const metas = users[uid].metas;
    const li = el('li', uid === me ? 'me' : '', '');
    li.dataset.userId = uid;
    li.dataset.tabs = String(metas.length);
    li.appendChild(el('span', 'uid', uid + (uid === me ? ' (you)' : '')));
    li.appendChild(el('span', 'tabs', `${metas.length} ${metas.length === 1 ? 'tab' : 'tabs'}`));
    const pills = el('span', 'sessions', '');
    for (const m of metas) {
      const mine = m.sessionId === mySessionId;
      const p = el('span', `pill ${m.status}${mine ? ' mine' : ''}`, m.status + (mine ? ' (this tab)' : ''));
      p.dataset.sessionId = m.sessionId;
      p.dataset.status = m.status;
      if (mine) p.dataset.mine = 'true';
      p.title = [m.page, m.gatewayId, m.sessionId].filter(Boolean).join(' | ');
      pills.appendChild(p);
    }
    li.appendChild(pills);
    list.appendChild(li);
  }
}
