// The RDB's effects: follows the log (replay then live), appends batches into columnar memory,
// serves queries, and runs the end-of-day hook on the finished day, in order, while the new day
// fills. Killed and restarted, it replays today's log and ends with exactly the log's rows.
import type { Msg, NatsConnection, Subscription as NatsSub } from '@nats-io/nats-core';
import { createActor, fromCallback, waitFor, type Actor } from 'xstate';
import { decode, encode, encodingOf, type Encoding } from '../../bus/codec.ts';
import { acceptsChunks, sendReply } from '../../bus/reply.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { isCall, type ApiTable } from '../common/runtime.ts';
import { manager } from '../../bus/streams.ts';
import { Header, subjects } from '../../bus/subjects.ts';
import { subscribe, type BatchEvent, type EodEvent, type Subscription } from '../../bus/subscriber.ts';
import type { Batch } from '../../storage/batch.ts';
import { recordReply, type UsageLog } from '../../bus/usage.ts';
import { parseTimeBound, resultToJson, runSimpleQuery, type SimpleQuery } from '../../storage/query/simple.ts';
import { ASOF_TYPE, GETDATA_TYPE, assertRequestType } from '../../storage/query/request.ts';
import { QUERY_TYPE } from '../../storage/query/simple.ts';
import { planFor, runAsof, runPlan, runQuery } from '../../storage/query/memory.ts';
import { afterSeqOf, fromRowFor, SeqIndex, startWindow } from './window.ts';
import { mergePartials } from '../../storage/query/finalize.ts';
import type { QueryResult as QueryResult2 } from '../../storage/query/result.ts';
import { mergeRaw } from '../gateway/data_access.ts';
import { resultToJson as resultToJsonV2 } from '../../storage/query/result.ts';
import { waitForHdb, writeDownHook, writeMissingDays, type SaveHook } from './write_down.ts';
import { defineSchema, type Schema } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { rdbMachine, type RdbEvent } from './machine.ts';
import { defaultRdbSettings, type RdbSettings } from './settings.ts';
import { QueryPool } from './query_pool.ts';

/** The `last` day an RDB advertises: it holds today and whatever comes after. */
export const OPEN_END_DAY = '9999-12-31';

/** One day of data held by the RDB. */
export class RdbDay {
  readonly tables = new Map<string, MemTable>();
  /** Per table: the batches held by log sequence (afterSeq, the recent window). */
  readonly index = new Map<string, SeqIndex>();
  /** Log sequence of the last batch applied. */
  lastSeq = 0;
  /** The tickerplant's clock at this day's end-of-day marker (its rows were stamped before). */
  endedAtNs: bigint | undefined;
  /** No longer advertised (an HDB holds it); still answered for during the grace period. */
  released = false;
  constructor(
    readonly day: string,
    schema: Schema,
    syms: SymbolTable,
    only?: readonly string[],
  ) {
    for (const [name, t] of schema) {
      if (only && !only.includes(name)) continue;
      this.tables.set(name, new MemTable(t, syms));
      this.index.set(name, new SeqIndex());
    }
  }

  rows(): Record<string, number> {
    return Object.fromEntries([...this.tables].map(([k, t]) => [k, t.n]));
  }
}

/**
 * What a process built on the RDB (the real-time processor, actors/rtp) does with the log instead
 * of appending every batch as it comes. Hooks may return a promise: the log loop awaits it (the
 * backpressure of a processor that publishes), and does not otherwise pay for a microtask.
 */
export interface RdbIngest {
  /** Today's replay starts (again) at startSeq (a start, or a resubscribe): rebuild any state. */
  begin?(startSeq: number): void | Promise<void>;
  /** A batch of the log: returns what to append to `day` (null drops it). `replaying`: before the RDB caught up. */
  batch(e: BatchEvent, day: RdbDay, replaying: boolean): Batch | null | Promise<Batch | null>;
  /** After the batch was appended (or dropped): the original event. */
  after?(e: BatchEvent, day: RdbDay, replaying: boolean): void | Promise<void>;
  /** An end-of-day marker, before the finished day is handed to the end-of-day hook. */
  eod?(e: EodEvent, finished: RdbDay): void;
}

/** Called with a finished day; the RDB keeps it until the promise settles (issue: HDB write-down). */
export type EndOfDayHook = (day: RdbDay) => Promise<void>;

