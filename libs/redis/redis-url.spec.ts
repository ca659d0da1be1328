import { describe, expect, it } from '@jest/globals';
import { RedisUrlError, parseRedisUrl, redact } from './redis-url.js';

describe('parseRedisUrl', () => {
  it('one server, as before', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({ kind: 'server', url: 'redis://127.0.0.1:6379/2', tls: false });
    expect(parseRedisUrl('rediss://:pw@cache:6380')).toMatchObject({ kind: 'server', tls: true });
  });

  it('Sentinels and the master name, with the data nodes credentials', () => {
    expect(parseRedisUrl('redis-sentinel://app:p%40ss@s1:26379,s2,[::1]:26380/mymaster')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'mymaster',
      username: 'app',
      password: 'p@ss',
    });
    expect(parseRedisUrl('redis-sentinel://:secret@s1:26379/m')).toEqual({ kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }], masterName: 'm', password: 'secret' });
  });

  it('a cluster s seed nodes', () => {
    expect(parseRedisUrl('redis-cluster://r1:7000,r2:7001')).toEqual({ kind: 'cluster', nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }] });
    expect(parseRedisUrl('redis-cluster://app:p%40ss@r1,r2:7001')).toEqual({ kind: 'cluster', nodes: [{ host: 'r1', port: 6379 }, { host: 'r2', port: 7001 }], username: 'app', password: 'p@ss' });
  });

  it.each([
    'redis-sentinel://s1:26379',
    'redis-sentinel://s1:26379/',
    'redis-sentinel://s1:99999/m',
    'redis-sentinel://s1:26379,,s2/m',
    'redis-sentinel://u:pw@/m',
    'redis-cluster://r1:7000/0',
    'redis-cluster://',
    'redis-cluster://r1:7000,r2:0',
    'http://h:6379',
    'redis://h:6379/x',
    'not a url',
  ])('refuses %p with one line that hides the password', (raw) => {
    let err: unknown;
    try {
      parseRedisUrl(raw.replace('u:pw@', 'u:topsecret@'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RedisUrlError);
    const message = (err as Error).message;
    expect(message).toMatch(/^REDIS_URL/);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('topsecret');
  });

  it('redacts credentials', () => {
    expect(redact('redis-sentinel://u:pw@s1/m')).toBe('redis-sentinel://***@s1/m');
  });
});
