// The tickerplant's hot path and its I/O: feed requests in, validated and stamped columnar
// batches appended to the log stream, acks out after the append is durable. The machine
// (machine.ts) decides when to recover, roll the day and stop; this class does the work.
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import { encodingOf, type Encoding } from '../../bus/codec.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import type { Batch } from '../../storage/batch.ts';
import { defineSchema, type Schema, type TableSchema } from '../../storage/schema.ts';
import { tradingDay, type Clock } from '../common/clock.ts';
import { BulkAcks, Replies } from './acks.ts';
import { checkMultiFits, checkRoom, checkSize, hasRoom, tableSchemaOf, updBody, waiterFor } from './admission.ts';
import { Batcher } from './batching.ts';
import { Answers } from './completion.ts';
import { FeedIds } from './dedupe.ts';
import { feedIdOf, type FeedRequest, inboxMax, SmallUpdates, tablesOf, updTarget, type Waiter } from './feed.ts';
import { type AppendRequest, LogWriter } from './log_writer.ts';
import { type EopMarker, type EopRequest, Periods } from './periods.ts';
import { checkTickerplantSettings, type TickerplantSettings } from './settings.ts';
import { Stamper } from './stamping.ts';
import { readLogPosition } from './recovery.ts';
import { Rolls } from './rolls.ts';
import { type BufferEventInfo, BufferEvents, type BufferFunct, holdAll } from './buffer.ts';

export { UPD_TYPE } from './admission.ts';
export { feedIdOf } from './feed.ts';
export { ACK_TYPE } from './completion.ts';
export { BATCH_TYPE, MULTI_TYPE } from './batching.ts';
export { EOD_TYPE, type EodMarker } from './rolls.ts';
/** Bound on the dedupe-id scan during recovery. */
const idsScanTimeoutMs = 60_000;

export interface RecoveredState {
  day: string;
  counts: Record<string, number>;
  lastSeq: number;
  idsRestored: number;
  /** The current period's start when the log's last end-of-period marker names it (same day). */
  periodStartMs?: number;
}

