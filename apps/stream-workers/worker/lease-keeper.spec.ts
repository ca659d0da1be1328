import { describe, it, expect } from '@jest/globals';
import { KeyedSerial } from '#libs/concurrency/keyed-serial.js';
import { LeaseKeeper, type LeaseKeeperPorts } from './lease-keeper.js';
import { Lease } from '../leases/lease-hold.js';
import type { HeldManager, ReclaimException, RenewException } from '../leases/lease.repository.js';
import type { UserStreamManager } from '../manager/user-stream-manager.js';

/** Leases as Redis holds them, with the two steps the keeper uses: an extend-only renewal and a take-back. */
class FakeLeases {
  readonly holders = new Map<string, string>();
  readonly reclaimed: string[] = [];
  /** When set, the next renewal waits for it: a renewal on its way while the worker does something else. */
  gate?: Promise<void>;

  async heartbeat() {}
  async marker() {
    return 'm';
  }
  async renew(workerId: string, managers: Iterable<HeldManager>): Promise<Map<string, RenewException>> {
    const users = [...managers].map((m) => m.userId);
    await this.gate;
    const out = new Map<string, RenewException>();
    for (const u of users) {
      const cur = this.holders.get(u);
      if (cur === undefined) out.set(u, 'missing');
      else if (cur !== workerId) out.set(u, 'lost');
    }
    return out;
  }
  /** Set to answer a take-back with 'lost' (another worker held the lease since). */
  takenSince = new Set<string>();
  async reclaim(workerId: string, held: readonly HeldManager[]): Promise<Map<string, ReclaimException>> {
    const out = new Map<string, ReclaimException>();
    for (const m of held) {
      const cur = this.holders.get(m.userId);
      if ((cur !== undefined && cur !== workerId) || this.takenSince.has(m.userId)) out.set(m.userId, 'lost');
      else if (cur === undefined) {
        this.holders.set(m.userId, workerId);
        this.reclaimed.push(m.userId);
        out.set(m.userId, 'reclaimed');
      }
    }
    return out;
  }
}

function setup() {
  const leases = new FakeLeases();
  const managers = new Map<string, UserStreamManager<Lease>>();
  const mutex = new KeyedSerial(() => {});
  const lostStops: string[] = [];
  const run = (userId: string) => {
    const lease = new Lease(10_000, 100, () => {});
    managers.set(userId, { userId, startedAt: 0, lease } as unknown as UserStreamManager<Lease>);
    leases.holders.set(userId, 'w1');
    return lease;
  };
  /** The worker's stop: out of the registry, then the lease released, as one transition. */
  const stop = (userId: string) =>
    mutex.run(userId, async () => {
      managers.delete(userId);
      if (leases.holders.get(userId) === 'w1') leases.holders.delete(userId);
    });
  const ports: LeaseKeeperPorts = {
    workerId: 'w1',
    leases,
    managers,
    stopLost: async (userId) => {
      lostStops.push(userId);
      await mutex.run(userId, async () => void managers.delete(userId));
    },
    exclusive: (userId, fn) => mutex.run(userId, fn),
    busy: (userId) => mutex.busy(userId),
  };
  return { keeper: new LeaseKeeper(ports), leases, managers, mutex, run, stop, lostStops };
}

describe('LeaseKeeper', () => {
  it('renews in place and confirms the holds', async () => {
    const { keeper, run } = setup();
    const lease = run('alice');
    expect(lease.valid()).toBe(false);
    await keeper.renew();
    expect(lease.valid()).toBe(true);
  });

  it('takes back a lease nobody holds while its manager runs here (it lapsed, or Redis lost it)', async () => {
    const { keeper, leases, run } = setup();
    const lease = run('alice');
    leases.holders.delete('alice');
    await keeper.renew();
    expect(leases.reclaimed).toEqual(['alice']);
    expect(leases.holders.get('alice')).toBe('w1');
    expect(lease.valid()).toBe(true);
  });

  it('does not bring back the lease of a manager stopped while the renewal was on its way', async () => {
    const { keeper, leases, managers, run, stop } = setup();
    run('alice');
    run('bob');
    let open!: () => void;
    leases.gate = new Promise<void>((r) => (open = r));
    const renewal = keeper.renew();
    // The renewal has left with alice in it; alice's last tab's cleanup stops her manager now.
    await stop('alice');
    open();
    await renewal;
    expect(managers.has('alice')).toBe(false);
    expect(leases.holders.has('alice')).toBe(false);
    expect(leases.reclaimed).toEqual([]);
    expect(leases.holders.get('bob')).toBe('w1');
  });

  it('stops a manager whose lease another worker holds, found by the renewal or by the take-back', async () => {
    const { keeper, leases, managers, mutex, run, lostStops } = setup();
    run('alice');
    run('bob');
    leases.holders.set('alice', 'w2');
    leases.holders.delete('bob');
    leases.takenSince.add('bob');
    await keeper.renew();
    await mutex.idle();
    expect(lostStops.sort()).toEqual(['alice', 'bob']);
    expect(managers.size).toBe(0);
  });

  it("does not hold renewals for one user's slow transition; that user's take-back follows its transition", async () => {
    const { keeper, leases, mutex, run } = setup();
    run('alice');
    const bobLease = run('bob');
    leases.holders.delete('alice');
    let finishStart!: () => void;
    // A start of alice's that takes its time (a component starting slowly) is under way.
    const slow = mutex.run('alice', () => new Promise<void>((r) => (finishStart = r)));
    await Promise.resolve();
    await keeper.renew();
    expect(bobLease.valid()).toBe(true);
    expect(leases.reclaimed).toEqual([]);
    // A second renewal meanwhile queues no second take-back.
    await keeper.renew();
    finishStart();
    await slow;
    await mutex.idle();
    expect(leases.reclaimed).toEqual(['alice']);
  });
});
