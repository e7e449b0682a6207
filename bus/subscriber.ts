// Subscriber: reads a tickerplant's log as an async iterator of batches, end-of-day and
// end-of-period events.
// A late joiner starts at the day's first sequence (the message after the last end-of-day
// marker) and continues live with no gap and no duplicate: kdb+tick's `.u.sub`/`.u.i` handshake
// expressed as a JetStream start sequence. An ordered consumer re-creates itself after a server
// restart from the last sequence it delivered.
// A chained tickerplant without a log of its own (log mode none/parent) is read through its route
// (bus/chain.ts): the parent's log, with the chained tickerplant's tables and syms.
import { randomBytes } from 'node:crypto';
import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Batch, SymColumn } from '../storage/batch.ts';
import { takeRows } from '../storage/batch.ts';
import { narrow, readRoute } from './chain.ts';
import { decode } from './codec.ts';
import { ErrorCode, TickbusError } from './errors.ts';
import { checkBatchBody, type LogBatchBody, multiBodies } from './log_batch.ts';
import { isNotFound, lastMessage, manager } from './streams.ts';
import { parseTickSubject, streams, subjects } from './subjects.ts';

export interface BatchEvent {
  type: 'batch';
  /** Stream sequence of the log message. */
  seq: number;
  table: string;
  day: string;
  batch: Batch;
  /** Messages still to be delivered when this one was sent (0 = caught up with the log). */
  pending: number;
  /** When the log stored the message: epoch ns on the server's clock (as a double, ~0.3 µs). */
  logNs: number;
  /** The log message's bytes, when `raw` was asked and the batch is the message unfiltered. */
  raw?: Uint8Array;
  /**
   * A part of a multi-table message (memorybatch, multiPublish): its index among the parts this
   * subscription gets of the message, and how many there are (the last is `parts - 1`). A reader
   * that must not split a message (a chained tickerplant) waits for the last part.
   */
  part?: number;
  parts?: number;
}
export interface EodEvent {
  type: 'eod';
  seq: number;
  day: string;
  nextDay: string;
  /** The tickerplant's clock when it ended the day (epoch ns): the day's rows were stamped before. */
  time?: bigint;
  counts: Record<string, number>;
  pending: number;
}
/** The end of an intraday period (tickbus.v1.eop): after the period's last batch. */
export interface EopEvent {
  type: 'eop';
  seq: number;
  day: string;
  period: string;
  nextPeriod: string;
  /** Rows per table (the tickerplant's intradayTables) in the period. */
  counts: Record<string, number>;
  tables: string[];
  /** First log sequence of the period (the marker is its last). */
  firstSeq: number;
  /** The period's bounds, epoch ms, [start, end) (absent on markers without them). */
  start?: number;
  end?: number;
  time?: bigint;
  /** A manual roll: who asked and why. */
  by?: string;
  reason?: string;
  pending: number;
}
/** A log message that could not be read (corrupt, or not a batch): reported, never fatal. */
export interface SkippedEvent {
  type: 'skipped';
  seq: number;
  subject: string;
  reason: string;
  pending: number;
  /** The message's bytes as stored (a chained tickerplant keeps them on its rejected subject). */
  data?: Uint8Array;
}
export type TickEvent = BatchEvent | EodEvent | EopEvent | SkippedEvent;

/**
 * A buffer-event mark (tickbus.v1.buffer, bus/SUBJECTS.md): handed to SubscribeOptions.onBuffer
 * (KX's .dm.buff.i.start / .end), not yielded, so readers that do not care see nothing new.
 */
export interface BufferMarkEvent {
  type: 'buffer';
  seq: number;
  phase: 'start' | 'end' | 'replayed';
  id: string;
  /** The buffer log's subject (in the log stream) holding the event's rows. */
  log: string;
  args: Record<string, unknown>;
  rows: number;
  bytes: number;
  replay?: boolean;
  time?: bigint;
}

