import { jest, describe, it, expect, afterEach } from '@jest/globals';
import type { Redis } from 'ioredis';
import { loadConfig } from '#libs/config/index.js';
import { AUDIT_STREAM_SUBJECTS, ConsoleSubjects, ConsoleTick, eventSubject, parseMessage } from '#libs/contracts/index.js';
import { SharedTicker } from '../manager/shared-ticker.js';
import type { ComponentContext } from '../manager/component.js';
import { ConsoleLogger } from './console-logger.component.js';
import { subjectMatches } from '#libs/nats/events.transport.js';

const config = loadConfig({ NODE_ENV: 'development', CONSOLE_LOGGER_INTERVAL_MS: '100' });


describe('ConsoleLogger', () => {
  const ticker = new SharedTicker();
  afterEach(() => {
    ticker.stop();
    jest.useRealTimers();
  });

  it('logs and publishes each tick with the same n, for the dashboard relay', async () => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00.000Z') });
    const logged: string[] = [];
    const published: Array<{ subject: string; payload: object }> = [];
    const ctx: ComponentContext = {
      userId: 'alice',
      workerId: 'worker-1',
      generation: 7,
      setTimeout: () => () => undefined,
      setInterval: () => () => undefined,
      spawn: () => undefined,
      config,
      redis: {} as Redis,
      ticker,
      memory: new Map([['count', 4]]),
      log: (m) => logged.push(m),
      emit: (kind, payload) => published.push({ subject: eventSubject(kind, payload), payload }),
      fail: () => undefined,
    };
    const logger = new ConsoleLogger();
    logger.start(ctx);
    await jest.advanceTimersByTimeAsync(250);
    logger.stop();
    await jest.advanceTimersByTimeAsync(500);

    expect(logged.map((l) => /Console log #(\d+)/.exec(l)![1])).toEqual(['5', '6']);
    expect(published.map((p) => p.subject)).toEqual(['stream.console.alice.tick', 'stream.console.alice.tick']);
    expect(published[0].payload).toEqual({ userId: 'alice', n: 5, at: expect.any(String), workerId: 'worker-1', generation: 7 });
    // The tick is exactly what the gateway accepts, and its time is the logged line's time.
    const parsed = parseMessage(ConsoleTick, new TextEncoder().encode(JSON.stringify(published[1].payload)));
    expect(parsed.ok).toBe(true);
    expect(logged[1]).toContain((published[1].payload as { at: string }).at);
  });

  it('ticks are live data, not lifecycle events: the audit stream does not keep them', () => {
    const subject = ConsoleSubjects.tick('alice');
    expect(subjectMatches(ConsoleSubjects.anyTick, subject)).toBe(true);
    expect(AUDIT_STREAM_SUBJECTS.filter((p) => subjectMatches(p, subject))).toEqual([]);
    // The matcher itself is sound: it does see the lifecycle subjects the stream keeps.
    expect(AUDIT_STREAM_SUBJECTS.some((p) => subjectMatches(p, 'stream.manager.alice.started'))).toBe(true);
  });
});
