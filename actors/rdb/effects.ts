// The RDB's effects: follows the log (replay then live), appends batches into columnar memory,
// serves queries, and runs the end-of-day hook on the finished day, in order, while the new day
// fills. Killed and restarted, it replays today's log and ends with exactly the log's rows.
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription as NatsSub } from '@nats-io/nats-core';
import { createActor, fromCallback, waitFor, type Actor } from 'xstate';
import { decode, encode, encodingOf, type Encoding } from '../../bus/codec.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { isCall, type ApiTable } from '../common/runtime.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import { subscribe, type Subscription } from '../../bus/subscriber.ts';
import { resultToJson, runSimpleQuery, type SimpleQuery } from '../../storage/query/simple.ts';
import { ASOF_TYPE, GETDATA_TYPE } from '../../storage/query/request.ts';
import { runAsof, runQuery } from '../../storage/query/memory.ts';
import { resultToJson as resultToJsonV2 } from '../../storage/query/result.ts';
import { writeDownHook, writeMissingDays, type SaveHook } from './write_down.ts';
import { defineSchema, type Schema } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { rdbMachine, type RdbEvent } from './machine.ts';
import { defaultRdbSettings, type RdbSettings } from './settings.ts';

/** One day of data held by the RDB. */
export class RdbDay {
  readonly tables = new Map<string, MemTable>();
  /** Log sequence of the last batch applied. */
  lastSeq = 0;
  constructor(
    readonly day: string,
    schema: Schema,
    syms: SymbolTable,
    only?: readonly string[],
  ) {
    for (const [name, t] of schema) if (!only || only.includes(name)) this.tables.set(name, new MemTable(t, syms));
  }

  rows(): Record<string, number> {
    return Object.fromEntries([...this.tables].map(([k, t]) => [k, t.n]));
  }
}

/** Called with a finished day; the RDB keeps it until the promise settles (issue: HDB write-down). */
export type EndOfDayHook = (day: RdbDay) => Promise<void>;

