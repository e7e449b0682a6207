// The tickerplant's batching modes: what waits, what goes out together, and when.
// - immediate: each update is one append (a multi-table update one multi-table message).
// - batch: rows coalesce per table; a table's batch is one log message, appended every pubFreqMs,
//   or as soon as it holds batchRowsMax rows or batchBytesMax bytes.
// - memorybatch (KX/TorQ memory batch): every table's rows wait for the timer and go out as ONE
//   multi-table message per tick (sooner only at batchRowsMax / batchBytesMax).
// A multi-table update (`tp.<tp>.upd` with several tables) is always one log message: its tables
// are in the log together or not at all, also across a crash (one append is atomic). Pending
// groups are kept in arrival order; a group is appended only after every earlier group that holds
// one of its tables, so each table's rows keep their arrival order in the log.
import { encode } from '../../bus/codec.ts';
import type { TickbusError } from '../../bus/errors.ts';
import { Header, subjects } from '../../bus/subjects.ts';
import { type Batch, concatBatches, estimateBytes, sliceBatch } from '../../storage/batch.ts';
import type { Schema } from '../../storage/schema.ts';
import type { Waiter } from './feed.ts';
import { encodeLogBatch, encodeMultiBatch, type MultiPart } from './log_encode.ts';
import type { AppendRequest } from './log_writer.ts';
import type { Stamper } from './stamping.ts';
import type { TickerplantSettings } from './settings.ts';

export const BATCH_TYPE = 'tickbus.v1.batch';
export const MULTI_TYPE = 'tickbus.v1.multi';

/** Rows waiting to be appended together: one table's (batch mode) or several tables' (memorybatch, multi-table updates). */
interface Group {
  tables: Map<string, { parts: Batch[]; rows: number }>;
  rows: number;
  bytes: number;
  waiters: Waiter[];
}

/** What the batcher needs from the tickerplant (Ingest). */
export interface BatchHost {
  readonly settings: TickerplantSettings;
  readonly schema: Schema;
  readonly stamper: Stamper;
  /** Rows per table of the day so far, including appends in flight. */
  readonly counts: Map<string, number>;
  /** Rows per table of the day the log holds (set as appends complete, in log order). */
  readonly loggedCounts: Map<string, number>;
  readonly stats: { appends: number };
  readonly day: string;
  readonly isPaused: boolean;
  append(req: AppendRequest): void;
  /** The appends holding the waiters' rows completed (err: one of them failed). */
  completed(ws: readonly Waiter[], err: TickbusError | undefined, seq: number): void;
}

/** `trade=12,quote=40`: the cumulative counts after a multi-table message (Tb-Counts). */
export function formatCounts(counts: ReadonlyArray<[string, number]>): string {
  return counts.map(([t, n]) => `${t}=${n}`).join(',');
}

/** Parses a Tb-Counts header; entries that do not parse are left out. */
export function parseCounts(v: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const kv of (v ?? '').split(',')) {
    const i = kv.indexOf('=');
    const n = Number(kv.slice(i + 1));
    if (i > 0 && Number.isSafeInteger(n) && n >= 0) out.set(kv.slice(0, i), n);
  }
  return out;
}

export class Batcher {
  /** Pending groups in arrival order. */
  private readonly groups: Group[] = [];
  /** The group new rows join: per table (batch, immediate) or '*' (memorybatch). */
  private readonly open = new Map<string, Group>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  pendingRows = 0;

  constructor(private readonly h: BatchHost) {}

  /**
   * Queues one update's batches (one table, or the tables of a multi-table update, which stay in
   * one group) for the waiters, and appends what is due.
   */
  enqueue(batches: readonly Batch[], ws: readonly Waiter[]): void {
    const s = this.h.settings;
    const mem = s.mode === 'memorybatch';
    const multi = batches.length > 1;
    let rows = 0;
    let bytes = 0;
    for (const b of batches) {
      rows += b.n;
      bytes += estimateBytes(b);
    }
    const key = mem ? '*' : multi ? undefined : batches[0]!.table;
    let g = key === undefined ? undefined : this.open.get(key);
    // Keep a log message under batchBytesMax: append what is pending before it would overflow.
    if (g && g.rows > 0 && g.bytes + bytes > s.batchBytesMax) {
      this.flushGroup(g);
      g = undefined;
    }
    if (!g) {
      g = { tables: new Map(), rows: 0, bytes: 0, waiters: [] };
      this.groups.push(g);
      if (key !== undefined) this.open.set(key, g);
      // Later rows of these tables go after the multi-table update, never before it.
      else for (const b of batches) this.open.delete(b.table);
    }
    for (const b of batches) {
      let t = g.tables.get(b.table);
      if (!t) g.tables.set(b.table, (t = { parts: [], rows: 0 }));
      t.parts.push(b);
      t.rows += b.n;
    }
    g.rows += rows;
    g.bytes += bytes;
    for (const w of ws) g.waiters.push(w);
    this.pendingRows += rows;
    if (this.h.isPaused) return;
    if (s.mode === 'immediate' || (multi && !mem) || g.rows >= s.batchRowsMax || g.bytes >= s.batchBytesMax) this.flushGroup(g);
    else if (!this.timer) this.timer = setTimeout(() => this.flushAll(), s.pubFreqMs);
  }