export interface SubscribeOptions {
  tp: string;
  /** Tables to receive; all when omitted. End-of-day and end-of-period events always come. */
  tables?: string[];
  /** Syms to keep; all when omitted (rows are filtered client-side, batches are per table). */
  syms?: string[];
  /**
   * 'today' (default): from the day's first message; 'period': from the current intraday
   * period's first message (the day's when no period of the day has ended); 'live': only new
   * ones; or a sequence.
   */
  from?: 'today' | 'period' | 'live' | { seq: number };
  /** Bound on bytes buffered ahead of the reader (default 16 MiB). */
  bufferBytes?: number;
  /** Pull expiry; a server restart is noticed after about this long. */
  expiresMs?: number;
  /**
   * Stall bound (default 5 s): when nothing has arrived for this long while the log holds
   * messages past the last one read, the consumer is re-created from the next sequence. Checked
   * every second. A recovering subscriber thus never waits on a consumer that lost its pull.
   */
  stallMs?: number;
  /**
   * Who subscribes (e.g. `rdb_rdb1`): the prefix of the consumer's name on the server, so consumer
   * lists (the monitor's subscriber lag, `nats consumer ls`) say whose consumer it is. Characters
   * other than letters, digits, `_` and `-` become `_`.
   */
  name?: string;
  /** Keep each unfiltered batch's message bytes on its event (`raw`): a chained tickerplant forwards them as they are. */
  raw?: boolean;
  /**
   * Called with the sequence when a message this subscription filters out (another table, other
   * syms) was the last in the log (nothing pending): a reader that waits for an event with
   * `pending` 0 to know it caught up would otherwise wait for the next message it keeps. Called
   * from the iterator, after the reader finished with the previous event.
   */
  onCaughtUp?: (seq: number) => void;
  /** Called with each buffer-event mark in log order (awaited); no-op by default. */
  onBuffer?: (mark: BufferMarkEvent) => void | Promise<void>;
}

export interface Subscription extends AsyncIterable<TickEvent> {
  /** The sequence the subscription started at. */
  readonly startSeq: number;
  /** The last stream sequence read, including messages filtered out (tables, syms). */
  readonly lastSeq: number;
  /** Times a stalled consumer was re-created from the next sequence (see `stallMs`). */
  readonly resumes: number;
  /** The tickerplant whose log is read: `tp` itself, or the parent a chained tp without a log routes to. */
  readonly logTp: string;
  /** The stream read (TICK_<logTp>). */
  readonly stream: string;
  close(): Promise<void>;
}

/** The first sequence of the current day: one past the last end-of-day marker. */
export async function dayStartSeq(nc: NatsConnection, tp: string): Promise<number> {
  const jsm = await manager(nc);
  const eod = await lastMessage(jsm, streams.log(tp), subjects.eod(tp));
  const info = await jsm.streams.info(streams.log(tp));
  const first = Math.max(1, info.state.first_seq);
  return eod ? Math.max(first, eod.seq + 1) : first;
}

/** Bound on close()'s wait for the consumer's iterator to end. */
const CLOSE_WAIT_MS = 2_000;

/** The first sequence of the current period: one past the last end-of-period marker of the day. */
export async function periodStartSeq(nc: NatsConnection, tp: string): Promise<number> {
  const day = await dayStartSeq(nc, tp);
  const eop = await lastMessage(await manager(nc), streams.log(tp), subjects.eop(tp));
  return eop && eop.seq + 1 > day ? eop.seq + 1 : day;
}

/** Bound on routes followed from a chained tickerplant to the log it reads (a chain of chains). */
const ROUTE_HOPS_MAX = 8;

/**
 * The log a subscription to `tp` reads: TICK_<tp> when it exists; else, when `tp` is a chained
 * tickerplant without a log (bus/chain.ts), its parent's log narrowed to its tables and syms.
 */