export class Ingest {
  readonly schema: Schema;
  day = '';
  /** Rows per table of the day so far, including appends in flight (the next Tb-Count builds on it). */
  readonly counts = new Map<string, number>();
  /** Rows per table of the day that the log holds (acked appends, in log order). */
  readonly loggedCounts = new Map<string, number>();
  private paused = true;
  /** False while recovering: feeds get NOT_READY and retry (the dedupe set is being rebuilt). */
  private recovered = false;
  /** Pending rows and the batching mode (batching.ts). */
  private readonly batcher: Batcher;
  /** Stamps and stamped columns (stamping.ts). */
  readonly stamper: Stamper;
  /** Requests received and not yet read (bounded by inboxMax; drained once per event-loop turn). */
  private inbox: Msg[] = [];
  private drainScheduled = false;
  private readonly seen: FeedIds;
  private subs: Subscription[] = [];
  private pipeline: Pipeline;
  private writer: LogWriter;
  /** Set by the runtime: called when the log cannot be appended to (the machine recovers). */
  onFatal: (err: TickbusError) => void = () => {};
  readonly stats = { updates: 0, rows: 0, rejected: 0, duplicates: 0, appends: 0, heldRetries: 0 };
  /** Acks of durable appends for feeds that asked for bulk acks, sent once per append completion. */
  private readonly acks: BulkAcks;
  private readonly replies: Replies;
  /** Acks and duplicate answers (completion.ts). */
  private readonly answers: Answers;
  /** End of period: the markers, their state and the manifest (periods.ts). */
  readonly periods: Periods;
  /** Buffer events (buffer.ts): the open event, held rows, start/end, replay. */
  readonly buffers: BufferEvents;
  /** An end or replay of a buffer event that recovery found unfinished: run once live. */
  private bufferPending: (() => Promise<unknown>) | undefined;
  /** Feed ids whose held part is in a buffer log but whose live part is not (restoreHeld), with their event. */
  private readonly heldBefore = new Map<string, { event: BufferEventInfo; seq: number }>();
  /** End of day and end of period (rolls.ts). */
  private readonly rolls: Rolls;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly settings: TickerplantSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
    bufferFunct: BufferFunct = holdAll,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    checkTickerplantSettings(settings);
    this.schema = defineSchema(settings.tables);
    this.stamper = new Stamper(this.schema, settings, clock);
    this.batcher = new Batcher({
      settings,
      schema: this.schema,
      stamper: this.stamper,
      counts: this.counts,
      loggedCounts: this.loggedCounts,
      stats: this.stats,
      get day() {
        return self.day;
      },
      get isPaused() {
        return self.paused;
      },
      append: (req: AppendRequest) => this.writer.append(req),
      completed: (ws, err, seq) => {
        for (const w of ws) this.answers.complete(w, err, seq);
        this.acks.flush();
      },
    });
    this.pipeline = new Pipeline(nc, { timeoutMs: settings.appendTimeoutMs, maxInflight: settings.appendsInflightMax * 2 + 64 });
    this.replies = new Replies(nc, this.pipeline, settings.name, logger, this.stats);
    this.acks = new BulkAcks((subject, data) => this.replies.publish(subject, data));
    this.seen = new FeedIds(settings, clock);
    this.answers = new Answers(this.seen, this.replies, this.acks, this.stats);
    this.writer = this.newWriter(0);
    this.writer.close(); // recover() opens the writer on the log's last sequence
    this.buffers = new BufferEvents(
      {
        settings,
        schema: this.schema,
        get isPaused() {
          return self.paused;
        },
        append: (req) => this.writer.append(req),
        appendLive: (batches, extra) => this.batcher.appendNow(batches, extra),
        flushAll: () => {
          this.drain();
          this.batcher.flushAll();
        },
        now: () => this.stamper.now(),
      },
      nc,
      jsm,
      bufferFunct,
      logger,
    );
    this.periods = new Periods(nc, jsm, settings, [...this.schema.keys()], logger, (subject, data, headers) => this.appendMarker(subject, data, headers));
    for (const t of this.schema.keys()) {
      this.counts.set(t, 0);
      this.loggedCounts.set(t, 0);
    }
    this.rolls = new Rolls({
      name: settings.name,
      counts: this.counts,
      loggedCounts: this.loggedCounts,
      periods: this.periods,
      logger,
      flushAndPause: () => {
        this.drain();
        this.flushAll();
        this.pause();
      },
      drained: () => this.writer.drained(),
      appendMarker: (subject, data, headers) => this.appendMarker(subject, data, headers),
      markerTime: () => this.markerTime(),
      setDay: (day) => this.setDay(day),
    });
  }

  private newWriter(lastSeq: number): LogWriter {
    return new LogWriter(this.pipeline, {
      appendTimeoutMs: this.settings.appendTimeoutMs,
      appendRetryWindowMs: this.settings.appendRetryWindowMs,
      appendRetryDelayMs: this.settings.appendRetryDelayMs,
      logger: this.logger,
      lastSeq,
      streamLastSeq: async () => (await this.jsm.streams.info(streams.log(this.settings.name))).state.last_seq,
      onFatal: (e) => {
        // Counts and the writer's expectations are unknown until the log is read again: take no
        // update until recovery (feeds get NOT_READY and retry with the same ids).
        this.recovered = false;
        this.pause();
        this.onFatal(e);
      },
    });
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Rebuilds the tickerplant's state from the log: the current day, per-table counts and the
   * feed ids appended within the dedupe window. A restarted tickerplant continues the stream
   * with no loss and no renumbering.
   */
  async recover(): Promise<RecoveredState> {
    const s = this.settings;
    this.paused = true;
    this.recovered = false;
    const { day, lastDays, eodSeq } = await readLogPosition(this.jsm, s, this.schema, this.clock);
    const stream = streams.log(s.name);
    // The log is in order (see log_writer.ts), so the last batch of a table carries the day's
    // count of that table up to the end of the log.
    for (const table of this.schema.keys()) {
      const l = lastDays.get(table);
      this.counts.set(table, l && l.day === day ? l.count : 0);
      this.loggedCounts.set(table, this.counts.get(table)!);
    }
    const info = await this.jsm.streams.info(stream);
    const periodStartMs = await this.periods.recover(day, eodSeq, info.state.first_seq);
    const held: Array<[string, string, number]> = [];
    const idsRestored = await this.seen.restore(this.nc, stream, info.state.last_seq, info.state.last_ts, idsScanTimeoutMs, (id, subject, seq) => held.push([id, subject, seq]));
    await this.restoreHeld(held);
    this.writer.close();
    this.writer = this.newWriter(info.state.last_seq);
    this.bufferPending = (await this.buffers.recover()).pending;
    this.setDay(day);
    this.recovered = true;
    this.logger.info({ day, counts: Object.fromEntries(this.counts), lastSeq: info.state.last_seq, idsRestored }, 'tickerplant recovered from log');
    return { day, counts: Object.fromEntries(this.counts), lastSeq: info.state.last_seq, idsRestored, periodStartMs };
  }

  /**
   * Updates whose held part a buffer log holds but whose live part the log does not (their ids are
   * not in Tb-Ids): a crash came between the two appends. Their retries take the live rows only,
   * split as in their event (which may have ended by then), so no held row is logged twice.
   */
  private async restoreHeld(held: Array<[string, string, number]>): Promise<void> {
    this.heldBefore.clear();
    const events = new Map<string, BufferEventInfo | undefined>();
    for (const [id, subject, seq] of held) {
      if (this.seen.get(id)) continue; // the live part (or the whole update) is in the log
      if (!events.has(subject)) events.set(subject, await this.buffers.eventOf(subject));
      const event = events.get(subject);
      if (event) this.heldBefore.set(id, { event, seq });
    }
    if (this.heldBefore.size) this.logger.warn({ updates: this.heldBefore.size }, 'updates held in a buffer log before the restart without their live rows; their retries append the live rows only');
  }

  // ---------------------------------------------------------------- feed side

  async listen(): Promise<void> {
    const cb = (err: Error | null, msg: Msg) => {
      if (!err) this.handle(msg);
    };
    this.subs = [
      this.nc.subscribe(subjects.updWildcard(this.settings.name), { callback: cb }),
      this.nc.subscribe(subjects.updMulti(this.settings.name), { callback: cb }),
    ];
    await this.nc.flush();
  }

  resume(): void {
    this.paused = false;
    this.flushAll();
    const pending = this.bufferPending;
    this.bufferPending = undefined;
    pending?.().catch((e: Error) => this.logger.error({ err: e.message }, 'finishing a buffer event after the restart failed; the next recovery tries again'));
  }

  pause(): void {
    this.paused = true;
  }

  /**
   * One feed request. Requests are read as they arrive and validated in one pass per event-loop
   * turn (drain): small row updates of one table that arrive together are validated as one batch.
   */
  handle(msg: Msg): void {
    this.inbox.push(msg);
    if (this.inbox.length >= inboxMax) this.drain();
    else if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(this.drainNow);
    }
  }

  private readonly drainNow = () => {
    this.drainScheduled = false;
    this.drain();
  };

  /** Validates and queues what arrived, in arrival order; replies at once on error. */
  drain(): void {
    if (this.inbox.length === 0) return;
    const msgs = this.inbox;
    this.inbox = [];
    const groups = new SmallUpdates(this.settings.maxRowsPerUpdate);
    for (const msg of msgs) {
      const r = this.read(msg);
      if (r === undefined) continue;
      // While a buffer event is open each update goes through the bufferFunct on its own.
      if (!this.buffers.open && !(r.id !== undefined && this.heldBefore.has(r.id)) && groups.add(r, this.schema)) continue;
      // Anything else keeps its place: what was grouped before it goes first. A retry of a
      // grouped request is a duplicate of it once the group is in (the id is remembered then).
      this.acceptGroups(groups);
      if (r.id !== undefined && this.answers.replyIfSeen(r.id, r.msg.reply, r.encoding)) continue;
      this.accept(r);
    }
    this.acceptGroups(groups);
  }

  /** Checks and decodes one request; undefined when it was answered already (error or duplicate). */
  private read(msg: Msg): FeedRequest | undefined {
    let encoding: Encoding = 'cbor';
    try {
      encoding = encodingOf(msg.headers?.get(Header.contentType));
      checkSize(msg.data.length, this.settings.maxMessageBytes);
      if (!this.recovered) throw new TickbusError(ErrorCode.NOT_READY, 'tickerplant is recovering from its log; retry shortly', {});
      const target = updTarget(msg.subject);
      const body = updBody(msg.data, encoding);
      const id = feedIdOf(msg.headers?.get(Header.feedId) || body.id);
      if (id !== undefined && this.answers.replyIfSeen(id, msg.reply, encoding)) return undefined;
      return { msg, encoding, body, id, table: target?.table, bulk: body.ack === 'bulk' && encoding === 'cbor' };
    } catch (e) {
      this.fail(msg, encoding, e, '_unknown');
      return undefined;
    }
  }

  /** Validates one request on its own and queues it. */
  private accept(r: FeedRequest): void {
    let tablesForError = '_unknown';
    try {
      const parts = tablesOf(r.table, r.body);
      tablesForError = parts.map(([t]) => t).join(',');
      const stamp = this.stamper.now();
      const batches = parts.map(([t, data]) => this.stamper.batch(this.tableSchema(t), data, stamp, this.settings.maxRowsPerUpdate));
      let rows = 0;
      for (const b of batches) rows += b.n;
      if (batches.length > 1) checkMultiFits(batches, this.settings.batchBytesMax);
      checkRoom(this.batcher.pendingRows, rows, this.writer.depth, this.settings);
      const heldBefore = r.id === undefined ? undefined : this.heldBefore.get(r.id);
      if (heldBefore) return this.acceptRestOfHeld(r, batches, rows, heldBefore);
      if (this.buffers.open) return this.acceptBuffered(r, batches, rows);
      const w = waiterFor(r, rows);
      this.admit(w);
      this.batcher.enqueue(batches, [w]);
    } catch (e) {
      this.fail(r.msg, r.encoding, e, tablesForError);
    }
  }

  /**
   * An update during a buffer event: the bufferFunct splits it; held rows are appended to the
   * event's log first, live rows join their batch; the ack waits for both (BUFFER_FULL before either).
   */
  private acceptBuffered(r: FeedRequest, batches: Batch[], rows: number): void {
    const { live, held, heldBytes } = this.buffers.split(batches);
    const w = waiterFor(r, rows, (live.length ? 1 : 0) + (held.length ? 1 : 0));
    this.admit(w);
    if (held.length) {
      this.buffers.hold(held, heldBytes, w, live.length > 0, this.day, (err, seq) => {
        this.answers.complete(w, err, seq);
        this.acks.flush();
      });
    }
    if (live.length) this.batcher.enqueue(live, [w]);
  }

  /** The retry of an update whose held part is logged already: its live rows only (restoreHeld). */
  private acceptRestOfHeld(r: FeedRequest, batches: Batch[], rows: number, h: { event: BufferEventInfo; seq: number }): void {
    const { live } = this.buffers.splitFor(h.event, batches);
    const w = waiterFor(r, rows);
    this.admit(w);
    this.heldBefore.delete(r.id!);
    this.stats.heldRetries++;
    if (live.length) this.batcher.enqueue(live, [w]);
    else {
      this.answers.complete(w, undefined, h.seq);
      this.acks.flush();
    }
  }

  /**
   * Small row updates grouped per table: one validation of all their rows (one stamp). If that
   * fails, or the queue has no room for all of them, each is accepted on its own, so every request
   * gets exactly the answer it would have got alone.
   */
  private acceptGroups(groups: SmallUpdates): void {
    for (const [table, g] of groups.take()) {
      if (g.reqs.length > 1) {
        let batch: Batch | undefined;
        try {
          batch = this.stamper.batch(this.tableSchema(table), { rows: g.rows as unknown[][] }, this.stamper.now(), g.rows.length);
        } catch {
          batch = undefined;
        }
        if (batch && hasRoom(this.batcher.pendingRows, batch.n, this.writer.depth, this.settings)) {
          const ws = g.reqs.map((r) => waiterFor(r, (r.body.rows as unknown[]).length));
          for (const w of ws) this.admit(w);
          this.batcher.enqueue([batch], ws);
          continue;
        }
      }
      for (const r of g.reqs) this.accept(r);
    }
  }

  private admit(w: Waiter): void {
    if (w.id !== undefined) this.seen.remember(w.id);
    this.stats.updates++;
    this.stats.rows += w.rows;
  }

  private fail(msg: Msg, encoding: Encoding, e: unknown, table: string): void {
    const err = toTickbusError(e);
    // Capacity answers (queue full, recovering, a full buffer event) are not bad data: not kept in TICKERR.
    if (err.code !== ErrorCode.OVERLOADED && err.code !== ErrorCode.NOT_READY && err.code !== ErrorCode.BUFFER_FULL) this.replies.reject(msg, err, table);
    this.replies.respond(msg.reply, encoding, err.toEnvelope());
  }

  private tableSchema(table: string): TableSchema {
    return tableSchemaOf(this.schema, table);
  }

  flushAll(): void {
    this.batcher.flushAll();
  }

  // ---------------------------------------------------------------- end of day and stop

  private setDay(day: string): void {
    this.day = day;
    if (this.settings.demoDayMs > 0) {
      const real = tradingDay(this.clock.now(), this.settings.eodTime, this.settings.eodZone);
      const days = Math.round((Date.parse(`${day}T00:00:00Z`) - Date.parse(`${real}T00:00:00Z`)) / 86_400_000);
      this.stamper.demoOffsetNs = BigInt(days) * 86_400_000_000_000n;
    }
  }

  /** Ends `day` and starts the next (rolls.ts): its name. */
  rollEod(day: string, period?: EopRequest): Promise<string> {
    return this.rolls.eod(day, period);
  }

  /** Ends the period r (scheduled or manual; rolls.ts). */
  rollEop(r: EopRequest): Promise<EopMarker> {
    return this.rolls.eop(r);
  }

  /** A marker's time, on the stamps' clock: every row before it was stamped before it. */
  private markerTime(): bigint {
    return this.stamper.now();
  }

  private appendMarker(subject: string, data: Uint8Array, headers: Record<string, string>): Promise<number> {
    return new Promise<number>((resolve, reject) => this.writer.append({ subject, data, headers, done: (err, seq) => (err ? reject(err) : resolve(seq)) }));
  }

  /** Stops taking updates, appends what is pending and waits (bounded) for the acks. */
  async stop(timeoutMs = 10_000): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.drain();
    this.flushAll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all([this.buffers.idle(), this.writer.drained(), this.periods.manifestWritten()]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.writer.close();
    this.pipeline.close();
  }

  get rowsPending(): number {
    return this.batcher.pendingRows;
  }
}
