import { outsideScopes } from './component-scope.js';

/**
 * One timer wheel per period serves every subscriber of that period. A subscriber joins the slot
 * that just fired, so its first call comes one period after it subscribed (within a tenth of a
 * period), and thousands of managers cost ten timers, not thousands.
 */
const SLOTS = 10;

/** What a subscriber is called with: the slot's time, once for all of its subscribers. */
export interface Tick {
  /** Date.now() when the slot fired. */
  readonly now: number;
  /** The same as ISO-8601: with ten thousand managers, one Date and one string a slot instead of one each. */
  readonly at: string;
}

type Subscriber = (tick: Tick) => void;

interface Wheel {
  slots: Set<Subscriber>[];
  position: number;
  timer: NodeJS.Timeout;
}

export class SharedTicker {
  private readonly wheels = new Map<number, Wheel>();

  /** `onError`: a subscriber that throws is reported, and the others of its slot are still called. */
  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  every(periodMs: number, fn: Subscriber): () => void {
    const wheel = this.wheels.get(periodMs) ?? this.createWheel(periodMs);
    const slot = wheel.slots[wheel.position];
    slot.add(fn);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      slot.delete(fn);
      if (this.wheels.get(periodMs) === wheel && wheel.slots.every((s) => s.size === 0)) {
        clearInterval(wheel.timer);
        this.wheels.delete(periodMs);
      }
    };
  }

  get subscribers(): number {
    let n = 0;
    for (const w of this.wheels.values()) for (const s of w.slots) n += s.size;
    return n;
  }

  private createWheel(periodMs: number): Wheel {
    const wheel: Wheel = { slots: Array.from({ length: SLOTS }, () => new Set()), position: 0, timer: undefined as unknown as NodeJS.Timeout };
    // The first subscriber's scope must not become the scope of every later subscriber's tick.
    wheel.timer = outsideScopes(() =>
      setInterval(() => {
        wheel.position = (wheel.position + 1) % SLOTS;
        const now = Date.now();
        const tick: Tick = { now, at: new Date(now).toISOString() };
        for (const fn of [...wheel.slots[wheel.position]]) {
          try {
            fn(tick);
          } catch (err) {
            this.onError(err);
          }
        }
      }, periodMs / SLOTS),
    );
    this.wheels.set(periodMs, wheel);
    return wheel;
  }

  stop() {
    for (const w of this.wheels.values()) clearInterval(w.timer);
    this.wheels.clear();
  }
}
