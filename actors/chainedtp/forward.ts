// The chained tickerplant's forwarder (log mode `create`): takes the parent's log events in order
// (bus/subscriber.ts), keeps the chained tp's tables and syms, and appends them to its own log
// TICK_<name> through the tickerplant's LogWriter (in order, pipelined, retried), either one
// message per parent batch (pubFreqMs 0; an unfiltered batch goes as its original bytes) or
// coalesced per table on a timer. End-of-period and end-of-day markers follow in the same order,
// after every batch before them is acknowledged, with the chained tp's own counts.
//
// Every message carries Tb-Parent-Seq, the watermark: every parent message up to that sequence is
// in this log (or was filtered out). A restarted chained tp reads it from its log's last message
// and resumes the parent's log after it: no gap, no duplicate (decision 99).
import type { JetStreamManager } from '@nats-io/jetstream';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { batchMismatch, type Rejects } from './reject.ts';
import type { Logger } from '../../bus/log.ts';
import { ensureStream, lastMessage, logStreamConfig } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import type { BatchEvent, EodEvent, EopEvent, TickEvent } from '../../bus/subscriber.ts';
import { estimateBytes, type Batch } from '../../storage/batch.ts';
import type { Schema, TableSchema } from '../../storage/schema.ts';
import { BATCH_TYPE, EOD_TYPE } from '../tickerplant/ingest.ts';
import { encodeLogBatch, encodeMultiBatch, type MultiPart } from '../tickerplant/log_encode.ts';
import { formatCounts, MULTI_TYPE } from '../tickerplant/batching.ts';
import { lastCounts } from '../tickerplant/recovery.ts';
import type { LogWriter } from '../tickerplant/log_writer.ts';
import { EOP_TYPE } from '../tickerplant/periods.ts';
import type { OwnEop } from './manifest.ts';
import type { ChainedTpSettings } from './settings.ts';

/** What the chained tp's own log says at start: where to resume and the counts to continue. */
export interface OwnLogState {
  /** The own log's last sequence (the writer's first expectation). */
  lastSeq: number;
  /** The watermark: parent messages up to here are forwarded; 0 = nothing forwarded yet. */
  parentSeq: number;
  /** The current day ('' until the first batch). */
  day: string;
  /** Rows per table of the day in the own log (its Tb-Count). */
  counts: Map<string, number>;
  /** The current period's first own sequence (0 = the next append), and the day counts at its start. */
  periodFirstSeq: number;
  periodBase: Map<string, number>;
  /** The own log's last end-of-period marker and its sequence (its manifest entry is mended at start). */
  lastEop?: { marker: OwnEop; seq: number };
}

/** The own log's largest message (its max_msg_size): maxMessageBytes, and room for two full coalesced batches. */
export function ownMaxMsgBytes(s: ChainedTpSettings): number {
  return Math.max(s.maxMessageBytes, s.batchBytesMax * 2);
}

/** Room kept in an own log message for its headers and the encoding's framing. */
const MSG_HEADROOM_BYTES = 1_024;

/** Creates (or updates) the own log and reads back the watermark, day, counts and period. */
export async function recoverOwnLog(jsm: JetStreamManager, s: ChainedTpSettings, schema: Schema): Promise<OwnLogState> {
  const stream = streams.log(s.name);
  await ensureStream(jsm, logStreamConfig(s.name, { retentionMs: s.logRetentionMs, duplicateWindowMs: 120_000, maxMsgBytes: ownMaxMsgBytes(s), replicas: s.replicas }));
  const info = await jsm.streams.info(stream);
  const lastSeq = info.state.last_seq;
  let parentSeq = 0;
  if (info.state.messages > 0) {
    const last = await jsm.streams.getMessage(stream, { seq: lastSeq });
    const h = last?.header.get(Header.parentSeq);
    parentSeq = Number(h);
    if (!h || !Number.isSafeInteger(parentSeq) || parentSeq < 0) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `the last message of ${stream} (seq ${lastSeq}) has no ${Header.parentSeq} header: another process writes this chained tickerplant's log`, { stream, seq: lastSeq });
    }
  }
  const { day, lastDays: last, eodSeq } = await lastCounts(jsm, s.name, schema.keys());
  const counts = new Map([...schema.keys()].map((t) => [t, last.get(t)?.day === day ? last.get(t)!.count : 0]));
  const dayStart = eodSeq ? eodSeq + 1 : Math.max(1, info.state.first_seq);
  const eop = await lastMessage(jsm, stream, subjects.eop(s.name));
  let periodFirstSeq = dayStart <= lastSeq ? dayStart : 0;
  let periodBase = new Map([...schema.keys()].map((t) => [t, 0]));
  const lastEop = eop ? { marker: decode<OwnEop & { dayCounts?: Record<string, number> }>(eop.data), seq: eop.seq } : undefined;
  if (lastEop && eop!.seq >= dayStart) {
    periodFirstSeq = eop!.seq < lastSeq ? eop!.seq + 1 : 0;
    const dc = lastEop.marker.dayCounts ?? {};
    periodBase = new Map([...schema.keys()].map((t) => [t, dc[t] ?? 0]));
  }
  return { lastSeq, parentSeq, day, counts, periodFirstSeq, periodBase, ...(lastEop ? { lastEop } : {}) };
}

