import { describe, expect, it } from '@jest/globals';
import { sessionDigest } from '#libs/contracts/index.js';
import type { PresenceSocket } from '../socket-types.js';
import { SessionRegistry, type LocalSession } from './session-registry.js';

const session = (sessionId: string, userId = 'u1'): LocalSession => ({
  socket: {} as PresenceSocket,
  joined: { sessionId, userId, gatewayId: 'gw-1', page: '/', at: '2030-01-01T00:00:00.000Z', status: 'visible' },
  status: 'visible',
});

describe('SessionRegistry digest', () => {
  it('is the digest of the ids held, whatever came and went, in any order', () => {
    const r = new SessionRegistry();
    expect(r.digest).toBe(0);
    r.add(session('s1'));
    r.add(session('s2', 'u2'));
    r.add(session('s3'));
    expect(r.digest).toBe(sessionDigest(['s1', 's2', 's3']));
    r.remove('s2');
    r.remove('s2');
    r.remove('never-held');
    expect(r.digest).toBe(sessionDigest(['s1', 's3']));
    // Added again (a re-keyed or repeated add): counted once.
    r.add(session('s1'));
    r.add(session('s2', 'u2'));
    expect([r.size, r.digest]).toEqual([3, sessionDigest(['s3', 's2', 's1'])]);
    for (const id of ['s1', 's2', 's3']) r.remove(id);
    expect([r.size, r.digest]).toEqual([0, 0]);
  });
});
