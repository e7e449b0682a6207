// The RDB's recent window (issue 10, `rdbWindowMs`): next to a WDB writing today down and an IDB
// serving it, the RDB keeps only the recent part of today. Per table it keeps a small index of
// the batches it holds (log sequence, first row, newest time), drops the oldest batches once the
// WDB's written notice says they are written and they are older than the window (by data time:
// the newest row held minus rdbWindowMs), and answers `afterSeq` (rows of batches with a sequence
// above it) from the index's row offset. It advertises `heldFrom: {day: {table: seq}}`: every
// batch of the table that day with a sequence at or above it is held (absent: the whole day).
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { subjects } from '../../bus/subjects.ts';
import { WRITTEN_TYPE, type WrittenNotice } from '../../storage/intraday/manifest.ts';
import type { RdbDay } from './effects.ts';
import type { RdbSettings } from './settings.ts';
import type { Batch } from '../../storage/batch.ts';
import type { MemTable } from '../../storage/table.ts';
import { bad } from '../../storage/query/request.ts';

/** Per table: the batches held, oldest first (one entry per batch: bounded by the batches in the window). */
export class SeqIndex {
  private seqs: number[] = [];
  private rows: number[] = [];
  private times: bigint[] = [];
  /** Every batch of the table with a sequence at or below this one was dropped (0: none). */
  droppedSeq = 0;
  newestNs = -(2n ** 63n);

  /** Records a batch appended at row `row` (before the append); `timed`: track its newest time (the window needs it). */
  add(seq: number, row: number, b: Batch, timed: boolean): void {
    let max = this.newestNs;
    const time = timed ? (b.cols.time as BigInt64Array | undefined) : undefined;
    if (time) for (let i = 0; i < b.n; i++) if (time[i]! > max) max = time[i]!;
    this.seqs.push(seq);
    this.rows.push(row);
    this.times.push(max);
    this.newestNs = max;
  }

  /** The first row of the first batch with a sequence above `afterSeq` (n when none). */
  rowAfter(afterSeq: number, n: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid]! <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.rows.length ? this.rows[lo]! : n;
  }

  /**
   * Drops the oldest batches written (sequence <= writtenSeq) whose newest row is older than
   * `beforeNs` from `t`; returns the rows dropped.
   */
  drop(t: MemTable, writtenSeq: number, beforeNs: bigint): number {
    let k = 0;
    while (k < this.seqs.length && this.seqs[k]! <= writtenSeq && this.times[k]! < beforeNs) k++;
    if (k === 0) return 0;
    const rows = k < this.rows.length ? this.rows[k]! : t.n;
    this.droppedSeq = this.seqs[k - 1]!;
    this.seqs.splice(0, k);
    this.times.splice(0, k);
    this.rows.splice(0, k);
    for (let i = 0; i < this.rows.length; i++) this.rows[i]! -= rows;
    t.dropFront(rows);
    return rows;
  }

  /** The sequence of the newest batch held or dropped (0: none). */
  get lastSeq(): number {
    return this.seqs.length ? this.seqs[this.seqs.length - 1]! : this.droppedSeq;
  }

  get batches(): number {
    return this.seqs.length;
  }
}

/** Reads a request's `afterSeq` (undefined: absent), naming it when it is not a sequence. */
export function afterSeqOf(q: Record<string, unknown>): number | undefined {
  const v = q.afterSeq;
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad('afterSeq', 'must be a non-negative integer log sequence', { afterSeq: String(v) });
  return v;
}

/** The row floor for `afterSeq` in one table; a typed error when the window no longer reaches it. */
export function fromRowFor(idx: SeqIndex | undefined, t: MemTable, table: string, afterSeq: number): number {
  if (!idx) return 0;
  if (afterSeq < idx.droppedSeq) {
    throw new TickbusError(ErrorCode.NOT_READY, `afterSeq: this rdb holds ${table} from seq ${idx.droppedSeq + 1} on, not after ${afterSeq}; the rows between are in the idb (re-plan)`, {
      param: 'afterSeq',
      table,
      afterSeq,
      heldFromSeq: idx.droppedSeq + 1,
    });
  }
  return idx.rowAfter(afterSeq, t.n);
}

