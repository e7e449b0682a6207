// What the monitor's page shows, kept in bounded structures: a ring of the last log lines and
// alerts, per-minute error/warning counts (the page groups them into bins of any width), the
// tickerplant's rows/s per table from successive counts, subscriber lag, supervisor state. Pure:
// no I/O, time passed in, so the unit tests drive it directly.

/** A fixed-capacity ring: push drops the oldest; items() is oldest first. */
export class Ring<T> {
  private readonly buf: T[] = [];
  private start = 0;
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
  }
  push(x: T): void {
    if (this.buf.length < this.capacity) this.buf.push(x);
    else {
      this.buf[this.start] = x;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  get size(): number {
    return this.buf.length;
  }
  items(): T[] {
    return [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
  }
  /** The newest n, newest first. */
  last(n: number): T[] {
    return this.items().slice(-n).reverse();
  }
}

const MINUTE_MS = 60_000;

/** Counts of errors and warnings per wall-clock minute, for the last `minutesMax` minutes. */
export class MinuteCounts {
  private readonly counts = new Map<number, { error: number; warn: number }>();
  constructor(readonly minutesMax: number) {}

  add(atMs: number, level: 'error' | 'warn', nowMs: number): void {
    const minute = Math.floor(atMs / MINUTE_MS);
    const oldest = Math.floor(nowMs / MINUTE_MS) - this.minutesMax + 1;
    if (!Number.isFinite(minute) || minute < oldest) return;
    const c = this.counts.get(minute) ?? { error: 0, warn: 0 };
    c[level]++;
    this.counts.set(minute, c);
    this.prune(nowMs);
  }

  private prune(nowMs: number): void {
    const oldest = Math.floor(nowMs / MINUTE_MS) - this.minutesMax + 1;
    // A line stamped in the future (clock skew) counts where it says; the map still stays bounded
    // because only minutes >= oldest are kept and at most minutesMax + skew of them exist.
    for (const m of this.counts.keys()) if (m < oldest) this.counts.delete(m);
    if (this.counts.size > this.minutesMax * 2) {
      const keys = [...this.counts.keys()].sort((a, b) => a - b);
      for (const k of keys.slice(0, keys.length - this.minutesMax)) this.counts.delete(k);
    }
  }

  /** Non-empty minutes as [minute start ms, errors, warnings], oldest first. */
  minutes(nowMs: number): Array<[number, number, number]> {
    this.prune(nowMs);
    return [...this.counts.entries()].sort((a, b) => a[0] - b[0]).map(([m, c]) => [m * MINUTE_MS, c.error, c.warn]);
  }
}

export interface RateRow {
  tp: string;
  table: string;
  /** Rows per second between the last two samples (0 when the count did not move). */
  rowsPerSec: number;
  /** The day's cumulative count at the last sample. */
  count: number;
  at: string;
}

/** Rows/s per table from successive cumulative counts (the tickerplant's status `counts`). */
export class RateTracker {
  private readonly last = new Map<string, { count: number; atMs: number }>();
  private readonly rows = new Map<string, RateRow>();
  /** Per tickerplant: [sample time ms, total rows/s], for the chart. */
  private readonly series = new Map<string, Ring<[number, number]>>();

  constructor(
    private readonly samplesMax: number,
    private readonly tablesMax = 256,
  ) {}

  sample(tp: string, counts: Record<string, unknown>, atMs: number): void {
    let total = 0;
    for (const [table, v] of Object.entries(counts)) {
      const count = Number(v);
      if (!Number.isFinite(count)) continue;
      const key = `${tp}\u0000${table}`;
      if (!this.last.has(key) && this.last.size >= this.tablesMax) continue;
      const prev = this.last.get(key);
      // A count that went down is a new day (end of day reset the counts): no rate for that step.
      const rate = prev && atMs > prev.atMs && count >= prev.count ? ((count - prev.count) * 1_000) / (atMs - prev.atMs) : 0;
      this.last.set(key, { count, atMs });
      this.rows.set(key, { tp, table, rowsPerSec: rate, count, at: new Date(atMs).toISOString() });
      total += rate;
    }
    let s = this.series.get(tp);
    if (!s) {
      if (this.series.size >= this.tablesMax) return;
      this.series.set(tp, (s = new Ring(this.samplesMax)));
    }
    s.push([atMs, total]);
  }

  table(): RateRow[] {
    return [...this.rows.values()].sort((a, b) => (a.tp + a.table < b.tp + b.table ? -1 : 1));
  }

  chart(): Record<string, Array<[number, number]>> {
    return Object.fromEntries([...this.series].map(([tp, r]) => [tp, r.items()]));
  }

  forget(tp: string): void {
    for (const k of this.last.keys()) if (k.startsWith(`${tp}\u0000`)) (this.last.delete(k), this.rows.delete(k));
    this.series.delete(tp);
  }
}
