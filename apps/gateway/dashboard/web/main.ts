/*
 * The dashboard page, on the client SDK: sign-in (development) or ?token=, the connection, the
 * user's stream manager with its cleanup countdown, the ConsoleLogger's ticks, and everyone online.
 * Bundled by esbuild (scripts/build-web.ts) into one script: no inline code, so the page runs under
 * a Content-Security-Policy of default-src 'self'.
 */
import { connectPresence, type ConsoleLogEvent, type PresenceClient } from '../../../../packages/client/src/index.js';
import { $, renderConnection, renderCountdown, renderGrace, renderManager, renderPresence, renderSession, renderTicks } from './render.js';

const TOKEN_KEY = 'presence.token';
const USER_KEY = 'presence.userId';
/**
 * The sign-in is the browser's, not the tab's: every tab of this origin shares it (a second tab
 * opens signed in), and switching user in one tab switches them all (see the storage listener).
 */
const store = localStorage;
const USER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** The gateway says whether the development sign-in is on, in the page it serves. */
const DEV_SIGN_IN = document.querySelector('meta[name="presence-dev-sign-in"]')?.getAttribute('content') === 'true';
/** ?idleMs= shortens the idle timer for a demo (1 s to 1 h); otherwise the SDK's default (60 s). */
const IDLE_MS = (() => {
  const v = Number(new URLSearchParams(location.search).get('idleMs'));
  return v >= 1000 && v <= 3_600_000 ? v : undefined;
})();

let client: PresenceClient | null = null;
let ticks: ConsoleLogEvent[] = [];
let mySessionId: string | null = null;

function userIdFromToken(token: string): string {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '==='.slice((part.length + 3) % 4))) as { sub?: unknown };
    return typeof claims.sub === 'string' ? claims.sub : '';
  } catch {
    return '';
  }
}

const me = () => store.getItem(USER_KEY) ?? '';

function showSignIn(error?: string) {
  $('app').hidden = true;
  $('signout').hidden = true;
  $('whoami').textContent = '';
  $('signin').hidden = false;
  $('signin-form').hidden = !DEV_SIGN_IN;
  $('token-hint').hidden = DEV_SIGN_IN;
  $('signin-error').textContent = error ?? '';
  if (DEV_SIGN_IN) $('userid-input').focus();
}

function resetView() {
  ticks = [];
  mySessionId = null;
  renderSession(null);
  renderManager(null);
  renderTicks(ticks);
  renderPresence({}, me(), null);
}

/** `forget`: clear the shared sign-in too (false when another tab already did). */
function signOut(error?: string, forget = true) {
  const c = client;
  client = null;
  if (c) void c.logout();
  if (forget) {
    store.removeItem(TOKEN_KEY);
    store.removeItem(USER_KEY);
  }
  resetView();
  renderConnection('disconnected');
  showSignIn(error);
}

function connect(token: string) {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  $('whoami').textContent = me();
  resetView();
  renderConnection('connecting');
  let c: PresenceClient;
  try {
    c = connectPresence(location.origin, { token, page: location.pathname, idleMs: IDLE_MS });
  } catch (err) {
    signOut(`Sign-in refused: ${(err as Error).message}`);
    return;
  }
  client = c;
  c.on('status', (status, detail) => {
    // A client signed out of already (closing) says nothing more about the connection.
    if (client !== c) return;
    if (status === 'refused' && /unauthori[sz]ed/i.test(detail ?? '')) {
      signOut(`Sign-in refused: ${detail}`);
      renderConnection('refused', detail);
      return;
    }
    renderConnection(status, status === 'connected' || status === 'connecting' ? undefined : detail);
  });
  c.on('session', (s) => {
    mySessionId = s.sessionId;
    renderSession(mySessionId);
    renderPresence(c.users(), me(), mySessionId);
  });
  c.on('manager', (m) => renderManager(m));
  c.on('console', (t) => {
    ticks = [...ticks, t].slice(-10);
    renderTicks(ticks);
  });
  c.on('sync', () => {
    $('presence-error').hidden = true;
    renderPresence(c.users(), me(), mySessionId);
  });
  c.watch().watchConsole();
}

setInterval(() => {
  renderCountdown(client?.manager ?? null);
  renderGrace(client?.grace() ?? {});
}, 100);

// Another tab switched user (or signed out): this one follows, so a browser shows one user.
addEventListener('storage', (ev: StorageEvent) => {
  if (ev.storageArea !== store || (ev.key !== TOKEN_KEY && ev.key !== null)) return;
  const token = store.getItem(TOKEN_KEY);
  if (!token) signOut(undefined, false);
  else if (ev.newValue !== ev.oldValue) {
    client?.close();
    client = null;
    connect(token);
  }
});

$('signout').addEventListener('click', () => signOut());
$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const userId = ($('userid-input') as HTMLInputElement).value.trim();
  if (!USER_ID_RE.test(userId)) {
    $('signin-error').textContent = 'User id must be 1-64 characters: letters, digits, _ or -';
    return;
  }
  $('signin-error').textContent = '';
  fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) })
    .then(async (res) => {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { token?: unknown };
      if (typeof body.token !== 'string') throw new Error('no token in response');
      // The user first: other tabs act on the token's change and read the user then.
      store.setItem(USER_KEY, userId);
      store.setItem(TOKEN_KEY, body.token);
      connect(body.token);
    })
    .catch((err: Error) => {
      $('signin-error').textContent = `Sign-in failed: ${err.message}`;
    });
});

const params = new URLSearchParams(location.search);
const urlToken = params.get('token');
if (urlToken) {
  store.setItem(USER_KEY, userIdFromToken(urlToken));
  store.setItem(TOKEN_KEY, urlToken);
  params.delete('token');
  const qs = params.toString();
  history.replaceState(null, '', location.pathname + (qs ? `?${qs}` : '') + location.hash);
}
const saved = store.getItem(TOKEN_KEY);
if (saved) connect(saved);
else showSignIn();
