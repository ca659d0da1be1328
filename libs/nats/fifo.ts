/**
 * First in, first out, without moving the array on every take: `Array.shift()` copies everything
 * behind the head, and a gateway's durable publisher queues thousands of publishes in a mass close.
 * Taken slots are dropped once they are most of the array, so the array stays within twice the queue.
 */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, removed; undefined when empty. */
  take(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head === this.items.length) this.reset([]);
    else if (this.head > 1024 && this.head * 2 > this.items.length) this.reset(this.items.slice(this.head));
    return item;
  }

  /** Puts these ahead of everything queued, in their own order. */
  pushFront(items: Iterable<T>): void {
    this.reset([...items, ...this.items.slice(this.head)]);
  }

  /** Empties the queue, answering what it held, oldest first. */
  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.reset([]);
    return rest;
  }

  private reset(items: T[]): void {
    this.items = items;
    this.head = 0;
  }
}
