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

/** Deadlines in a binary heap: the earliest on top. */
export class DeadlineHeap {
  private h: Array<{ at: number; id: string }> = [];
  push(at: number, id: string): void {
    const h = this.h;
    h.push({ at, id });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  peek(): { at: number; id: string } | undefined {
    return this.h[0];
  }
  pop(): { at: number; id: string } | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.at < h[m]!.at) m = l;
        if (r < h.length && h[r]!.at < h[m]!.at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
  get size(): number {
    return this.h.length;
  }
}
