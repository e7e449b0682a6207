// Buffer events (KX bufferEnabled / bufferFunct / bufferLimit): while an event is open, the
// bufferFunct hook decides per update which rows go live and which are held; held rows go to the
// event's buffer log, subject `tickbuf.<tp>.<id>` in the tickerplant's own stream (so they share
// its order, retention and duplicate window, and no subscriber of `tick.<tp>.>` receives them).
// Start and end marks (tickbus.v1.buffer) go into the live log (`tick.<tp>._ctl.buffer`, read by
// subscribers' onBuffer handler) and into the buffer log (its first and last message: an end mark
// there seals it). A restarted tickerplant re-opens an event whose start mark is the live log's
// last buffer mark, and finishes an end (or a replay) that a crash interrupted.
//
// Exactly once across a crash: the held part of an update is appended with Nats-Msg-Id
// `h.<feed id>` BEFORE its live rows, and carries the feed id in Tb-Ids only when the update has
// no live rows; a feed retrying after a crash gets its held part deduplicated by JetStream and its
// live part appended once (the live batch's Tb-Ids are what recovery remembers). Replayed buffer
// messages carry a Tb-Buffer-From header; a replay resumed after a crash reads those headers after
// the end mark and skips what the live log already holds.
import { DeliverPolicy, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { type LogBatchBody, checkBatchBody, multiBodies } from '../../bus/log_batch.ts';
import type { Logger } from '../../bus/log.ts';
import { lastMessage } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import { type Batch, estimateBytes, takeRows } from '../../storage/batch.ts';
import type { Schema } from '../../storage/schema.ts';
import type { Waiter } from './feed.ts';
import { encodeLogBatch, encodeMultiBatch } from './log_encode.ts';
import type { AppendRequest } from './log_writer.ts';
import { BATCH_TYPE, MULTI_TYPE } from './batching.ts';
import { HELD_ID_PREFIX } from './dedupe.ts';
import type { TickerplantSettings } from './settings.ts';

export const BUFFER_TYPE = 'tickbus.v1.buffer';
export const BUFFER_REQUEST_TYPE = 'tickbus.v1.buffer.request';
export const BUFFER_STATUS_TYPE = 'tickbus.v1.buffer.status';

/** The answer to `ctl.<tp>.buffer.status`: the open event (if any), what it holds, and the bound. */
export interface BufferStatus {
  type: typeof BUFFER_STATUS_TYPE;
  tp: string;
  enabled: boolean;
  /** The open event's id, null when none is open. */
  open: string | null;
  /** The open event's buffer log subject and start args. */
  log?: string;
  args?: Record<string, unknown>;
  /** Rows and bytes the open event holds so far (0 when none is open). */
  rows: number;
  bytes: number;
  /** bufferLimitMb, and in bytes: past it feeds get BUFFER_FULL. */
  limitMb: number;
  limitBytes: number;
  /** An ended event's rows are being replayed into the live log. */
  replaying: boolean;
}
/** The built-in bufferFunct: every row of an update is held while an event is open. */
export const HOLD_ALL = 'holdAll';
/** Event ids: a subject token (they name the buffer log's subject). */
const EVENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Bound on the JSON of an event's args. */
const argsBytesMax = 4096;
/** Bound on reading a buffer log or scanning the live log for replayed messages. */
const scanTimeoutMs = 60_000;
/** While the tickerplant is paused (a roll), a replay waits in steps of this long. */
const pausedWaitMs = 50;

/** The event an update arrives in: passed to the bufferFunct. */
export interface BufferEventInfo {
  id: string;
  args: Record<string, unknown>;
}

/**
 * A bufferFunct hook (a named export of settings.hooksModule): given one table's validated
 * batch, returns a mask with a truthy entry for each row to hold (undefined or null: hold none).
 */
export type BufferFunct = (table: string, batch: Batch, event: BufferEventInfo) => ArrayLike<unknown> | undefined | null;

export const holdAll: BufferFunct = (_t, b) => new Uint8Array(b.n).fill(1);

/** A start, end or replayed mark (tickbus.v1.buffer), in the live log and the buffer log. */
export interface BufferMark {
  type: typeof BUFFER_TYPE;
  phase: 'start' | 'end' | 'replayed';
  id: string;
  /** The buffer log: the subject in stream TICK_<tp> that holds the event's rows. */
  log: string;
  args: Record<string, unknown>;
  /** Rows and bytes held so far (on end: the event's totals; on replayed: rows replayed). */
  rows: number;
  bytes: number;
  /** End only: the held rows are to be replayed into the live log. */
  replay?: boolean;
  time: bigint;
}

interface OpenEvent extends BufferEventInfo {
  rows: number;
  bytes: number;
}

/** What the buffer needs from the tickerplant (Ingest). */
export interface BufferHost {
  readonly settings: TickerplantSettings;
  readonly schema: Schema;
  readonly isPaused: boolean;
  append(req: AppendRequest): void;
  /** Appends a live batch (one table) or a multi-table message of `batches` now, with extra headers (replay). */
  appendLive(batches: Batch[], extra: Record<string, string>): Promise<number>;
  /** Appends what is pending and what arrived: marks follow every row taken before them. */
  flushAll(): void;
  now(): bigint;
}

/** `ctl.<tp>.buffer.start` / `.end` body: JSON {type?, id, args?, replay?}. */
export function parseBufferRequest(data: Uint8Array, verb: 'start' | 'end'): { id: string; args: Record<string, unknown>; replay?: boolean } {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_ENCODING, `buffer ${verb} request is not JSON: ${(e as Error).message}`, {});
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TickbusError(ErrorCode.BAD_QUERY, `buffer ${verb} request is not an object`, {});
  if (v.type !== undefined && v.type !== BUFFER_REQUEST_TYPE) throw new TickbusError(ErrorCode.BAD_TYPE, `buffer request type must be ${BUFFER_REQUEST_TYPE}`, { got: v.type });
  const id = typeof v.id === 'number' && Number.isSafeInteger(v.id) && v.id >= 0 ? String(v.id) : v.id;
  if (typeof id !== 'string' || !EVENT_ID_RE.test(id)) throw new TickbusError(ErrorCode.BAD_ID, `buffer event id must match ${EVENT_ID_RE.source} (a non-negative integer is taken as its digits)`, { param: 'id', got: v.id === undefined ? 'nothing' : typeof v.id });
  const args = v.args ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args) || JSON.stringify(args).length > argsBytesMax) {
    throw new TickbusError(ErrorCode.BAD_QUERY, `buffer ${verb} args must be an object of at most ${argsBytesMax} bytes of JSON`, { param: 'args' });
  }
  if (v.replay !== undefined && (verb !== 'end' || typeof v.replay !== 'boolean')) throw new TickbusError(ErrorCode.BAD_QUERY, 'replay is a boolean of an end request', { param: 'replay' });
  return v.replay === undefined ? { id, args: args as Record<string, unknown> } : { id, args: args as Record<string, unknown>, replay: v.replay };
}

