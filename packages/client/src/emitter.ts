/** A small typed event emitter: a listener that throws is reported, never breaks the others. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  private readonly listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    if (typeof fn !== 'function') throw new TypeError(`on("${String(event)}", fn): fn must be a function`);
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>) {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (err) {
        // A bug in one listener must not cut the others (nor the client's own state) off.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  clear() {
    this.listeners.clear();
  }
}
