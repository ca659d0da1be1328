import { describe, it, expect, jest } from '@jest/globals';
import { KeyedSerial } from '#libs/concurrency/keyed-serial.js';
import { LeaseKeeper, type LeaseKeeperPorts } from './lease-keeper.js';
import { Lease } from '../leases/lease-hold.js';
import type { HeldManager, ReclaimResult, RenewException } from '../leases/lease.repository.js';
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
  async reclaim(workerId: string, m: HeldManager): Promise<ReclaimResult> {
    const cur = this.holders.get(m.userId);
    if (cur !== undefined && cur !== workerId) return 'lost';
    if (cur === workerId) return 'renewed';
    this.holders.set(m.userId, workerId);
    this.reclaimed.push(m.userId);
    return 'reclaimed';
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
  };
  return { keeper: new LeaseKeeper(ports), leases, managers, run, stop, lostStops };
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
    const { keeper, leases, managers, run, lostStops } = setup();
    run('alice');
    run('bob');
    leases.holders.set('alice', 'w2');
    leases.holders.delete('bob');
    const reclaim = jest.spyOn(leases, 'reclaim').mockImplementation(async () => 'lost');
    await keeper.renew();
    expect(reclaim).toHaveBeenCalledTimes(1);
    expect(lostStops.sort()).toEqual(['alice', 'bob']);
    expect(managers.size).toBe(0);
  });
});