  /** Appends every pending group, in arrival order (nothing while paused). */
  flushAll(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.h.isPaused) return;
    while (this.groups.length) this.flushGroup(this.groups[0]!);
  }

  private flushGroup(g: Group): void {
    if (this.h.isPaused) return;
    const at = this.groups.indexOf(g);
    if (at < 0) return;
    // Earlier groups holding one of these tables go first (their rows arrived first).
    for (let i = 0; i < at; i++) {
      const e = this.groups[i]!;
      if ([...e.tables.keys()].some((t) => g.tables.has(t))) {
        this.flushGroup(e);
        return this.flushGroup(g);
      }
    }
    this.groups.splice(at, 1);
    for (const [k, v] of this.open) if (v === g) this.open.delete(k);
    this.pendingRows -= g.rows;
    if (g.tables.size === 1) this.appendTable(g);
    else this.appendMulti(g);
  }

  /** One table's rows: one message, or pieces when the encoding would be too large (ids on the last). */
  private appendTable(g: Group): void {
    const h = this.h;
    const [table, t] = g.tables.entries().next().value as [string, { parts: Batch[]; rows: number }];
    const schema = h.schema.get(table)!;
    h.stamper.fillSeq(table, t.parts, h.counts.get(table) ?? 0);
    // A batch whose encoding is too large is split; the feed ids ride on the last piece. One that
    // fits (the rule) is written straight from its parts (log_encode.ts).
    const pieces = Math.max(1, Math.ceil(g.bytes / h.settings.batchBytesMax));
    const batch = pieces === 1 ? undefined : concatBatches(schema, t.parts);
    const total = t.rows;
    const step = Math.ceil(total / pieces);
    const ids = idsOf(g.waiters);
    let remaining = Math.ceil(total / step); // pieces actually cut (may be fewer than asked)
    let lastSeq = 0;
    let failure: TickbusError | undefined;
    for (let from = 0; from < total; from += step) {
      const n = Math.min(total, from + step) - from;
      const count = (h.counts.get(table) ?? 0) + n;
      h.counts.set(table, count);
      let data: Uint8Array;
      if (batch === undefined) data = encodeLogBatch(BATCH_TYPE, schema, h.day, t.parts, total);
      else {
        const piece = sliceBatch(batch, from, from + n);
        data = encode({ type: BATCH_TYPE, table, day: h.day, n: piece.n, cols: piece.cols });
      }
      const headers: Record<string, string> = { [Header.contentType]: 'application/cbor', [Header.day]: h.day, [Header.count]: String(count) };
      if (ids && from + step >= total) headers[Header.ids] = ids;
      h.stats.appends++;
      h.append({
        subject: subjects.tick(h.settings.name, table),
        data,
        headers,
        done: (err, seq) => {
          if (err) failure = err;
          else h.loggedCounts.set(table, count); // acks complete in log order
          lastSeq = Math.max(lastSeq, seq);
          if (--remaining > 0) return;
          h.completed(g.waiters, failure, lastSeq);
        },
      });
    }
  }

  /**
   * Appends `batches` now as one message (one table: a batch; several: a multi-table message),
   * with extra headers (a buffer replay's Tb-Buffer-From). Resolves with its sequence.
   */
  appendNow(batches: readonly Batch[], extra: Record<string, string>): Promise<number> {
    const g: Group = { tables: new Map(), rows: 0, bytes: 0, waiters: [] };
    for (const b of batches) {
      let t = g.tables.get(b.table);
      if (!t) g.tables.set(b.table, (t = { parts: [], rows: 0 }));
      t.parts.push(b);
      t.rows += b.n;
      g.rows += b.n;
    }
    return new Promise((resolve, reject) => this.appendMulti(g, extra, (err, seq) => (err ? reject(err) : resolve(seq))));
  }

  /** Several tables' rows: one tickbus.v1.multi message on `tick.<tp>._multi`, all or none (one table: a batch message). */
  private appendMulti(g: Group, extra?: Record<string, string>, then?: (err: TickbusError | undefined, seq: number) => void): void {
    const h = this.h;
    const parts: MultiPart[] = [];
    const counts: Array<[string, number]> = [];
    for (const [table, t] of g.tables) {
      const before = h.counts.get(table) ?? 0;
      h.stamper.fillSeq(table, t.parts, before);
      h.counts.set(table, before + t.rows);
      counts.push([table, before + t.rows]);
      parts.push({ schema: h.schema.get(table)!, parts: t.parts, n: t.rows });
    }
    const one = parts.length === 1 ? parts[0]! : undefined;
    const headers: Record<string, string> = { [Header.contentType]: 'application/cbor', [Header.day]: h.day, ...extra };
    if (one) headers[Header.count] = String(counts[0]![1]);
    else headers[Header.counts] = formatCounts(counts);
    const ids = idsOf(g.waiters);
    if (ids) headers[Header.ids] = ids;
    h.stats.appends++;
    h.append({
      subject: one ? subjects.tick(h.settings.name, one.schema.name) : subjects.multi(h.settings.name),
      data: one ? encodeLogBatch(BATCH_TYPE, one.schema, h.day, one.parts, one.n) : encodeMultiBatch(MULTI_TYPE, BATCH_TYPE, h.day, parts),
      headers,
      done: (err, seq) => {
        if (!err) for (const [t, n] of counts) h.loggedCounts.set(t, n);
        h.completed(g.waiters, err, seq);
        then?.(err, seq);
      },
    });
  }
}

function idsOf(ws: readonly Waiter[]): string {
  let ids = '';
  for (const w of ws) if (w.id !== undefined) ids = ids ? `${ids},${w.id}` : w.id;
  return ids;
}