export class BufferEvents {
  private event: OpenEvent | undefined;
  /** Held parts JetStream found already appended (retries after a crash), since this start. */
  heldDuplicates = 0;
  /** An end whose replay is still to run (after a crash, or while one runs). */
  private replaying: Promise<BufferMark> | undefined;
  /** Start or end in progress: a second request waits its turn. */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly h: BufferHost,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly funct: BufferFunct,
    private readonly logger: Logger,
  ) {}

  get open(): BufferEventInfo | undefined {
    return this.event;
  }

  // ---------------------------------------------------------------- updates

  /**
   * Splits one update's batches into live and held rows with the bufferFunct. Throws BUFFER_FULL
   * when the held rows would take the event's log past bufferLimitMb (nothing is appended then).
   */
  split(batches: readonly Batch[]): { live: Batch[]; held: Batch[]; heldBytes: number } {
    const ev = this.event!;
    const { live, held, heldBytes } = this.splitFor(ev, batches);
    const limit = this.h.settings.bufferLimitMb * 1024 * 1024;
    if (heldBytes > 0 && ev.bytes + heldBytes > limit) {
      throw new TickbusError(ErrorCode.BUFFER_FULL, `buffer event ${ev.id} holds ${ev.bytes} bytes; ${heldBytes} more would pass bufferLimitMb ${this.h.settings.bufferLimitMb}`, {
        id: ev.id,
        bytes: ev.bytes,
        more: heldBytes,
        limitMb: this.h.settings.bufferLimitMb,
      });
    }
    return { live, held, heldBytes };
  }

  /** The bufferFunct's split of one update's batches in event `ev` (no bound checked). */
  splitFor(ev: BufferEventInfo, batches: readonly Batch[]): { live: Batch[]; held: Batch[]; heldBytes: number } {
    const live: Batch[] = [];
    const held: Batch[] = [];
    let heldBytes = 0;
    for (const b of batches) {
      let mask: ArrayLike<unknown> | undefined | null;
      try {
        mask = this.funct(b.table, b, { id: ev.id, args: ev.args });
      } catch (e) {
        throw new TickbusError(ErrorCode.API_FAILED, `bufferFunct ${this.h.settings.bufferFunct || HOLD_ALL} failed on ${b.table}: ${(e as Error).message}`, { api: this.h.settings.bufferFunct, table: b.table });
      }
      if (mask === undefined || mask === null) {
        live.push(b);
        continue;
      }
      if (typeof mask.length !== 'number' || mask.length !== b.n) {
        throw new TickbusError(ErrorCode.API_FAILED, `bufferFunct ${this.h.settings.bufferFunct || HOLD_ALL} returned ${String(mask.length)} flags for ${b.n} rows of ${b.table}`, { api: this.h.settings.bufferFunct, table: b.table });
      }
      const hold: number[] = [];
      const keep: number[] = [];
      for (let i = 0; i < b.n; i++) (mask[i] ? hold : keep).push(i);
      if (hold.length === 0) live.push(b);
      else if (keep.length === 0) held.push(b);
      else {
        live.push(takeRows(b, keep));
        held.push(takeRows(b, hold));
      }
    }
    for (const b of held) heldBytes += estimateBytes(b);
    return { live, held, heldBytes };
  }

  /**
   * The event whose buffer log is `subject` (its start mark, the log's first message), for a
   * retried update whose held part that log holds; undefined when it cannot be read.
   */
  async eventOf(subject: string): Promise<BufferEventInfo | undefined> {
    const m = await this.jsm.direct.getMessage(streams.log(this.h.settings.name), { seq: 1, next_by_subj: subject }).catch(() => null);
    if (!m) return undefined;
    const mark = decode<Partial<BufferMark>>(m.data);
    return mark.type === BUFFER_TYPE && typeof mark.id === 'string' ? { id: mark.id, args: mark.args ?? {} } : undefined;
  }

  /** Appends an update's held rows to the event's log (one message; before its live rows). */
  hold(held: Batch[], heldBytes: number, w: Waiter, hasLive: boolean, day: string, done: (err: TickbusError | undefined, seq: number) => void): void {
    const ev = this.event!;
    let rows = 0;
    for (const b of held) rows += b.n;
    ev.rows += rows;
    ev.bytes += heldBytes;
    const headers: Record<string, string> = {
      [Header.contentType]: 'application/cbor',
      [Header.day]: day,
      [Header.bufferRows]: String(ev.rows),
      [Header.bufferBytes]: String(ev.bytes),
    };
    if (w.id !== undefined && !hasLive) headers[Header.ids] = w.id;
    const data =
      held.length === 1
        ? encodeLogBatch(BATCH_TYPE, this.h.schema.get(held[0]!.table)!, day, held, held[0]!.n)
        : encodeMultiBatch(MULTI_TYPE, BATCH_TYPE, day, held.map((b) => ({ schema: this.h.schema.get(b.table)!, parts: [b], n: b.n })));
    const req: AppendRequest = {
      subject: subjects.buffer(this.h.settings.name, ev.id),
      data,
      headers,
      done: (err, seq, duplicate) => {
        // A retry after a crash whose held part did land: JetStream kept the first, the totals drop it.
        if (duplicate) {
          this.heldDuplicates++;
          ev.rows -= rows;
          ev.bytes -= heldBytes;
        }
        done(err, seq);
      },
    };
    if (w.id !== undefined) req.msgId = `${HELD_ID_PREFIX}${w.id}`;
    this.h.append(req);
  }

  /** `ctl.<tp>.buffer.status`: read-only, answered in any state (no wait on a start or end in progress). */
  status(): BufferStatus {
    const s = this.h.settings;
    const ev = this.event;
    return {
      type: BUFFER_STATUS_TYPE,
      tp: s.name,
      enabled: s.bufferEnabled,
      open: ev ? ev.id : null,
      ...(ev ? { log: subjects.buffer(s.name, ev.id), args: ev.args } : {}),
      rows: ev?.rows ?? 0,
      bytes: ev?.bytes ?? 0,
      limitMb: s.bufferLimitMb,
      limitBytes: Math.floor(s.bufferLimitMb * 1024 * 1024),
      replaying: this.replaying !== undefined,
    };
  }

  // ---------------------------------------------------------------- start and end

  /** Opens event `id`: marks in the buffer log and the live log, after every row taken before. */
  start(id: string, args: Record<string, unknown>): Promise<BufferMark> {
    return this.serial(async () => {
      const s = this.h.settings;
      if (!s.bufferEnabled) throw new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant ${s.name} has buffer events off (bufferEnabled is false)`, { setting: 'bufferEnabled' });
      if (this.event) throw new TickbusError(ErrorCode.BAD_QUERY, `buffer event ${this.event.id} is open; end it first`, { open: this.event.id });
      if (await lastMessage(this.jsm, streams.log(s.name), subjects.buffer(s.name, id))) {
        throw new TickbusError(ErrorCode.BAD_QUERY, `buffer event id ${id} was used before (its log is in the stream); take a new id`, { id });
      }
      await this.whileRolling();
      const mark = this.mark('start', { id, args, rows: 0, bytes: 0 });
      this.h.flushAll();
      const a = this.appendMark(subjects.buffer(s.name, id), mark);
      const b = this.appendMark(subjects.bufferMark(s.name), mark);
      this.event = { id, args, rows: 0, bytes: 0 };
      await Promise.all([a, b]);
      this.logger.info({ id, args }, 'buffer event started');
      return mark;
    });
  }

  /**
   * Ends event `id`: seals its log (end mark there), then the live log's end mark; with replay
   * (the request's, else settings.bufferReplayOnEnd) its rows are then appended to the live log.
   */
  end(id: string, args: Record<string, unknown>, replay?: boolean): Promise<BufferMark> {
    return this.serial(async () => {
      const s = this.h.settings;
      const ev = this.event;
      if (!ev || ev.id !== id) throw new TickbusError(ErrorCode.BAD_QUERY, ev ? `buffer event ${ev.id} is open, not ${id}` : 'no buffer event is open', { id, open: ev?.id ?? null });
      await this.whileRolling();
      const mark = this.mark('end', { id, args, rows: ev.rows, bytes: ev.bytes, replay: replay ?? s.bufferReplayOnEnd });
      this.h.flushAll();
      this.event = undefined;
      const a = this.appendMark(subjects.buffer(s.name, id), mark);
      const b = this.appendMark(subjects.bufferMark(s.name), mark);
      await Promise.all([a, b]);
      this.logger.info({ id, rows: mark.rows, bytes: mark.bytes, replay: mark.replay }, 'buffer event ended');
      if (mark.replay) return await this.replay(mark, await b);
      return mark;
    });
  }

  /** Waits (bounded) while the tickerplant is paused by a roll: a mark follows every row taken before it. */
  private async whileRolling(): Promise<void> {
    const until = Date.now() + scanTimeoutMs;
    while (this.h.isPaused) {
      if (Date.now() > until) throw new TickbusError(ErrorCode.NOT_READY, `tickerplant ${this.h.settings.name} stayed paused for ${scanTimeoutMs} ms; retry`, {});
      await new Promise((r) => setTimeout(r, pausedWaitMs));
    }
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.busy.then(f, f);
    this.busy = p.catch(() => {});
    return p;
  }

  private mark(phase: BufferMark['phase'], m: Omit<BufferMark, 'type' | 'phase' | 'log' | 'time'>): BufferMark {
    return { type: BUFFER_TYPE, phase, log: subjects.buffer(this.h.settings.name, m.id), ...m, time: this.h.now() };
  }

  private appendMark(subject: string, mark: BufferMark): Promise<number> {
    return new Promise((resolve, reject) =>
      this.h.append({ subject, data: encode(mark), headers: { [Header.contentType]: 'application/cbor' }, done: (err, seq) => (err ? reject(err) : resolve(seq)) }),
    );
  }

  // ---------------------------------------------------------------- replay

  /**
   * Appends the sealed buffer log's rows to the live log, message by message (a multi-table held
   * message stays one message), then a `replayed` mark. Messages the live log holds already (a
   * replay cut by a crash) are skipped: each replayed one names its source in Tb-Buffer-From.
   */
  private replay(end: BufferMark, endSeq: number): Promise<BufferMark> {
    const run = async (): Promise<BufferMark> => {
      const s = this.h.settings;
      const done = await this.replayedSources(end.id, endSeq);
      let rows = 0;
      for (const m of await readBufferMessages(this.nc, this.jsm, s.name, end.id)) {
        if (m.kind !== 'rows' || done.has(m.seq)) continue;
        await this.whileRolling();
        const batches = m.batches.map((b): Batch => ({ table: b.table, n: b.n, cols: b.cols }));
        await this.h.appendLive(batches, { [Header.bufferFrom]: `${end.id}:${m.seq}` });
        for (const b of batches) rows += b.n;
      }
      const mark = this.mark('replayed', { id: end.id, args: end.args, rows: end.rows, bytes: end.bytes });
      await this.appendMark(subjects.bufferMark(s.name), mark);
      this.logger.info({ id: end.id, rows, skipped: done.size }, 'buffer event replayed into the live log');
      return mark;
    };
    this.replaying = run().finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  /** Buffer sequences the live log holds already (after the end mark at endSeq), from Tb-Buffer-From headers. */
  private async replayedSources(id: string, endSeq: number): Promise<Set<number>> {
    const out = new Set<number>();
    const info = await this.jsm.streams.info(streams.log(this.h.settings.name));
    if (info.state.last_seq <= endSeq) return out;
    const c = await jetstream(this.nc).consumers.get(streams.log(this.h.settings.name), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: endSeq + 1, headers_only: true });
    const it = await c.consume({ max_messages: 5000 });
    const timer = setTimeout(() => void it.close(), scanTimeoutMs);
    try {
      for await (const m of it) {
        const from = m.headers?.get(Header.bufferFrom);
        if (from && from.startsWith(`${id}:`)) out.add(Number(from.slice(id.length + 1)));
        if (m.seq >= info.state.last_seq || m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await it.close().catch(() => {});
    }
    return out;
  }

  // ---------------------------------------------------------------- recovery

  /**
   * After a restart: the live log's last buffer mark says whether an event is open. An open one is
   * re-opened with its rows and bytes so far (the buffer log's last message); one whose log was
   * sealed but whose live end mark is missing is ended now; an end whose replay did not finish is
   * replayed (what the live log holds already is skipped). Called once the writer is open.
   */
  async recover(): Promise<{ pending?: () => Promise<BufferMark> }> {
    const s = this.h.settings;
    this.event = undefined;
    const stream = streams.log(s.name);
    const last = await lastMessage(this.jsm, stream, subjects.bufferMark(s.name));
    if (!last) return {};
    const mark = decode<BufferMark>(last.data);
    if (mark.phase === 'end' && mark.replay) {
      this.logger.warn({ id: mark.id }, 'buffer event replay did not finish before the restart; resuming it');
      return { pending: () => this.replay(mark, last.seq) };
    }
    if (mark.phase !== 'start') return {};
    const tail = await lastMessage(this.jsm, stream, subjects.buffer(s.name, mark.id));
    const tailMark = tail && !tail.header.get(Header.bufferRows) ? decode<BufferMark>(tail.data) : undefined;
    if (tailMark?.phase === 'end') {
      // Sealed, but the live end mark was not appended: end it now.
      this.logger.warn({ id: mark.id }, 'buffer event was sealed before the restart; appending its end mark');
      return {
        pending: async () => {
          const seq = await this.appendMark(subjects.bufferMark(s.name), tailMark);
          return tailMark.replay ? await this.replay(tailMark, seq) : tailMark;
        },
      };
    }
    this.event = {
      id: mark.id,
      args: mark.args,
      rows: Number(tail?.header.get(Header.bufferRows) || 0),
      bytes: Number(tail?.header.get(Header.bufferBytes) || 0),
    };
    this.logger.info({ id: mark.id, rows: this.event.rows, bytes: this.event.bytes }, 'buffer event re-opened from the log');
    return {};
  }

  /** Resolves when a replay in progress has finished (stop waits for it, bounded by the caller). */
  async idle(): Promise<void> {
    await this.busy;
    await this.replaying?.catch(() => {});
  }
}

/** One message of a buffer log: held rows (one or several tables) or a mark. */
export type BufferMessage = { kind: 'rows'; seq: number; day: string; batches: LogBatchBody[] } | { kind: 'mark'; seq: number; mark: BufferMark };

/**
 * Reads buffer log `id` of tickerplant `tp` whole, in order (a reader's way to take the held rows
 * when they are not replayed). Bounded by bufferLimitMb on the writing side and by a timeout here.
 */
export async function readBufferMessages(nc: NatsConnection, jsm: JetStreamManager, tp: string, id: string, timeoutMs = scanTimeoutMs): Promise<BufferMessage[]> {
  const stream = streams.log(tp);
  const subject = subjects.buffer(tp, id);
  const last = await lastMessage(jsm, stream, subject);
  if (!last) return [];
  const c = await jetstream(nc).consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  const it = await c.consume({ max_bytes: 16 * 1024 * 1024 });
  const timer = setTimeout(() => void it.close(), timeoutMs);
  const out: BufferMessage[] = [];
  let complete = false;
  try {
    for await (const m of it) {
      const v = decode<Record<string, unknown>>(m.data);
      if (v.type === BUFFER_TYPE) out.push({ kind: 'mark', seq: m.seq, mark: v as unknown as BufferMark });
      else out.push({ kind: 'rows', seq: m.seq, day: m.headers?.get(Header.day) ?? '', batches: v.type === MULTI_TYPE ? multiBodies(v) : [checkBatchBody(v)] });
      if (m.seq >= last.seq) {
        complete = true;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    await it.close().catch(() => {});
  }
  if (!complete) throw new TickbusError(ErrorCode.TIMEOUT, `reading buffer log ${subject} took over ${timeoutMs} ms`, { subject, read: out.length, timeoutMs });
  return out;
}