interface Pending {
  table: string;
  day: string;
  parts: Batch[];
  rows: number;
  bytes: number;
  /** The first parent sequence among the parts. */
  firstParentSeq: number;
}

export interface ForwarderStats {
  /** Parent batches taken, rows taken, own messages appended, markers forwarded. */
  batchesIn: number;
  rowsIn: number;
  messagesOut: number;
  rawOut: number;
  markers: number;
  /** Parent messages that did not decode (skipped by the subscriber, counted here, kept as rejected). */
  skipped: number;
  /** Parent batches (or parts of a multi-table message) that do not fit: not the schema, too large (rejected, kept in TICKERR_<name>). */
  unfit: number;
}

export class Forwarder {
  private readonly pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pendingRows = 0;
  private pendingBytes = 0;
  /** The own log's last acknowledged sequence. */
  private ownSeq: number;
  /** Tick by tick: the parts taken so far of a multi-table parent message (forwarded together, as one message). */
  private multiStash: BatchEvent[] = [];
  /** The parent sequence of a multi-table message whose parts are still coming: no flush may cover it yet. */
  private openMulti: number | undefined;
  readonly stats: ForwarderStats = { batchesIn: 0, rowsIn: 0, messagesOut: 0, rawOut: 0, markers: 0, skipped: 0, unfit: 0 };

  constructor(
    private readonly writer: LogWriter,
    private readonly s: ChainedTpSettings,
    private readonly schema: Schema,
    private readonly st: OwnLogState,
    /** The parent subscription's last sequence read (filtered messages included). */
    private readonly lastRead: () => number,
    private readonly logger: Logger,
    /** Called with each own end-of-period marker once it is in the log (the manifest entry). */
    private readonly onPeriod: (marker: OwnEop, seq: number) => void = () => {},
    /** Where parent messages it cannot forward are kept (absent: counted and logged only). */
    private readonly rejects?: Rejects,
  ) {
    this.ownSeq = st.lastSeq;
    this.fitBytes = ownMaxMsgBytes(s) - MSG_HEADROOM_BYTES;
  }

  /** Largest parent batch forwarded (encoded bytes, estimated when not raw). */
  private readonly fitBytes: number;

  /** The watermark last appended (parent sequence). */
  get parentSeq(): number {
    return this.st.parentSeq;
  }

