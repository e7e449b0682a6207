// The RDB's effects: follows the log (replay then live), appends batches into columnar memory,
// serves queries, and runs the end-of-day hook on the finished day, in order, while the new day
// fills. Killed and restarted, it replays today's log and ends with exactly the log's rows.
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription as NatsSub } from '@nats-io/nats-core';
import { createActor, fromCallback, waitFor, type Actor } from 'xstate';
import { decode, encode, encodingOf, type Encoding } from '../../bus/codec.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import { subscribe, type Subscription } from '../../bus/subscriber.ts';
import { resultToJson, runSimpleQuery, type SimpleQuery } from '../../storage/query/simple.ts';
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
  eodHook: EndOfDayHook = async () => {},
): Promise<Rdb> {
  const s: RdbSettings = { ...defaultRdbSettings, ...settings };
  const schema = defineSchema(s.tables);
  const syms = new SymbolTable();
  let today = new RdbDay('', schema, syms, s.subscribeTables);
  let live = false;
  let sub: Subscription | undefined;
  let eodChain = Promise.resolve();
  const stats = { batches: 0, rows: 0 };

  const follow = fromCallback<RdbEvent>(({ sendBack }) => {
    let stopped = false;
    // (Re)start: today is rebuilt from the log, so anything held from a failed run is dropped.
    today = new RdbDay('', schema, syms, s.subscribeTables);
    live = false;
    void (async () => {
      sub = await subscribe(nc, { tp: s.tp, tables: s.subscribeTables, syms: s.syms, from: 'today', bufferMessages: s.bufferMessages });
      logger.info({ startSeq: sub.startSeq }, 'rdb replaying from the day start');
      // An empty day has no message to say "caught up": compare with the log's end instead.
      const info = await (await manager(nc)).streams.info(streams.log(s.tp));
      if (info.state.last_seq < sub.startSeq) {
        live = true;
        sendBack({ type: 'log.caughtUp', day: today.day });
      }
      for await (const e of sub) {
        if (stopped) break;
        if (e.type === 'batch') {
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
              const named = finished.day ? finished : Object.assign(finished, { day: e.day });
              await eodHook(named);
              sendBack({ type: 'eod.done', day: e.day });
            } catch (err) {
              logger.error({ err: (err as Error).message, day: e.day }, 'end-of-day hook failed');
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
      const q = decode<SimpleQuery>(m.data, enc);
      const r = runSimpleQuery(today.tables, q);
      body = enc === 'json' ? resultToJson(r) : r;
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
      return { state: snap.value, day: today.day, tables: today.rows(), lastSeq: today.lastSeq, ...stats, bytes: [...today.tables.values()].reduce((a, t) => a + t.bytes(), 0) };
    },
  };
}
