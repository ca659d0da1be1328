import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { JSDOM } from 'jsdom';
import { Stack, uniqueUser, until } from './support/harness.js';

jest.setTimeout(60_000);

/*
 * usePresence rendered by React DOM in jsdom, against a real gateway: what a React dashboard sees.
 * jsdom's globals are in place before React DOM loads, as a browser's would be.
 */
const dom = new JSDOM('<!doctype html><div id="root"></div>', { url: 'http://localhost/dashboard', pretendToBeVisual: true });
const g = globalThis as Record<string, unknown>;
for (const key of ['window', 'document', 'navigator', 'HTMLElement', 'Node', 'MutationObserver', 'requestAnimationFrame', 'cancelAnimationFrame']) {
  if (!(key in g) || key === 'window' || key === 'document') g[key] = key === 'window' ? dom.window : (dom.window as unknown as Record<string, unknown>)[key];
}

const { createElement } = await import('react');
const { createRoot } = await import('react-dom/client');
const { usePresence } = await import('../packages/client/src/react.js');

const stack = new Stack();
beforeAll(() => stack.start());
afterAll(() => {
  dom.window.close();
  return stack.stop();
});

function Online(props: { url: string; token: string }) {
  const { status, manager, users, count } = usePresence(props.url, { token: props.token, page: '/dashboard/react', socket: { transports: ['websocket'] } });
  return createElement(
    'section',
    { id: 'presence', 'data-status': status, 'data-manager': manager?.state ?? 'none', 'data-count': String(count) },
    Object.keys(users)
      .sort()
      .map((u) => createElement('li', { key: u, 'data-user': u }, `${u}: ${users[u].metas.map((m) => m.status).join(',')}`)),
  );
}

const section = () => dom.window.document.getElementById('presence');
const attr = (name: string) => section()?.getAttribute(name);
const listed = () => [...dom.window.document.querySelectorAll('li')].map((li) => li.getAttribute('data-user'));

describe('usePresence in jsdom against the real gateway', () => {
  it('renders the connection, the manager and who is online, follows changes, and leaves on unmount', async () => {
    const me = uniqueUser('react');
    const other = uniqueUser('react-other');
    const root = createRoot(dom.window.document.getElementById('root')!);
    root.render(createElement(Online, { url: stack.gateway.url, token: await stack.token(me) }));

    await until('connected', () => attr('data-status') === 'connected');
    await until('manager running', () => attr('data-manager') === 'running');
    await until('itself listed', () => listed().includes(me));
    const before = Number(attr('data-count'));

    const tab = await stack.tab(other);
    await until('the other user listed', () => listed().includes(other) && Number(attr('data-count')) === before + 1);
    await tab.socket.emitWithAck('presence:status', { status: 'idle' });
    await until('the other user idle', () => dom.window.document.querySelector(`li[data-user="${other}"]`)?.textContent?.endsWith('idle'));
    tab.close();
    await until('the other user gone', () => !listed().includes(other));
    expect(Number(attr('data-count'))).toBe(before);

    root.unmount();
    const [left] = await stack.observer.waitFor(`presence.session.${me}.left`);
    expect(left.data.reason).toBe('closed');
  });
});
