// The scheduler's two data structures: the wait list of one part key and lane (priority, then
// arrival) and the deadline heap. Pure.
import type { QueryView } from './scheduler_types.ts';

/** What a wait list holds: a query's part, skipped once the query finished or the part was placed. */
export interface WaitEntry {
  q: { view: QueryView; state: string };
  part: { state: string };
}

/** True when a sorts before b: higher priority, then earlier arrival. */
export function before(a: QueryView, b: QueryView): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

/** Waiting parts of one key, ordered; entries of finished queries or placed parts are skipped lazily. */
export class WaitList<E extends WaitEntry> {
  private items: E[] = [];
  private head = 0;

  insert(e: E): void {
    const v = e.q.view;
    let hi = this.items.length;
    // Arrivals mostly go last (equal priority, later seq): check the tail first.
    if (hi === this.head || !before(v, this.items[hi - 1]!.q.view)) {
      this.items.push(e);
      return;
    }
    let lo = this.head;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(v, this.items[mid]!.q.view)) hi = mid;
      else lo = mid + 1;
    }
    this.items.splice(lo, 0, e);
  }

  private static live(e: WaitEntry): boolean {
    return e.q.state === 'active' && e.part.state === 'waiting';
  }

  /** The first live entry, dropping dead ones on the way (no allocation). */
  first(): E | undefined {
    while (this.head < this.items.length && !WaitList.live(this.items[this.head]!)) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  /** Up to `max` live entries from the head. */
  peek(max: number): E[] {
    const out: E[] = [];
    if (!this.first()) return out;
    for (let i = this.head; i < this.items.length && out.length < max; i++) if (WaitList.live(this.items[i]!)) out.push(this.items[i]!);
    return out;
  }

  get empty(): boolean {
    return this.first() === undefined;
  }
}

/**
 * Query deadlines on a timer wheel of `slotMs` slots: one entry per live query, added and removed
 * in O(1), so a query that finishes leaves nothing behind (a heap would keep every answered
 * query's deadline until it passed: throughput x timeout entries). `due(now)` takes the entries
 * at or before now from the slots passed since the last call. Holds at most one entry per query
 * admitted and not yet answered (bounded by queueMax).
 */
export class DeadlineWheel {
  private readonly slots = new Map<number, Map<string, number>>();
  /** The first slot not yet fully taken. */
  private next = -Infinity;
  private count = 0;

  constructor(private readonly slotMs: number) {}

  /** Adds `id` due at `at`; returns its slot (for remove). */
  add(at: number, id: string): number {
    const slot = Math.max(Math.floor(at / this.slotMs), this.next);
    let m = this.slots.get(slot);
    if (!m) this.slots.set(slot, (m = new Map()));
    if (!m.has(id)) this.count++;
    m.set(id, at);
    return slot;
  }

  remove(slot: number, id: string): void {
    const m = this.slots.get(slot);
    if (m?.delete(id)) {
      this.count--;
      if (m.size === 0) this.slots.delete(slot);
    }
  }

  /** The ids due at `now` (each once), removed from the wheel. */
  due(now: number): string[] {
    const out: string[] = [];
    const cur = Math.floor(now / this.slotMs);
    const take = (slot: number) => {
      const m = this.slots.get(slot);
      if (!m) return;
      for (const [id, at] of m) {
        if (at > now) continue;
        m.delete(id);
        this.count--;
        out.push(id);
      }
      if (m.size === 0) this.slots.delete(slot);
    };
    if (this.count === 0) {
      this.next = cur;
      return out;
    }
    // After a long gap walk the occupied slots, not every slot in between.
    if (cur - this.next > this.slots.size) {
      for (const slot of [...this.slots.keys()].filter((k) => k <= cur).sort((a, b) => a - b)) take(slot);
    } else for (let slot = this.next; slot <= cur; slot++) take(slot);
    this.next = cur;
    return out;
  }

  get size(): number {
    return this.count;
  }
}