export interface Rdb {
  actor: Actor<typeof rdbMachine>;
  current(): RdbDay;
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
): Promise<Rdb> {
  const s: RdbSettings = { ...defaultRdbSettings, ...settings };
  const schema = defineSchema(s.tables);
  const hook: EndOfDayHook = eodHook ?? (s.hdbDir ? writeDownHook(nc, { ...s, hdbDir: s.hdbDir }, logger, saveHooks) : async () => {});
  /** Days whose end-of-day hook failed after its retries: kept in memory, shown in status. */
  const unwritten: RdbDay[] = [];
  const syms = new SymbolTable();
  let today = new RdbDay('', schema, syms, s.subscribeTables);
  let live = false;
  let sub: Subscription | undefined;
  let eodChain = Promise.resolve();
  const stats = { batches: 0, rows: 0, skipped: 0 };

  const follow = fromCallback<RdbEvent>(({ sendBack }) => {
    let stopped = false;
    // (Re)start: today is rebuilt from the log, so anything held from a failed run is dropped.
    today = new RdbDay('', schema, syms, s.subscribeTables);
    live = false;
    void (async () => {
      sub = await subscribe(nc, { tp: s.tp, tables: s.subscribeTables, syms: s.syms, from: 'today', bufferBytes: s.bufferBytes });
      logger.info({ startSeq: sub.startSeq }, 'rdb replaying from the day start');
      // An empty day has no message to say "caught up": compare with the log's end instead.
      const info = await (await manager(nc)).streams.info(streams.log(s.tp));
      if (info.state.last_seq < sub.startSeq) {
        live = true;
        sendBack({ type: 'log.caughtUp', day: today.day });
      }
      for await (const e of sub) {
        if (stopped) break;
        if (e.type === 'skipped') {
          stats.skipped++;
          logger.warn({ seq: e.seq, subject: e.subject, reason: e.reason }, 'rdb skipped an unreadable log message');
        } else if (e.type === 'batch') {
          if (!today.day) today = new RdbDay(e.day, schema, syms, s.subscribeTables);
          const t = today.tables.get(e.table);
          if (t) t.append(e.batch);
          today.lastSeq = e.seq;
          stats.batches++;
          stats.rows += e.batch.n;
        } else {
          const finished = today;
          finished.lastSeq = e.seq;
          today = new RdbDay(e.nextDay, schema, syms, s.subscribeTables);
          sendBack({ type: 'log.eod', day: e.day, nextDay: e.nextDay });
          eodChain = eodChain.then(async () => {
            try {
              const named = finished.day === e.day ? finished : Object.assign(finished, { day: e.day });
              await hook(named);
              sendBack({ type: 'eod.done', day: e.day });
            } catch (err) {
              logger.error({ err: (err as Error).message, day: e.day }, 'end-of-day hook failed; the day stays in memory');
              unwritten.push(finished);
              sendBack({ type: 'eod.failed', day: e.day, error: (err as Error).message });
            }
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
  if (s.hdbDir && !eodHook) {
    void writeMissingDays(nc, s.tp, s.tables, { ...s, hdbDir: s.hdbDir }, logger).then(
      (days) => rewritten.push(...days),
      (e: Error) => logger.error({ err: e.message }, 'checking past days in the hdb failed'),
    );
  }

  const querySubs: NatsSub[] = [
    nc.subscribe(subjects.query('rdb', s.name), { callback: (_e, m) => serve(m) }),
    nc.subscribe(subjects.queryGroup('rdb'), { queue: 'rdb', callback: (_e, m) => serve(m) }),
  ];

  function serve(m: Msg): void {
    let enc: Encoding = 'cbor';
    let body: unknown;
    try {
      enc = encodingOf(m.headers?.get(Header.contentType));
      if (!live) throw new TickbusError(ErrorCode.NOT_READY, 'rdb is replaying the log; retry shortly', {});
      const q = decode<SimpleQuery | { type?: string }>(m.data, enc);
      if (apis && isCall(q)) return apis.serve(nc, m, q, enc);
      // getdata and as-of joins run on the query engine shared with the HDB; the simple query
      // (tickbus.v1.query) keeps its own path.
      if (q.type === GETDATA_TYPE || q.type === ASOF_TYPE) {
        const r = q.type === GETDATA_TYPE ? runQuery(today.tables, q) : runAsof(today.tables, q);
        body = enc === 'json' ? resultToJsonV2(r) : r;
      } else {
        const r = runSimpleQuery(today.tables, q as SimpleQuery);
        body = enc === 'json' ? resultToJson(r) : r;
      }
    } catch (e) {
      body = toTickbusError(e).toEnvelope();
    }
    if (!m.reply) return;
    const h = natsHeaders();
    h.set(Header.contentType, enc === 'json' ? 'application/json' : 'application/cbor');
    nc.publish(m.reply, encode(body, enc), { headers: h });
  }

  return {
    actor,
    current: () => today,
    async ready(timeoutMs = 60_000) {
      await waitFor(actor, (x) => x.matches({ running: { log: 'live' } }) || x.status === 'done', { timeout: timeoutMs });
      if (actor.getSnapshot().status === 'done') throw new Error(`rdb failed: ${actor.getSnapshot().context.lastError}`);
    },
    async stop() {
      for (const q of querySubs) q.unsubscribe();
      actor.send({ type: 'rdb.stop' });
      await eodChain;
    },
    status() {
      const snap = actor.getSnapshot();
      return { state: snap.value, day: today.day, tables: today.rows(), lastSeq: today.lastSeq, unwrittenDays: unwritten.map((d) => d.day), rewrittenDays: rewritten, ...stats, bytes: [...today.tables.values()].reduce((a, t) => a + t.bytes(), 0) };
    },
  };
}
