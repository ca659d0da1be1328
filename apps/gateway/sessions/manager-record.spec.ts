import { describe, expect, it } from '@jest/globals';
import type { UserPresence } from '#libs/contracts/index.js';
import { RECORD_OF_EVENT, managerView, mergeRecord, recordOfAnswer, type ManagerRecord } from './manager-record.js';

const at = '2030-01-01T00:00:00.000Z';
const runAt = '2030-01-01T00:00:05.000Z';
const ev = {
  online: (epoch?: number) => RECORD_OF_EVENT['user.online']({ userId: 'u', at, epoch }),
  scheduled: (epoch: number, when = runAt) => RECORD_OF_EVENT['cleanup.scheduled']({ userId: 'u', at, runAt: when, epoch }),
  cancelled: (epoch?: number) => RECORD_OF_EVENT['cleanup.cancelled']({ userId: 'u', at, epoch }),
  offline: (epoch: number) => RECORD_OF_EVENT['user.offline']({ userId: 'u', at, epoch }),
  started: (generation: number, workerId = 'w1') => RECORD_OF_EVENT['manager.started']({ userId: 'u', at, workerId, generation }),
  stopped: (generation: number, reason = 'handover', workerId = 'w1') => RECORD_OF_EVENT['manager.stopped']({ userId: 'u', at, workerId, reason, generation }),
};
const answer = (p: Partial<UserPresence>): ManagerRecord => recordOfAnswer({ userId: 'u', metas: [], cleanupAt: null, manager: null, ...p });
const running = (workerId: string, generation: number) => ({ workerId, startedAt: at, generation });

const fold = (pieces: ManagerRecord[]) => managerView('u', pieces.reduce(mergeRecord, {}));

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('a user\'s manager record: what the tabs are told', () => {
  it('follows the lifecycle: starting, running, stopping with its time, running again, stopped', () => {
    expect(fold([ev.online(10)])).toEqual({ userId: 'u', state: 'starting' });
    expect(fold([ev.online(10), ev.started(100)])).toEqual({ userId: 'u', state: 'running', workerId: 'w1' });
    expect(fold([ev.online(10), ev.started(100), ev.scheduled(11)])).toEqual({ userId: 'u', state: 'stopping', workerId: 'w1', cleanupAt: runAt });
    expect(fold([ev.online(10), ev.started(100), ev.scheduled(11), ev.cancelled(12)])).toEqual({ userId: 'u', state: 'running', workerId: 'w1' });
    expect(fold([ev.online(10), ev.started(100), ev.scheduled(11), ev.offline(12), ev.stopped(100, 'offline')])).toEqual({ userId: 'u', state: 'stopped' });
  });

  it('a manager moving between workers is starting until its next holder says it started', () => {
    expect(fold([ev.online(10), ev.started(100), ev.stopped(100, 'handover')])).toEqual({ userId: 'u', state: 'starting' });
    expect(fold([ev.online(10), ev.started(100), ev.stopped(100, 'handover'), ev.started(200, 'w2')])).toEqual({ userId: 'u', state: 'running', workerId: 'w2' });
  });

  it('before presence\'s word, a manager stopped for the user\'s offline is stopped', () => {
    expect(fold([ev.stopped(100, 'offline')]).state).toBe('stopped');
    expect(fold([ev.stopped(100, 'lease_lost')]).state).toBe('starting');
  });
});

describe('a user\'s manager record: order does not matter', () => {
  it('every order of a spell\'s events and two answers (one read early, one late) ends on the same view', () => {
    const spell = [
      ev.online(10),
      ev.started(100),
      ev.scheduled(11),
      ev.cancelled(12),
      ev.stopped(100, 'handover'),
      ev.started(200, 'w2'),
      answer({ status: 'online', epoch: 10 }),
      answer({ status: 'grace', epoch: 11, cleanupAt: runAt, manager: running('w1', 100) }),
    ];
    const views = new Set(permutations(spell).map((order) => JSON.stringify(fold(order))));
    expect([...views]).toEqual([JSON.stringify({ userId: 'u', state: 'running', workerId: 'w2' })]);
  });

  it('a late answer read before the manager started does not take the tab back to starting', () => {
    expect(fold([ev.online(10), ev.started(100), answer({ status: 'online', epoch: 10 })]).state).toBe('running');
  });

  it('a late answer read before the return does not take the tab back to stopping', () => {
    expect(fold([ev.cancelled(12), answer({ status: 'grace', epoch: 11, cleanupAt: runAt, manager: running('w1', 100) })])).toEqual({
      userId: 'u',
      state: 'running',
      workerId: 'w1',
    });
  });

  it('a user who leaves and comes back: the new spell\'s epochs win over the old spell\'s words', () => {
    expect(fold([ev.online(20), ev.started(300), ev.offline(12), ev.scheduled(11), ev.stopped(100, 'offline')])).toEqual({ userId: 'u', state: 'running', workerId: 'w1' });
  });
});

describe('a user\'s manager record: fencing by lease generation', () => {
  it("a paused worker's late word (an older generation) changes nothing; the current holder's does", () => {
    const now = [ev.online(10), ev.started(100), ev.started(200, 'w2')];
    expect(fold([...now, ev.stopped(100, 'lease_lost'), ev.started(100)])).toEqual({ userId: 'u', state: 'running', workerId: 'w2' });
    expect(fold([...now, ev.stopped(200, 'handover', 'w2')]).state).toBe('starting');
  });

  it('within one generation the stop follows the start, whichever arrives first', () => {
    expect(fold([ev.online(10), ev.stopped(100), ev.started(100)]).state).toBe('starting');
  });
});

describe('a user\'s manager record: what a piece without a version says', () => {
  it('an answer with no manager registered neither undoes a start nor a stop', () => {
    expect(fold([ev.online(10), ev.started(100), answer({ status: 'online', epoch: 10 })]).state).toBe('running');
    expect(fold([ev.online(10), ev.stopped(100), answer({ status: 'online', epoch: 10 })]).state).toBe('starting');
  });

  it('an answer with no state (presence lost it, or never saw the user) says nothing of the status', () => {
    expect(fold([ev.scheduled(11), answer({ manager: running('w1', 100) })])).toEqual({ userId: 'u', state: 'stopping', workerId: 'w1', cleanupAt: runAt });
  });

  it('an event without its version is news only to a reader that knows nothing yet', () => {
    expect(fold([ev.cancelled()]).state).toBe('starting');
    expect(fold([ev.scheduled(11), ev.cancelled()]).state).toBe('stopping');
  });
});