export interface Rdb {
  actor: Actor<typeof rdbMachine>;
  current(): RdbDay;
  /** Registry attributes: the tables, the days held (today and finished days not yet in an HDB), the day being handed over. */
  attributes(): Record<string, unknown>;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

export async function startRdb(
  nc: NatsConnection,
  settings: Partial<RdbSettings> & Pick<RdbSettings, 'name' | 'tp' | 'tables'>,
  logger: Logger,
  /** Called with each finished day; default: the HDB write-down when hdbDir is set. */
  eodHook?: EndOfDayHook,
  /** Named APIs registered on the process (actors/common/runtime.ts); calls on the query subject go there. */
  apis?: ApiTable,
  /** Per-table manipulations before the save (TorQ's savedown manipulation). */
  saveHooks: Record<string, SaveHook> = {},
  opts: {
    onAttributesChanged?: () => void;
    usage?: UsageLog;
    /** Instead of appending each batch as it comes (the real-time processor's pre/post-processors). */
    ingest?: RdbIngest;
    /** The process type whose query subjects are served: `q.<kind>.<name>` and `q.<kind>` (default rdb). */
    kind?: string;
    /** Extra fields of status() (the processor's counts). */
    status?: () => Record<string, unknown>;
  } = {},
): Promise<Rdb> {
  const s: RdbSettings = { ...defaultRdbSettings, ...settings };
  const schema = defineSchema(s.tables);
  if (s.eodMode !== 'write' && s.eodMode !== 'reload') throw new TickbusError(ErrorCode.BAD_CONFIG, `rdb ${s.name}: eodMode must be write or reload`, { setting: 'eodMode', value: s.eodMode });
  // Reload mode (a WDB writes the HDB): nothing is written here; the finished day is held until an HDB holds it.
  const reloadMode = s.eodMode === 'reload';
  const writes = !!s.hdbDir && !eodHook && !reloadMode;
  // A windowed RDB writes nothing at end of day either (the WDB does): it holds the finished day
  // until the WDB's notices say all of it is written (an IDB then serves it whole).
  const win = s.rdbWindowMs > 0 ? startWindow(nc, s, logger, () => today, () => onAttributesChanged()) : undefined;
  const hook: EndOfDayHook = eodHook ?? (writes ? writeDownHook(nc, { ...s, hdbDir: s.hdbDir! }, logger, saveHooks) : win ? (day) => win.untilWritten(day) : async () => {});
  /** Days whose end-of-day hook failed after its retries: kept in memory, shown in status. */
  const unwritten: RdbDay[] = [];
  /** Finished days still held (being written, or written but not yet held by an HDB). */
  const ending: RdbDay[] = [];
  const onAttributesChanged = opts.onAttributesChanged ?? (() => {});
  const ingest = opts.ingest;
  const kind = opts.kind ?? 'rdb';
  // Heavy getdata queries run on worker threads reading the chunks in place (actors/rdb/query_pool.ts).
  const pool = s.queryPoolSize > 0 ? new QueryPool(s, s.tables, logger) : undefined;
  const syms = new SymbolTable(pool !== undefined);
  let today = new RdbDay('', schema, syms, s.subscribeTables);
  let live = false;
  let sub: Subscription | undefined;
  let eodChain = Promise.resolve();
  const stats = { batches: 0, rows: 0, skipped: 0 };
  /** End-of-period events seen (the RDB's eop hook: status `periods`). */
  const periods: { count: number; last?: { period: string; nextPeriod: string; seq: number; counts: Record<string, number>; by?: string; reason?: string } } = { count: 0 };

  const follow = fromCallback<RdbEvent>(({ sendBack }) => {
    let stopped = false;
    // (Re)start: today is rebuilt from the log, so anything held from a failed run is dropped.
    today = new RdbDay('', schema, syms, s.subscribeTables);
    live = false;
    void (async () => {
      // The log's last message may be one this RDB filters out (another table, a shard's other
      // syms): caught up all the same.
      const onCaughtUp = (seq: number) => {
        if (live || stopped) return;
        live = true;
        logger.info({ seq, rows: today.rows() }, `${kind} caught up with the log; live`);
        sendBack({ type: 'log.caughtUp', day: today.day });
      };
      sub = await subscribe(nc, { name: `${kind}_${s.name}`, tp: s.tp, tables: s.subscribeTables, syms: s.syms, from: 'today', bufferBytes: s.bufferBytes, stallMs: Math.max(1_000, s.logStallMs), onCaughtUp });
      logger.info({ startSeq: sub.startSeq }, `${kind} replaying from the day start`);
      if (ingest?.begin) await ingest.begin(sub.startSeq);
      // An empty day has no message to say "caught up": compare with the log's end instead.
      const info = await (await manager(nc)).streams.info(sub.stream); // the parent's, for a chained tp without a log
      if (info.state.last_seq < sub.startSeq) {
        live = true;
        sendBack({ type: 'log.caughtUp', day: today.day });
      }
      for await (const e of sub) {
        if (stopped) break;
        if (e.type === 'skipped') {
          stats.skipped++;
          logger.warn({ seq: e.seq, subject: e.subject, reason: e.reason }, 'rdb skipped an unreadable log message');
        } else if (e.type === 'eop') {
          // End of an intraday period: counted and shown in status (the RDB keeps the whole day).
          periods.count++;
          periods.last = { period: e.period, nextPeriod: e.nextPeriod, seq: e.seq, counts: e.counts, by: e.by, reason: e.reason };
          logger.info({ period: e.period, nextPeriod: e.nextPeriod, counts: e.counts }, 'rdb saw the end of a period');
        } else if (e.type === 'batch') {
          if (!today.day) {
            today = new RdbDay(e.day, schema, syms, s.subscribeTables);
            onAttributesChanged(); // the day held is known from its first batch
          }
          const t = today.tables.get(e.table);
          if (ingest) {
            let b = ingest.batch(e, today, !live);
            if (b instanceof Promise) b = await b;
            if (t && b && b.n > 0) {
              today.index.get(e.table)!.add(e.seq, t.n, b, s.rdbWindowMs > 0);
              t.append(b);
            }
            if (ingest.after) {
              const a = ingest.after(e, today, !live);
              if (a instanceof Promise) await a;
            }
          } else if (t) {
            today.index.get(e.table)!.add(e.seq, t.n, e.batch, s.rdbWindowMs > 0);
            t.append(e.batch);
          }
          // The pool's workers start while the table grows towards queryPoolRowsMin, not on the first heavy query.
          if (t && s.rdbWindowMs === 0) pool?.warm(t.n);
          today.lastSeq = e.seq;
          stats.batches++;
          stats.rows += e.batch.n;
        } else {
          const finished = today;
          finished.lastSeq = e.seq;
          finished.endedAtNs = e.time;
          if (finished.day !== e.day) Object.assign(finished, { day: e.day });
          ingest?.eod?.(e, finished);
          today = new RdbDay(e.nextDay, schema, syms, s.subscribeTables);
          // The finished day stays queryable (and advertised) until an HDB holds it: a gateway
          // routing by the registry never finds the day held by nobody, nor by two.
          ending.push(finished);
          onAttributesChanged();
          sendBack({ type: 'log.eod', day: e.day, nextDay: e.nextDay });
          eodChain = eodChain.then(async () => {
            try {
              await hook(finished);
              if (writes) await waitForHdb(nc, finished.day, s.handoffConfirmMs ?? 10_000);
              else if (reloadMode && !(await waitForHdb(nc, finished.day, s.reloadWaitMs, true))) {
                throw new TickbusError(ErrorCode.TIMEOUT, `no hdb holds ${finished.day} after reloadWaitMs ${s.reloadWaitMs} ms`, { day: finished.day });
              }
              sendBack({ type: 'eod.done', day: e.day });
            } catch (err) {
              // The day stays in memory, advertised and queryable (no HDB holds it); a restart
              // rewrites it from the log (writeMissingDays).
              logger.error({ err: (err as Error).message, day: e.day }, 'end-of-day hook failed; the day stays in memory');
              unwritten.push(finished);
              sendBack({ type: 'eod.failed', day: e.day, error: (err as Error).message });
              return;
            }
            // Stop advertising the day first, and keep answering for it a little longer: a gateway
            // whose view still has the old registry entry is served from memory, not from nothing.
            finished.released = true;
            onAttributesChanged();
            await new Promise((r) => setTimeout(r, s.handoffGraceMs ?? 2_000));
            ending.splice(ending.indexOf(finished), 1);
          });
        }
        if (!live && e.pending === 0) {
          live = true;
          logger.info({ seq: e.seq, rows: today.rows() }, 'rdb caught up with the log; live');
          sendBack({ type: 'log.caughtUp', day: today.day });
        }
      }
      if (!stopped) throw new Error('the log subscription ended');
    })().catch((err: Error) => {
      if (stopped) return;
      logger.error({ err: err.message }, 'rdb lost the log; replaying today again');
      sendBack({ type: 'log.failed', error: err.message });
    });
    return () => {
      stopped = true;
      void sub?.close();
    };
  });

  const actor = createActor(rdbMachine.provide({ actors: { follow } }));
  actor.start();

  // A finished day the HDB lacks (this RDB died during its end-of-day write) is replayed from the
  // log and written, in the background: today's replay and queries do not wait for it.
  const rewritten: Array<{ day: string; tables: string[] }> = [];
  if (writes) {
    void writeMissingDays(nc, s.tp, s.tables, { ...s, hdbDir: s.hdbDir! }, logger).then(
      (days) => rewritten.push(...days),
      (e: Error) => logger.error({ err: e.message }, 'checking past days in the hdb failed'),
    );
  }

  const querySubs: NatsSub[] = [
    nc.subscribe(subjects.query(kind, s.name), { callback: (_e, m) => serve(m) }),
    nc.subscribe(subjects.queryGroup(kind), { queue: kind, callback: (_e, m) => serve(m) }),
  ];

  /**
   * The days a query reads: today, plus any finished day still held (until an HDB holds it) that
   * the query's time range reaches into. A gateway routing by the registry sends the RDB every day
   * it advertises, so across the roll one request can span the finished day and the new one.
   */
  function daysFor(q: { start?: unknown; end?: unknown }): RdbDay[] {
    if (ending.length === 0) return [today];
    let start: bigint | undefined;
    let end: bigint | undefined;
    try {
      start = parseTimeBound('start', q.start);
      end = parseTimeBound('end', q.end);
    } catch {
      return [today]; // the query's own validation names the problem
    }
    const out: RdbDay[] = [];
    let from: bigint | undefined; // the previous held day's end: this day's rows come after it
    for (const d of ending) {
      const reaches = (end === undefined || from === undefined || end >= from) && (start === undefined || d.endedAtNs === undefined || start < d.endedAtNs);
      if (reaches) out.push(d);
      from = d.endedAtNs;
    }
    if (end === undefined || from === undefined || end >= from) out.push(today);
    return out.length ? out : [today];
  }

  /** getdata over several held days: partial aggregates merged, raw rows concatenated then ordered and limited. */
  function getdataOver(days: RdbDay[], request: Record<string, unknown>): QueryResult2 {
    const { afterSeq: _, ...q } = request;
    const after = afterSeqOf(request);
    const run = (d: RdbDay, r: Record<string, unknown>) => {
      if (after === undefined) return runQuery(d.tables, r);
      // Only rows of batches with a sequence above afterSeq (the gateway's cut with an IDB).
      const plan = planFor(d.tables, r);
      const t = d.tables.get(plan.table)!;
      plan.fromRow = fromRowFor(d.index.get(plan.table), t, plan.table, after);
      return runPlan(t, plan);
    };
    if (days.length === 1) return run(days[0]!, q);
    const plan = planFor(days[0]!.tables, q);
    if (plan.kind === 'agg') return mergePartials(plan, days.map((d) => run(d, { ...q, partial: true })), plan.partial);
    return mergeRaw(plan, days.map((d) => run(d, q)));
  }


  const RDB_TYPES = [QUERY_TYPE, GETDATA_TYPE, ASOF_TYPE];

  /**
   * A gateway's part carries `fromDay`: the first day its view of this RDB's registry entry routed
   * here. A day let go since (handed to the HDB) is refused, NOT_READY on fromDay, which the
   * gateway re-plans: never an answer short of that day's rows. The request without it is returned.
   */
  function routedFrom(request: Record<string, unknown>): Record<string, unknown> {
    if (!('fromDay' in request)) return request;
    const { fromDay, ...rest } = request;
    if (typeof fromDay !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(fromDay)) {
      throw new TickbusError(ErrorCode.BAD_QUERY, 'fromDay: must be a day YYYY-MM-DD (set by a gateway: the first day it routed to this rdb)', { param: 'fromDay', value: String(fromDay) });
    }
    const earliest = ending[0]?.day || today.day;
    if (earliest && fromDay < earliest) {
      throw new TickbusError(ErrorCode.NOT_READY, `fromDay: this ${kind} holds days from ${earliest} on, not ${fromDay}; that day went to the hdb (re-plan)`, {
        param: 'fromDay',
        fromDay,
        heldFromDay: earliest,
      });
    }
    return rest;
  }

  function serve(m: Msg): void {
    const at = Date.now();
    const t0 = performance.now();
    let enc: Encoding = 'cbor';
    let body: unknown;
    let q: SimpleQuery | { type?: string } | undefined;
    let rows: number | undefined;
    try {
      enc = encodingOf(m.headers?.get(Header.contentType));
      if (!live) throw new TickbusError(ErrorCode.NOT_READY, `${kind} is replaying the log; retry shortly`, {});
      q = decode<SimpleQuery | { type?: string }>(m.data, enc);
      if (apis && isCall(q)) return apis.serve(nc, m, q, enc, at, t0);
      assertRequestType(q, RDB_TYPES, `an ${kind}`);
      if (q.type === GETDATA_TYPE) q = routedFrom(q as Record<string, unknown>);
      // getdata and as-of joins run on the query engine shared with the HDB; the simple query
      // (tickbus.v1.query) keeps its own path.
      const days = daysFor(q as { start?: unknown; end?: unknown });
      const latest = days[days.length - 1]!; // as-of joins and simple queries read one day
      // The pool reads whole chunks: a sequence cut (afterSeq) or a recent window (rows dropped
      // from the front) runs inline, where the row floor applies.
      if (days.length === 1 && s.rdbWindowMs === 0 && afterSeqOf(q as Record<string, unknown>) === undefined && pool?.takes(latest.tables, q)) {
        const query = q;
        const reply = (v: unknown, n?: number) => answer(m, enc, at, t0, query, v, n);
        void pool.run(latest.tables, q).then(
          (r) => reply(enc === 'json' ? resultToJsonV2(r) : r, r.n),
          (e: unknown) => reply(toTickbusError(e).toEnvelope()),
        );
        return;
      }
      if (q.type === GETDATA_TYPE || q.type === ASOF_TYPE) {
        const r = q.type === GETDATA_TYPE ? getdataOver(days, q as Record<string, unknown>) : runAsof(latest.tables, q);
        rows = r.n;
        body = enc === 'json' ? resultToJsonV2(r) : r;
      } else {
        const r = runSimpleQuery(latest.tables, q as SimpleQuery);
        rows = r.n;
        body = enc === 'json' ? resultToJson(r) : r;
      }
    } catch (e) {
      body = toTickbusError(e).toEnvelope();
    }
    answer(m, enc, at, t0, q, body, rows);
  }

  function answer(m: Msg, enc: Encoding, at: number, t0: number, q: unknown, body: unknown, rows: number | undefined): void {
    if (!m.reply) return;
    const bytes = encode(body, enc);
    try {
      sendReply(nc, m.reply, bytes, { enc, chunks: acceptsChunks(m) });
    } catch (e) {
      // The connection closed while answering (stopping): the caller's deadline answers it.
      logger.debug({ err: (e as Error).message }, 'reply not sent');
    }
    recordReply(opts.usage, m, at, t0, q, rows === undefined ? body : { n: rows }, bytes.length);
  }

  return {
    actor,
    current: () => today,
    attributes() {
      const held = ending.filter((d) => !d.released);
      const days = [...new Set([...held.map((d) => d.day), today.day].filter((d) => d))];
      // `first`..`last` (which a gateway prefers to `dates`) is open-ended: the RDB holds every day
      // from its earliest unreleased one on, so the next day is routed here before the roll's
      // registry update reaches anyone.
      return {
        tables: [...today.tables.keys()],
        dates: days,
        ...(days.length ? { first: days[0], last: OPEN_END_DAY } : {}),
        ...(held.length ? { handoff: held[0]!.day } : {}),
        ...(win ? { heldFrom: win.heldFrom([...held, today]) } : {}),
      };
    },
    async ready(timeoutMs = 60_000) {
      await waitFor(actor, (x) => x.matches({ running: { log: 'live' } }) || x.status === 'done', { timeout: timeoutMs });
      if (actor.getSnapshot().status === 'done') throw new Error(`rdb failed: ${actor.getSnapshot().context.lastError}`);
    },
    async stop() {
      for (const q of querySubs) q.unsubscribe();
      win?.stop();
      actor.send({ type: 'rdb.stop' });
      await pool?.close();
      await eodChain;
    },
    status() {
      const snap = actor.getSnapshot();
      return { state: snap.value, day: today.day, tables: today.rows(), lastSeq: today.lastSeq, unwrittenDays: unwritten.map((d) => d.day), windowDropped: win?.dropped ?? 0, rewrittenDays: rewritten, logResumes: sub?.resumes ?? 0, periods, ...stats, ...opts.status?.(), ...(pool ? { queryPool: pool.status() } : {}), bytes: [...today.tables.values()].reduce((a, t) => a + t.bytes(), 0) };
    },
  };
}
