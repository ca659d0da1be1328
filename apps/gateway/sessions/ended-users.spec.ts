import { describe, expect, it } from '@jest/globals';
import { EndedUsers } from './ended-users.js';

describe('EndedUsers', () => {
  it('blocks a user until the given time, then forgets them', () => {
    const e = new EndedUsers();
    const now = Date.now();
    e.block('alice', now + 1000);
    expect(e.blockedUntil('alice', now)).toBe(now + 1000);
    expect(e.blockedUntil('bob', now)).toBeNull();
    expect(e.blockedUntil('alice', now + 1000)).toBeNull();
    expect(e.blockedUntil('alice', now)).toBeNull();
  });

  it('ignores a time already past or not a time', () => {
    const e = new EndedUsers();
    e.block('alice', Date.now() - 1);
    e.block('bob', Number.NaN);
    expect(e.blockedUntil('alice')).toBeNull();
    expect(e.blockedUntil('bob')).toBeNull();
  });
});