/** Written notices waiting out the grace period before the rows they cover may be dropped. */
export class WrittenLog {
  private pending: Array<{ at: number; tables: Record<string, number> }> = [];
  /** Per table: the last sequence written whose notice is older than the grace period. */
  readonly written = new Map<string, number>();

  constructor(
    private readonly graceMs: number,
    /** Bound on notices held waiting: past it the oldest is forgotten (a later notice's lastSeq covers it). */
    private readonly pendingMax = 1_024,
  ) {}

  note(at: number, tables: Record<string, { lastSeq: number }>): void {
    this.pending.push({ at, tables: Object.fromEntries(Object.entries(tables).map(([t, v]) => [t, v.lastSeq])) });
    if (this.pending.length > this.pendingMax) this.pending.shift();
  }

  /** Folds in the notices past the grace period; true when any was. */
  ripen(now: number): boolean {
    let any = false;
    while (this.pending.length && this.pending[0]!.at + this.graceMs <= now) {
      this.fold(this.pending.shift()!);
      any = true;
    }
    return any;
  }

  private fold(p: { tables: Record<string, number> }): void {
    for (const [t, s] of Object.entries(p.tables)) if (s > (this.written.get(t) ?? 0)) this.written.set(t, s);
  }

  clear(): void {
    this.pending = [];
    this.written.clear();
  }
}

export interface RdbWindow {
  /** Rows dropped so far. */
  readonly dropped: number;
  /** End of day: resolves once every table's batches of `day` are written (notices past their grace), at most handoffConfirmMs (default 60 s). */
  untilWritten(day: RdbDay): Promise<void>;
  /** The `heldFrom` attribute over the days advertised. */
  heldFrom(days: readonly RdbDay[]): Record<string, Record<string, number>>;
  stop(): void;
}

/** Follows the WDB's written notices and drops today's written rows older than the window, every rdbWindowCheckMs. */
export function startWindow(nc: NatsConnection, s: RdbSettings, logger: Logger, today: () => RdbDay, onDropped: () => void): RdbWindow {
  const log = new WrittenLog(s.rdbDropGraceMs);
  let dropped = 0;
  const sub = nc.subscribe(s.wdb ? subjects.wdbWritten(s.wdb) : subjects.wdbWrittenAll, {
    callback: (_e, m) => {
      try {
        const n = decode<WrittenNotice>(m.data);
        // Any day's notice: sequences are the log's, so an older day's never reaches today's rows.
        if (n?.type === WRITTEN_TYPE && n.tp === s.tp && typeof n.tables === 'object' && n.tables) log.note(Date.now(), n.tables);
      } catch (err) {
        logger.warn({ err: (err as Error).message, subject: m.subject }, 'rdb ignored an unreadable written notice');
      }
    },
  });
  const windowNs = BigInt(s.rdbWindowMs) * 1_000_000n;
  const timer = setInterval(() => {
    log.ripen(Date.now());
    const day = today();
    let n = 0;
    for (const [name, t] of day.tables) {
      const idx = day.index.get(name)!;
      n += idx.drop(t, log.written.get(name) ?? 0, idx.newestNs - windowNs);
    }
    if (n > 0) {
      dropped += n;
      onDropped();
    }
  }, s.rdbWindowCheckMs);
  timer.unref();
  return {
    get dropped() {
      return dropped;
    },
    async untilWritten(day) {
      const timeoutMs = s.handoffConfirmMs ?? 60_000;
      const deadline = Date.now() + timeoutMs;
      const missing = () => [...day.index].filter(([t, idx]) => (log.written.get(t) ?? 0) < idx.lastSeq).map(([t]) => t);
      for (;;) {
        log.ripen(Date.now());
        const left = missing();
        if (left.length === 0) return;
        if (Date.now() > deadline) throw new TickbusError(ErrorCode.TIMEOUT, `day ${day.day}: the wdb's notices do not cover ${left.join(', ')} after ${timeoutMs} ms`, { day: day.day, tables: left });
        await new Promise((r) => setTimeout(r, s.rdbWindowCheckMs));
      }
    },
    heldFrom(days) {
      const out: Record<string, Record<string, number>> = {};
      for (const d of days) for (const [t, idx] of d.index) if (idx.droppedSeq > 0 && d.day) (out[d.day] ??= {})[t] = idx.droppedSeq + 1;
      return out;
    },
    stop() {
      sub.unsubscribe();
      clearInterval(timer);
    },
  };
}