export async function resolveLog(nc: NatsConnection, o: Pick<SubscribeOptions, 'tp' | 'tables' | 'syms'>): Promise<{ tp: string; tables?: string[]; syms?: string[] }> {
  const jsm = await manager(nc);
  let { tp, tables, syms } = o;
  for (let hop = 0; hop <= ROUTE_HOPS_MAX; hop++) {
    try {
      await jsm.streams.info(streams.log(tp));
      return { tp, tables, syms };
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const route = await readRoute(nc, tp);
      if (!route) {
        throw new TickbusError(ErrorCode.NO_MATCHING_PROCESS, `no tickerplant ${tp}: its log ${streams.log(tp)} does not exist and no chained tickerplant route names it`, { tp, stream: streams.log(tp), ...(tp !== o.tp ? { via: o.tp } : {}) }, { cause: e });
      }
      if (route.logMode === 'create') {
        throw new TickbusError(ErrorCode.NOT_READY, `chained tickerplant ${tp} has not created its log ${streams.log(tp)} yet`, { tp, stream: streams.log(tp) });
      }
      tables = narrow(tables, route.tables);
      syms = narrow(syms, route.syms);
      tp = route.parent;
    }
  }
  throw new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant ${o.tp}: more than ${ROUTE_HOPS_MAX} chained routes (a loop?)`, { tp: o.tp });
}

export async function subscribe(nc: NatsConnection, req: SubscribeOptions): Promise<Subscription> {
  const opts: SubscribeOptions = { ...req, ...(await resolveLog(nc, req)) };
  const from = opts.from ?? 'today';
  let startSeq: number;
  if (from === 'today') startSeq = await dayStartSeq(nc, opts.tp);
  else if (from === 'period') startSeq = await periodStartSeq(nc, opts.tp);
  else if (from === 'live') {
    const info = await (await manager(nc)).streams.info(streams.log(opts.tp));
    startSeq = info.state.last_seq + 1;
  } else startSeq = from.seq;
  const js = jetstream(nc);
  const jsm = await manager(nc);
  // Short pull expiry: missed server heartbeats (half the expiry) reveal a restarted server
  // within seconds, and the ordered consumer is re-created from the last sequence it delivered.
  // Bounded in bytes, not messages: 512 log messages of up to ~1 MB each would exceed the
  // server's per-connection pending limit (64 MB) during a replay, and the server would drop the
  // connection as a slow consumer.
  const open = async (from: number): Promise<ConsumerMessages> => {
    const consumer = await js.consumers.get(streams.log(opts.tp), {
      // nats.js names an ordered consumer `<prefix>_<serial>`: the prefix carries a random part, or
      // a restarted subscriber would collide with its predecessor's consumer still on the server.
      ...(opts.name ? { name_prefix: `${opts.name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48)}_${randomBytes(4).toString('hex')}` } : {}),
      filter_subjects: subjects.tickAll(opts.tp),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    return await consumer.consume({ max_bytes: opts.bufferBytes ?? 16 * 1024 * 1024, expires: opts.expiresMs ?? 4_000 });
  };
  let messages = await open(startSeq);
  const tables = opts.tables ? new Set(opts.tables) : undefined;
  const syms = opts.syms ? new Set(opts.syms) : undefined;

  let lastSeq = startSeq - 1;
  let closed = false;
  let resumes = 0;
  // The stall watchdog: nats.js re-creates an ordered consumer after missed heartbeats, but a
  // pull lost around a server restart (a reconnect whose consumer check failed, a re-create that
  // backs off) can leave it waiting with messages in the log. The watchdog bounds that wait.
  const stallMs = opts.stallMs ?? 5_000;
  let lastProgress = Date.now();
  let stalled = false;
  let checking = false;
  const watchdog = setInterval(() => {
    if (closed || stalled || checking || Date.now() - lastProgress < stallMs) return;
    checking = true;
    jsm.streams.info(streams.log(opts.tp)).then(
      (info) => {
        checking = false;
        if (closed || stalled) return;
        if (info.state.last_seq <= lastSeq) {
          lastProgress = Date.now(); // caught up and quiet: not a stall
          return;
        }
        stalled = true;
        void messages.close().catch(() => {});
      },
      () => (checking = false), // server away: look again on the next tick
    );
  }, Math.min(1_000, stallMs));
  watchdog.unref?.();

  async function* events(): AsyncGenerator<TickEvent> {
    try {
      for (;;) {
        try {
          for await (const m of messages) {
            if (stalled) break;
            lastProgress = Date.now();
            const e = toEvent(m);
            if (e === undefined) {
              if (opts.onCaughtUp && m.info.pending === 0) opts.onCaughtUp(m.seq);
              continue;
            }
            if (!Array.isArray(e) && e.type === 'skipped') e.data = m.data;
            if (!Array.isArray(e) && e.type === 'buffer') {
              await opts.onBuffer?.(e);
              if (opts.onCaughtUp && m.info.pending === 0) opts.onCaughtUp(m.seq);
              continue;
            }
            // A multi-table message is one event per table, all with its sequence, in its order.
            for (const x of Array.isArray(e) ? e : [e]) yield x;
            lastProgress = Date.now(); // time the reader spent on the event is not a stall
          }
        } catch (err) {
          if (!stalled || closed) throw err;
        }
        if (closed || !stalled) return;
        // Re-create the consumer from the message after the last one read: no gap, no duplicate.
        // The old one's close is bounded: a consumer deleted on the server may never report closed.
        await boundedClose(messages);
        for (;;) {
          try {
            messages = await open(lastSeq + 1);
            break;
          } catch {
            if (closed) return;
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
        resumes++;
        stalled = false;
        lastProgress = Date.now();
      }
    } finally {
      clearInterval(watchdog);
    }
  }

  /** One log message as an event (a multi-table message: several), or undefined when this subscription filters it out. */
  function toEvent(m: JsMsg): TickEvent | TickEvent[] | BufferMarkEvent | undefined {
    lastSeq = m.seq;
    const s = parseTickSubject(m.subject);
    if (!s) return undefined;
    if (s.kind === 'buffer') return bufferMark(m);
    if (s.kind === 'multi') return multiEvents(m);
    if (s.kind === 'eod') {
      let e: { day?: unknown; nextDay?: unknown; counts?: Record<string, number>; time?: unknown };
      try {
        e = decode(m.data);
      } catch {
        e = {};
      }
      if (typeof e.day !== 'string' || typeof e.nextDay !== 'string') {
        return { type: 'skipped', seq: m.seq, subject: m.subject, reason: 'unreadable end-of-day marker', pending: m.info.pending };
      }
      const time = typeof e.time === 'bigint' ? e.time : typeof e.time === 'number' ? BigInt(Math.trunc(e.time)) : undefined;
      return { type: 'eod', seq: m.seq, day: e.day, nextDay: e.nextDay, counts: e.counts ?? {}, time, pending: m.info.pending };
    }
    if (s.kind === 'eop') return eopEvent(m);
    if (s.kind !== 'table' || (tables && !tables.has(s.table))) return undefined;
    let b: LogBatchBody;
    try {
      b = checkBatchBody(decode(m.data));
    } catch (err) {
      return { type: 'skipped', seq: m.seq, subject: m.subject, reason: (err as Error).message, pending: m.info.pending };
    }
    return batchEvent(m, s.table, b, true);
  }

  /** `single`: the message holds this one batch (its bytes may ride as `raw`); false for a part of a multi-table message. */
  function batchEvent(m: JsMsg, table: string, b: LogBatchBody, single: boolean): BatchEvent | undefined {
    const whole: Batch = { table, n: b.n, cols: b.cols };
    let batch = whole;
    if (syms) {
      batch = filterSyms(batch, syms);
      if (batch.n === 0) return undefined;
    }
    const info = m.info;
    const e: BatchEvent = { type: 'batch', seq: m.seq, table, day: b.day, batch, pending: info.pending, logNs: info.timestampNanos };
    if (opts.raw && single && batch.n === b.n) e.raw = m.data;
    return e;
  }

  function multiEvents(m: JsMsg): TickEvent[] | TickEvent | undefined {
    let bs: LogBatchBody[];
    try {
      bs = multiBodies(decode(m.data));
    } catch (err) {
      return { type: 'skipped', seq: m.seq, subject: m.subject, reason: (err as Error).message, pending: m.info.pending };
    }
    const out: TickEvent[] = [];
    for (const b of bs) {
      if (tables && !tables.has(b.table)) continue;
      const e = batchEvent(m, b.table, b, false);
      if (e) out.push(e);
    }
    out.forEach((e, i) => Object.assign(e, { part: i, parts: out.length }));
    return out.length ? out : undefined;
  }

  function bufferMark(m: JsMsg): BufferMarkEvent | SkippedEvent | undefined {
    if (!opts.onBuffer) return undefined;
    let e: Partial<Omit<BufferMarkEvent, 'time'>> & { time?: unknown };
    try {
      e = decode(m.data);
    } catch {
      e = {};
    }
    if (typeof e.id !== 'string' || (e.phase !== 'start' && e.phase !== 'end' && e.phase !== 'replayed')) {
      return { type: 'skipped', seq: m.seq, subject: m.subject, reason: 'unreadable buffer mark', pending: m.info.pending };
    }
    const time = typeof e.time === 'bigint' ? e.time : typeof e.time === 'number' ? BigInt(Math.trunc(e.time)) : undefined;
    const out: BufferMarkEvent = { type: 'buffer', seq: m.seq, phase: e.phase, id: e.id, log: e.log ?? '', args: e.args ?? {}, rows: e.rows ?? 0, bytes: e.bytes ?? 0, time };
    if (typeof e.replay === 'boolean') out.replay = e.replay;
    return out;
  }

  function eopEvent(m: JsMsg): TickEvent {
    let e: Partial<Omit<EopEvent, 'time'>> & { time?: unknown };
    try {
      e = decode(m.data);
    } catch {
      e = {};
    }
    if (typeof e.period !== 'string' || typeof e.nextPeriod !== 'string' || typeof e.day !== 'string') {
      return { type: 'skipped', seq: m.seq, subject: m.subject, reason: 'unreadable end-of-period marker', pending: m.info.pending };
    }
    const time = typeof e.time === 'bigint' ? e.time : typeof e.time === 'number' ? BigInt(Math.trunc(e.time)) : undefined;
    const out: EopEvent = {
      type: 'eop',
      seq: m.seq,
      day: e.day,
      period: e.period,
      nextPeriod: e.nextPeriod,
      counts: e.counts ?? {},
      tables: e.tables ?? [],
      firstSeq: e.firstSeq ?? 0,
      time,
      pending: m.info.pending,
    };
    if (typeof e.start === 'number' && typeof e.end === 'number') Object.assign(out, { start: e.start, end: e.end });
    if (typeof e.by === 'string') out.by = e.by;
    if (typeof e.reason === 'string') out.reason = e.reason;
    return out;
  }

  const it = events();
  return {
    startSeq,
    logTp: opts.tp,
    stream: streams.log(opts.tp),
    get lastSeq() {
      return lastSeq;
    },
    get resumes() {
      return resumes;
    },
    [Symbol.asyncIterator]: () => it,
    async close() {
      closed = true;
      clearInterval(watchdog);
      // nats.js resolves close() once its iterator has ended: a subscription never iterated would
      // wait for ever. The consumer's pull is stopped at once; the wait for the iterator is bounded.
      await boundedClose(messages);
    },
  };
}

/** Closes a consumer's message iterator, waiting at most CLOSE_WAIT_MS for nats.js to confirm. */
async function boundedClose(messages: ConsumerMessages): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([messages.close().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
  clearTimeout(timer);
}

/** Keeps the rows whose sym is in the set (one dict lookup per distinct sym, then a mask walk). */
export function filterSyms(b: Batch, syms: ReadonlySet<string>): Batch {
  const sym = b.cols.sym as SymColumn;
  const keep = sym.dict.map((s) => syms.has(s));
  if (keep.every(Boolean)) return b;
  const idx: number[] = [];
  for (let i = 0; i < sym.codes.length; i++) if (keep[sym.codes[i]!]) idx.push(i);
  return takeRows(b, idx);
}