  get day(): string {
    return this.st.day;
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.st.counts);
  }

  /** Takes one parent event; resolves when the forwarder may take the next (bounded appends in flight). */
  async onEvent(e: TickEvent): Promise<void> {
    if (e.type === 'skipped') {
      this.stats.skipped++;
      if (this.rejects) this.rejects.keep({ seq: e.seq, subject: e.subject, table: '', code: ErrorCode.BAD_ENCODING, reason: e.reason, data: e.data ?? new Uint8Array(0) });
      else this.logger.warn({ seq: e.seq, subject: e.subject, reason: e.reason }, 'chained tp skipped an unreadable parent log message');
      return;
    }
    if (e.type === 'batch') this.onBatch(e);
    else await this.onMarker(e);
    if (this.writer.depth >= this.s.appendsInflightMax) await this.writer.drained();
  }

  private onBatch(e: BatchEvent): void {
    // A multi-table parent message (one atomic append) is several events with one sequence; it is
    // forwarded whole or not at all, so a crash never leaves half of it in the own log.
    const lastPart = e.parts === undefined || e.part === e.parts - 1;
    const schema = this.tableSchema(e);
    if (schema) {
      this.stats.batchesIn++;
      this.stats.rowsIn += e.batch.n;
      // Flushes before this batch is taken say so: its sequence is not covered yet.
      if (this.st.day !== e.day) {
        this.flush(e.seq - 1);
        this.newDay(e.day);
      }
    }
    if (this.s.pubFreqMs === 0) {
      if (schema) this.multiStash.push(e);
      if (!lastPart) {
        this.openMulti = e.seq;
        return;
      }
      const parts = this.multiStash;
      this.multiStash = [];
      this.openMulti = undefined;
      if (parts.length === 1) this.appendBatch(this.schema.get(parts[0]!.table)!, parts[0]!.day, [parts[0]!.batch], parts[0]!.batch.n, e.seq, parts[0]!.raw);
      else if (parts.length > 1) this.appendMulti(parts.map((x) => ({ schema: this.schema.get(x.table)!, parts: [x.batch], n: x.batch.n })), e.day, e.seq);
      return;
    }
    this.openMulti = lastPart ? undefined : e.seq;
    if (!schema) return;
    let p = this.pending.get(e.table);
    if (p && p.day !== e.day) {
      this.flush(e.seq - 1);
      p = undefined;
    }
    const bytes = estimateBytes(e.batch);
    // A flush is one message: what is pending goes first when this batch would take it past the
    // bound, unless earlier parts of this same parent message are pending (never split one).
    if (this.pendingBytes > 0 && this.pendingBytes + bytes > this.fitBytes && !e.part) {
      this.flush(e.seq - 1);
      p = undefined;
    }
    if (!p) this.pending.set(e.table, (p = { table: e.table, day: e.day, parts: [], rows: 0, bytes: 0, firstParentSeq: e.seq }));
    p.parts.push(e.batch);
    p.rows += e.batch.n;
    p.bytes += bytes;
    this.pendingRows += e.batch.n;
    this.pendingBytes += bytes;
    // Bounded over all tables (a flush is one message); never in the middle of a multi-table message.
    if (lastPart && (this.pendingRows >= this.s.batchRowsMax || this.pendingBytes >= this.s.batchBytesMax)) this.flush(e.seq);
    else this.timer ??= setTimeout(() => this.flush(), this.s.pubFreqMs);
  }

  /**
   * The schema of a forwarded table; undefined = not forwarded: a table this chained tp's config
   * lacks (filtered), or a batch it cannot forward (not its schema, too large for its own log:
   * rejected, kept in TICKERR_<name>, the watermark passes it). Checked on every batch, O(columns).
   */
  private tableSchema(e: BatchEvent): TableSchema | undefined {
    const schema = this.schema.get(e.table);
    if (!schema) return undefined;
    const bad = batchMismatch(schema, e.batch) ?? this.tooLarge(e);
    if (!bad) return schema;
    this.stats.unfit++;
    const data = e.raw ?? encode({ type: BATCH_TYPE, table: e.table, day: e.day, n: e.batch.n, cols: e.batch.cols });
    if (this.rejects) this.rejects.keep({ seq: e.seq, subject: subjects.tick(this.s.parent, e.table), table: e.table, ...bad, data });
    else this.logger.warn({ seq: e.seq, table: e.table, ...bad }, 'chained tp rejected a parent batch');
    return undefined;
  }

  private tooLarge(e: BatchEvent): { code: typeof ErrorCode.MESSAGE_TOO_LARGE; reason: string } | undefined {
    const bytes = e.raw?.length ?? estimateBytes(e.batch);
    if (bytes <= this.fitBytes) return undefined;
    return { code: ErrorCode.MESSAGE_TOO_LARGE, reason: `table ${e.table}: a parent batch of ${e.batch.n} rows (${bytes} bytes) exceeds the chained tp's log message bound (${this.fitBytes} bytes; maxMessageBytes)` };
  }

  /**
   * Appends every pending table now as one message (one table's batch, or a multi-table message:
   * all or nothing, also across a crash) with watermark `readUpTo`: every parent message up to it
   * is pending or filtered (default: the last one read, for a timer's flush between events). A
   * timer's flush while a multi-table parent message is half taken waits for its last part.
   */
  flush(readUpTo?: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    if (readUpTo === undefined && this.openMulti !== undefined) {
      this.timer = setTimeout(() => this.flush(), Math.max(1, this.s.pubFreqMs));
      return;
    }
    const upTo = readUpTo ?? this.lastRead();
    const all = [...this.pending.values()].sort((a, b) => a.firstParentSeq - b.firstParentSeq);
    this.pending.clear();
    this.pendingRows = 0;
    this.pendingBytes = 0;
    if (all.length === 1) this.appendBatch(this.schema.get(all[0]!.table)!, all[0]!.day, all[0]!.parts, all[0]!.rows, upTo);
    else this.appendMulti(all.map((p) => ({ schema: this.schema.get(p.table)!, parts: p.parts, n: p.rows })), all[0]!.day, upTo);
  }

  /** Several tables in one own log message (tickbus.v1.multi, Tb-Counts): one append. */
  private appendMulti(tables: MultiPart[], day: string, watermark: number): void {
    const counts: Array<[string, number]> = tables.map((t) => {
      const c = (this.st.counts.get(t.schema.name) ?? 0) + t.n;
      this.st.counts.set(t.schema.name, c);
      return [t.schema.name, c];
    });
    const data = encodeMultiBatch(MULTI_TYPE, BATCH_TYPE, day, tables);
    this.append(subjects.multi(this.s.name), data, { [Header.day]: day, [Header.counts]: formatCounts(counts) }, watermark).catch(() => {});
  }

  private appendBatch(schema: TableSchema, day: string, parts: Batch[], n: number, watermark: number, raw?: Uint8Array): void {
    const table = schema.name;
    const count = (this.st.counts.get(table) ?? 0) + n;
    this.st.counts.set(table, count);
    const data = raw ?? encodeLogBatch(BATCH_TYPE, schema, day, parts, n);
    if (raw) this.stats.rawOut++;
    // A failed append is the writer's to report (onFatal): the chained tp recovers from its log.
    this.append(subjects.tick(this.s.name, table), data, { [Header.day]: day, [Header.count]: String(count) }, watermark).catch(() => {});
  }

  private append(subject: string, data: Uint8Array, headers: Record<string, string>, watermark: number): Promise<number> {
    this.st.parentSeq = Math.max(this.st.parentSeq, watermark);
    return new Promise((resolve, reject) =>
      this.writer.append({
        subject,
        data,
        headers: { [Header.contentType]: 'application/cbor', ...headers, [Header.parentSeq]: String(this.st.parentSeq) },
        done: (err, seq) => {
          if (err) return reject(err);
          this.ownSeq = Math.max(this.ownSeq, seq);
          if (this.st.periodFirstSeq === 0) this.st.periodFirstSeq = seq;
          this.stats.messagesOut++;
          resolve(seq);
        },
      }),
    );
  }

  /** A marker goes after everything before it is acknowledged (the tickerplant's rule), with own counts. */
  private async onMarker(e: EodEvent | EopEvent): Promise<void> {
    this.flush(e.seq - 1); // the marker itself is not in the log until its own append

    await this.writer.drained();
    const day = e.day;
    if (!this.st.day) this.st.day = day;
    const dayCounts = Object.fromEntries(this.st.counts);
    this.stats.markers++;
    if (e.type === 'eod') {
      const marker = { type: EOD_TYPE, day: e.day, nextDay: e.nextDay, counts: dayCounts, time: e.time ?? 0n };
      await this.append(subjects.eod(this.s.name), encode(marker), { [Header.day]: e.day }, e.seq);
      this.newDay(e.nextDay);
      return;
    }
    const tables = e.tables.length ? e.tables.filter((t) => this.schema.has(t)) : [...this.schema.keys()];
    const counts = Object.fromEntries(tables.map((t) => [t, (this.st.counts.get(t) ?? 0) - (this.st.periodBase.get(t) ?? 0)]));
    const marker: OwnEop & Record<string, unknown> = {
      type: EOP_TYPE,
      day: e.day,
      period: e.period,
      nextPeriod: e.nextPeriod,
      ...(e.start !== undefined ? { start: e.start, end: e.end } : {}),
      tables,
      counts,
      dayCounts,
      firstSeq: this.st.periodFirstSeq || this.ownSeq + 1,
      time: e.time ?? 0n,
      ...(e.by !== undefined ? { by: e.by } : {}),
      ...(e.reason !== undefined ? { reason: e.reason } : {}),
    };
    const seq = await this.append(subjects.eop(this.s.name), encode(marker), { [Header.day]: e.day }, e.seq);
    this.onPeriod(marker, seq);
    this.st.periodFirstSeq = 0;
    this.st.periodBase = new Map(this.st.counts);
  }

  private newDay(day: string): void {
    this.st.day = day;
    for (const t of this.st.counts.keys()) this.st.counts.set(t, 0);
    this.st.periodFirstSeq = 0;
    this.st.periodBase = new Map([...this.st.counts.keys()].map((t) => [t, 0]));
  }

  /** Rows waiting for the timer (all tables). */
  get rowsPending(): number {
    return this.pendingRows;
  }

  get bytesPending(): number {
    return this.pendingBytes;
  }

  /** Stops the timer; what is pending is dropped (the watermark makes a restart read it again). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
