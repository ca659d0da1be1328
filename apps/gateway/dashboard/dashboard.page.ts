/**
 * Self-contained presence dashboard served by the gateway at /dashboard (and every path under it).
 * Inline CSS + vanilla JS; the Socket.IO client comes from the same server.
 * The client script deliberately avoids backticks and "${" so it can live inside this template literal.
 */
export function dashboardPage(opts: { devSignIn: boolean }): string {
  const devSignIn = opts.devSignIn === true ? 'true' : 'false';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Presence dashboard</title>
<style>
  :root { --bg:#f4f6fa; --card:#fff; --text:#1d2433; --muted:#6b7385; --line:#e3e7ef; --accent:#3b6df0;
    --green:#1f9d55; --amber:#c98a04; --red:#d64545; --grey:#8a92a3; --blue:#3b6df0; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:12px; padding:14px 28px; background:var(--card); border-bottom:1px solid var(--line); }
  header h1 { font-size:17px; margin:0; flex:1; }
  #whoami { color:var(--muted); }
  main { max-width:1180px; margin:24px auto; padding:0 28px; display:grid; grid-template-columns:1fr 1fr; gap:20px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:18px 20px; box-shadow:0 1px 2px rgba(20,30,60,.04); }
  .card h2 { margin:0 0 12px; font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); }
  .wide { grid-column:1 / -1; }
  .badge { display:inline-block; padding:3px 10px; border-radius:999px; font-size:12px; font-weight:600; background:#eef0f5; color:var(--grey); }
  .badge.connected, .badge.running, .pill.visible { background:#e3f5ea; color:var(--green); }
  .badge.connecting, .badge.starting { background:#e6edfd; color:var(--blue); }
  .badge.stopping, .pill.idle { background:#fdf3dc; color:var(--amber); }
  .badge.refused { background:#fbe6e6; color:var(--red); }
  .badge.stopped, .badge.disconnected, .pill.hidden { background:#eef0f5; color:var(--grey); }
  .row { display:flex; gap:10px; align-items:center; margin:6px 0; }
  .row .k { width:110px; color:var(--muted); }
  #manager-state { font-size:15px; padding:4px 14px; }
  /* While disconnected the manager's state is only the last one heard: greyed and labelled so. */
  body[data-connection="disconnected"] #manager-state { opacity:.5; filter:grayscale(1); }
  body[data-connection="disconnected"] #manager-state::after { content:' (last known)'; font-weight:400; }
  #countdown { font-variant-numeric:tabular-nums; font-weight:600; color:var(--amber); }
  code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
  #console-log { background:#111827; color:#d1fae5; border-radius:8px; padding:10px 12px; min-height:120px; margin:0; list-style:none; }
  #console-log li.empty { color:#6b7280; }
  #online-list { list-style:none; margin:0; padding:0; }
  #online-list li { display:flex; align-items:center; gap:10px; padding:8px 10px; border-radius:8px; }
  #online-list li + li { border-top:1px solid var(--line); }
  #online-list li.me { background:#eef3fe; }
  #online-list .uid { font-weight:600; min-width:160px; }
  #online-list .tabs { color:var(--muted); min-width:60px; }
  .pill.mine { outline:2px solid var(--accent); outline-offset:1px; }
  .pill { display:inline-block; padding:1px 8px; border-radius:999px; font-size:11.5px; font-weight:600; margin-right:4px; }
  button { font:inherit; border:1px solid var(--line); background:var(--card); border-radius:8px; padding:6px 14px; cursor:pointer; }
  button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
  input { font:inherit; padding:7px 10px; border:1px solid var(--line); border-radius:8px; width:260px; }
  #signin { max-width:460px; margin:80px auto; }
  .error { color:var(--red); min-height:1.5em; margin:8px 0 0; }
  .muted { color:var(--muted); }
  [hidden] { display:none !important; }
</style>
</head>
<body data-connection="disconnected" data-manager="unknown">
<header>
  <h1>Presence dashboard</h1>
  <span id="whoami"></span>
  <span id="connection" class="badge disconnected">disconnected</span>
  <button id="signout" type="button" hidden>Sign out</button>
</header>

<section id="signin" class="card" hidden>
  <h2>Sign in</h2>
  <form id="signin-form" hidden autocomplete="off">
    <label for="userid-input" class="muted">Sign in as user id</label>
    <div class="row"><input id="userid-input" name="userId" placeholder="e.g. alice" maxlength="64" required>
      <button class="primary" type="submit">Sign in</button></div>
  </form>
  <p id="token-hint" hidden>Open this page with <code>?token=&lt;JWT&gt;</code></p>
  <p id="signin-error" class="error"></p>
</section>

<main id="app" hidden>
  <section class="card">
    <h2>Your stream manager</h2>
    <div class="row"><span class="k">State</span><span id="manager-state" class="badge">unknown</span></div>
    <div class="row"><span class="k">Worker</span><code id="manager-worker">-</code></div>
    <div class="row" id="countdown-row" hidden><span class="k">Cleanup in</span><span id="countdown" role="timer"></span></div>
    <div class="row"><span class="k">This tab</span><code id="session-id">-</code></div>
  </section>
  <section class="card">
    <h2>ConsoleLogger <span class="muted">(last: #<span id="last-tick">-</span>)</span></h2>
    <ul id="console-log" class="mono" aria-live="polite"><li class="empty">No ticks yet</li></ul>
  </section>
  <section class="card wide">
    <h2>Online users (<span id="online-count">0</span>)</h2>
    <ul id="online-list" aria-live="polite"></ul>
    <p id="presence-error" class="error" hidden></p>
  </section>
</main>

<script src="/socket.io/socket.io.min.js"></script>
<script>
(function () {
  'use strict';
  var DEV_SIGN_IN = ${devSignIn};
  var TOKEN_KEY = 'presence.token', USER_KEY = 'presence.userId';
  /* A tab with no mouse, keyboard or scroll for this long is 'idle'; ?idleMs= overrides it (1 s to 1 h). */
  var IDLE_MS = (function () {
    var v = Number(new URLSearchParams(location.search).get('idleMs'));
    return v >= 1000 && v <= 3600000 ? v : 60000;
  })();
  var $ = function (id) { return document.getElementById(id); };
  var socket = null, presence = {}, manager = null, ticks = [], mySessionId = null, resubscribe = null;
  /* Diffs that arrive before this subscription's presence_state wait for it (Phoenix's sync):
     a join that raced the snapshot is applied on top of it instead of being dropped with the old map. */
  var synced = false, pendingDiffs = [];
  var idle = false, idleTimer = null, lastSentStatus = null;

  function setConnection(state, detail) {
    document.body.dataset.connection = state;
    var el = $('connection');
    el.className = 'badge ' + state;
    el.textContent = detail ? state + ': ' + detail : state;
  }

  function userIdFromToken(token) {
    try {
      var part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      var claims = JSON.parse(atob(part + '==='.slice((part.length + 3) % 4)));
      return String(claims.sub || claims.userId || '');
    } catch (e) { return ''; }
  }

  function showSignIn(error) {
    $('app').hidden = true;
    $('signout').hidden = true;
    $('whoami').textContent = '';
    $('signin').hidden = false;
    $('signin-form').hidden = !DEV_SIGN_IN;
    $('token-hint').hidden = DEV_SIGN_IN;
    $('signin-error').textContent = error || '';
    if (DEV_SIGN_IN) $('userid-input').focus();
  }

  function resetView() {
    presence = {}; manager = null; ticks = []; setSession(null); synced = false; pendingDiffs = [];
    renderPresence(); renderManager(); renderTicks();
  }

  function signOut(error) {
    if (socket) {
      if (socket.connected) socket.emit('presence:logout');
      socket.disconnect();
      socket = null;
    }
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    resetView();
    setConnection('disconnected');
    showSignIn(error);
  }

  function connect(token) {
    if (typeof io !== 'function') { setConnection('refused', 'socket.io client not loaded'); return; }
    $('signin').hidden = true;
    $('app').hidden = false;
    $('signout').hidden = false;
    $('whoami').textContent = sessionStorage.getItem(USER_KEY) || '';
    resetView();
    setConnection('connecting');
    socket = io('/presence', { auth: { token: token, page: location.pathname } });
    socket.on('connect', function () {
      setConnection('connected');
      lastSentStatus = null;
      synced = false; pendingDiffs = [];
      socket.emit('presence:subscribe');
      socket.emit('presence:console');
      sendStatus();
    });
    socket.on('disconnect', function (reason) { setConnection('disconnected', reason); });
    socket.io.on('reconnect_attempt', function () { setConnection('connecting'); });
    socket.on('connect_error', function (err) {
      var msg = (err && err.message) || 'error';
      if (/unauthori[sz]ed/i.test(msg)) { signOut('Sign-in refused: ' + msg); setConnection('refused', msg); return; }
      setConnection('refused', msg);
    });
    socket.on('session', function (s) { setSession(s && s.sessionId); renderPresence(); });
    socket.on('manager', function (m) { manager = m; renderManager(); });
    socket.on('console_log', function (t) {
      if (!t || typeof t.n !== 'number') return;
      ticks.push(t); if (ticks.length > 10) ticks.shift(); renderTicks();
    });
    socket.on('presence_state', function (state) {
      clearTimeout(resubscribe);
      $('presence-error').hidden = true;
      presence = clone(state || {});
      synced = true;
      pendingDiffs.splice(0).forEach(mergeDiff);
      renderPresence();
    });
    socket.on('presence_error', function (e) {
      $('presence-error').hidden = false;
      $('presence-error').textContent = (e && e.message) || 'presence unavailable';
      clearTimeout(resubscribe);
      resubscribe = setTimeout(function () { if (socket && socket.connected) socket.emit('presence:subscribe'); }, 2000);
    });
    socket.on('presence_diff', applyDiff);
  }

  function setSession(id) {
    mySessionId = id || null;
    document.body.dataset.session = mySessionId || '';
    $('session-id').textContent = mySessionId || '-';
  }

  /* ---------- presence map ---------- */
  function clone(o) { return JSON.parse(JSON.stringify(o)); }
  function eachMeta(group, fn) {
    Object.keys(group || {}).forEach(function (uid) {
      ((group[uid] && group[uid].metas) || []).forEach(function (m) { fn(uid, m); });
    });
  }
  /* Metas are keyed by phx_ref, as Phoenix's client keys them: a status change is a new version. */
  function refOf(m) { return m.phx_ref || m.sessionId; }
  function indexOf(metas, ref) {
    for (var i = 0; i < metas.length; i++) if (refOf(metas[i]) === ref) return i;
    return -1;
  }
  function applyDiff(diff) {
    if (!synced) { pendingDiffs.push(diff); return; }
    mergeDiff(diff);
    renderPresence();
  }
  /* Joins, then leaves, then updates, each idempotent: a diff that crosses the snapshot is harmless. */
  function mergeDiff(diff) {
    diff = diff || {};
    eachMeta(diff.joins, function (uid, meta) {
      var entry = presence[uid] || (presence[uid] = { metas: [] });
      var i = indexOf(entry.metas, refOf(meta));
      if (i >= 0) entry.metas[i] = clone(meta); else entry.metas.push(clone(meta));
    });
    eachMeta(diff.leaves, function (uid, meta) {
      var entry = presence[uid];
      if (!entry) return;
      var i = indexOf(entry.metas, refOf(meta));
      if (i >= 0) entry.metas.splice(i, 1);
      if (!entry.metas.length) delete presence[uid];
    });
    eachMeta(diff.updates, function (uid, meta) {
      var entry = presence[uid];
      var i = -1;
      if (entry) for (var j = 0; j < entry.metas.length; j++) if (entry.metas[j].sessionId === meta.sessionId) i = j;
      if (i >= 0) Object.assign(entry.metas[i], meta);
    });
  }

  function renderPresence() {
    var me = sessionStorage.getItem(USER_KEY);
    var ids = Object.keys(presence).filter(function (u) { return presence[u].metas && presence[u].metas.length; });
    ids.sort(function (a, b) { return (a === me ? -1 : b === me ? 1 : a < b ? -1 : a > b ? 1 : 0); });
    $('online-count').textContent = String(ids.length);
    var list = $('online-list');
    list.textContent = '';
    if (!ids.length) {
      var empty = document.createElement('li');
      empty.className = 'muted';
      empty.textContent = 'Nobody online';
      list.appendChild(empty);
      return;
    }
    ids.forEach(function (uid) {
      var metas = presence[uid].metas;
      var li = document.createElement('li');
      li.dataset.userId = uid;
      li.dataset.tabs = String(metas.length);
      if (uid === me) li.className = 'me';
      var name = document.createElement('span');
      name.className = 'uid';
      name.textContent = uid + (uid === me ? ' (you)' : '');
      var tabs = document.createElement('span');
      tabs.className = 'tabs';
      tabs.textContent = metas.length + (metas.length === 1 ? ' tab' : ' tabs');
      var pills = document.createElement('span');
      pills.className = 'sessions';
      metas.forEach(function (m) {
        var p = document.createElement('span');
        var status = String(m.status || 'visible');
        var mine = m.sessionId === mySessionId;
        p.className = 'pill ' + status + (mine ? ' mine' : '');
        p.dataset.sessionId = String(m.sessionId);
        p.dataset.status = status;
        if (mine) p.dataset.mine = 'true';
        p.textContent = status + (mine ? ' (this tab)' : '');
        p.title = [m.page, m.gatewayId, m.sessionId].filter(Boolean).join(' | ');
        pills.appendChild(p);
      });
      li.appendChild(name); li.appendChild(tabs); li.appendChild(pills);
      list.appendChild(li);
    });
  }

  /* ---------- manager + countdown ---------- */
  function cleanupAtMs(m) {
    if (!m || m.cleanupAt == null) return NaN;
    return typeof m.cleanupAt === 'number' ? m.cleanupAt : Date.parse(m.cleanupAt);
  }
  function renderManager() {
    var state = manager ? String(manager.state) : 'unknown';
    document.body.dataset.manager = state;
    var el = $('manager-state');
    el.className = 'badge ' + state;
    el.textContent = state;
    $('manager-worker').textContent = (manager && manager.workerId) || '-';
    tickCountdown();
  }
  function tickCountdown() {
    var at = cleanupAtMs(manager);
    var active = !!manager && manager.state === 'stopping' && !isNaN(at);
    $('countdown-row').hidden = !active;
    $('countdown').textContent = active ? (Math.max(0, at - Date.now()) / 1000).toFixed(1) + ' s' : '';
  }
  setInterval(tickCountdown, 100);

  function renderTicks() {
    var box = $('console-log');
    box.textContent = '';
    var last = ticks.length ? ticks[ticks.length - 1].n : null;
    box.dataset.lastTick = last === null ? '' : String(last);
    $('last-tick').textContent = last === null ? '-' : String(last);
    if (!ticks.length) {
      var e = document.createElement('li'); e.className = 'empty'; e.textContent = 'No ticks yet'; box.appendChild(e);
      return;
    }
    ticks.forEach(function (t) {
      var li = document.createElement('li');
      li.dataset.n = String(t.n);
      li.dataset.userId = String(t.userId);
      var at = typeof t.at === 'number' ? new Date(t.at).toISOString() : String(t.at);
      li.textContent = 'Console log #' + t.n + ' - ' + at;
      box.appendChild(li);
    });
  }

  /* ---------- tab status: visibility + idle ---------- */
  function currentStatus() { return document.hidden ? 'hidden' : idle ? 'idle' : 'visible'; }
  function sendStatus() {
    var status = currentStatus();
    if (!socket || !socket.connected || status === lastSentStatus) return;
    lastSentStatus = status;
    socket.emit('presence:status', { status: status });
  }
  function armIdle() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { idle = true; sendStatus(); }, IDLE_MS);
  }
  function onActivity() {
    armIdle();
    if (idle) { idle = false; sendStatus(); }
  }
  ['mousemove', 'keydown', 'pointerdown', 'scroll'].forEach(function (ev) {
    window.addEventListener(ev, onActivity, { passive: true, capture: true });
  });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) { idle = false; armIdle(); }
    sendStatus();
  });
  armIdle();

  /* ---------- leaving ---------- */
  /* Closing or navigating away: say goodbye over the socket, so the leave is 'closed' rather than a
     dropped connection ('lost', with its own grace). Back from the back-forward cache: connect again. */
  window.addEventListener('pagehide', function () { if (socket && socket.connected) socket.disconnect(); });
  window.addEventListener('pageshow', function (ev) { if (ev.persisted && socket && !socket.connected) socket.connect(); });

  /* ---------- boot ---------- */
  $('signout').addEventListener('click', function () { signOut(); });
  $('signin-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var userId = $('userid-input').value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) {
      $('signin-error').textContent = 'User id must be 1-64 characters: letters, digits, _ or -';
      return;
    }
    $('signin-error').textContent = '';
    fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: userId }) })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (body) {
        if (!body || !body.token) throw new Error('no token in response');
        sessionStorage.setItem(TOKEN_KEY, body.token);
        sessionStorage.setItem(USER_KEY, userId);
        connect(body.token);
      })
      .catch(function (err) { $('signin-error').textContent = 'Sign-in failed: ' + err.message; });
  });

  var params = new URLSearchParams(location.search);
  var urlToken = params.get('token');
  if (urlToken) {
    sessionStorage.setItem(TOKEN_KEY, urlToken);
    sessionStorage.setItem(USER_KEY, userIdFromToken(urlToken));
    params.delete('token');
    var qs = params.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
  }
  var token = sessionStorage.getItem(TOKEN_KEY);
  if (token) connect(token); else showSignIn();
})();
</script>
</body>
</html>
`;
}
