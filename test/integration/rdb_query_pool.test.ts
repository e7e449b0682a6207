// Proves the RDB's query pool (actors/rdb/query_pool.ts): heavy getdata runs on a worker thread
// over the RDB's own shared chunks and answers exactly what the inline engine answers. On a real
// nats-server, two RDBs follow one tickerplant, one with the pool (every getdata on a table of at
// least 50k rows offloaded) and one without; their answers to the same queries (aggregates by sym,
// time bars, filters, raw rows) are equal, while rows keep arriving between queries (the worker
// is sent only new chunks and symbols). Then the pool alone: its queue bound refuses with
// OVERLOADED, a query past its time bound gets TIMEOUT and its worker is replaced, close() fails
// what waits with NOT_READY, and the workers start once a table holds half of queryPoolRowsMin. The pool's worker threads run queryPoolNice (default 10) below
// the rest of the process: on Linux /proc shows exactly those threads reniced, nothing else.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { QueryPool, type QueryPoolStatus } from '../../actors/rdb/query_pool.ts';
import { lowerThreadPriority, NICE_MAX, ownTid } from '../../actors/rdb/thread_nice.ts';
import { silentLogger } from '../../bus/log.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { clockAt, connectTo, startServer, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';
import { fillDay, tradeSchema, tradeTables } from '../support/trades.ts';

let server: NatsServer;
let nc: NatsConnection;
const runtimes: ProcessRuntime[] = [];
const clock = clockAt(Date.parse('2026-11-22T10:00:00Z'));
const range = { start: '2026-11-22', end: '2026-11-22T23:59:59Z' };
const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  const o = { tables, heartbeatMs: 250 };
  // The tickerplant stamps on an injected clock (10:00 on a fixed day): no end of day mid-test.
  runtimes.push(await startRuntime(server.url, 'tickerplant', 'tp1', { mode: 'immediate' }, { ...o, clock }));
  runtimes.push(await startRuntime(server.url, 'rdb', 'rdbpool', { tp: 'tp1', queryPoolSize: 2, queryPoolRowsMin: 50_000 }, o));
  runtimes.push(await startRuntime(server.url, 'rdb', 'rdbinline', { tp: 'tp1', queryPoolSize: 0 }, o));
});

afterAll(async () => {
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

async function ask(rdb: string, q: unknown): Promise<unknown> {
  const m = await nc.request(`q.rdb.${rdb}`, encode(q), { timeout: 60_000 });
  const v = decode(m.data);
  if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
  return v;
}

let sent = 0;
async function publish(pub: Publisher, batches: number, rows: number, symsFrom: number): Promise<void> {
  const acks = [];
  for (let b = 0; b < batches; b++) {
    const i0 = sent;
    const sym = Array.from({ length: rows }, (_, i) => `S${symsFrom + ((i0 + i) % 40)}`);
    const price = Array.from({ length: rows }, (_, i) => 100 + ((i0 + i) % 97) / 4);
    const size = Array.from({ length: rows }, (_, i) => 100 * (1 + ((i0 + i) % 9)));
    acks.push(pub.publish('trade', { cols: { sym, price, size } }));
    sent += rows;
  }
  await Promise.all(acks);
}

async function rowsIn(rdb: string): Promise<number> {
  const r = (await ask(rdb, { type: 'tickbus.v1.getdata', table: 'trade', ...range, aggregations: [{ op: 'count' }] })) as { cols: Record<string, ArrayLike<unknown>>; columns: string[] };
  return Number(r.cols[r.columns[0]!]![0]);
}

describe('rdb query pool', () => {
  it('rdb: heavy getdata on the pool answers exactly what the inline engine answers, as rows keep arriving', { timeout: 180_000 }, async () => {
    const pub = new Publisher(nc, { tp: 'tp1' });
    const queries = [
      { type: 'tickbus.v1.getdata', table: 'trade', ...range, grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }, { op: 'max', column: 'price' }, { op: 'wavg', columns: ['size', 'price'] }], ordering: [{ column: 'sym' }] },
      { type: 'tickbus.v1.getdata', table: 'trade', ...range, filters: [{ column: 'size', op: '>=', value: 500 }], grouping: ['sym'], aggregations: [{ op: 'avg', column: 'price' }], timebar: { size: 1, unit: 'h' } },
      { type: 'tickbus.v1.getdata', table: 'trade', ...range, instruments: ['S3', 'S45'], columns: ['sym', 'price', 'size'], limit: 500 },
    ];
    for (const [round, symsFrom] of [[1, 0], [2, 20], [3, 40]] as const) {
      // Each round adds rows (and new syms from round 2): the pool's worker gets only what is new.
      await publish(pub, 6, 10_000, symsFrom);
      await until(async () => (await rowsIn('rdbpool')) === sent && (await rowsIn('rdbinline')) === sent, 60_000, 100);
      for (const q of queries) {
        const [a, b] = await Promise.all([ask('rdbpool', q), ask('rdbinline', q)]);
        expect(a, `round ${round}: ${JSON.stringify(q)}`).toEqual(b);
        expect((a as { n: number }).n).toBeGreaterThan(0);
      }
    }
    pub.close();
    const st = (await nc.request('ctl.rdbpool.status', '', { timeout: 5_000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)))) as { status: { queryPool: Record<string, number> } };
    // rowsIn's count per poll plus the nine compared queries: all past the 50k-row bound went to the pool.
    expect(st.status.queryPool.offloaded).toBeGreaterThanOrEqual(9);
    expect(st.status.queryPool).toMatchObject({ refused: 0, timeouts: 0, failed: 0 });
    const inline = (await nc.request('ctl.rdbinline.status', '', { timeout: 5_000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)))) as { status: Record<string, unknown> };
    expect(inline.status.queryPool).toBeUndefined();
  });

  it('rdb: pool workers run queryPoolNice below the process on Linux (only those threads, as /proc shows); elsewhere unchanged with a note', { timeout: 60_000 }, async () => {
    // rdbpool's table passed half of queryPoolRowsMin in the first test: both workers (queryPoolSize
    // 2) were started then (default queryPoolNice 10); each reports its tid and nice first thing.
    const poolStatus = async () => ((await nc.request('ctl.rdbpool.status', '', { timeout: 5_000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)))) as { status: { queryPool: QueryPoolStatus } }).status.queryPool;
    await until(async () => (await poolStatus()).threads.every((t) => t.tid !== undefined || t.note !== undefined), 30_000, 100);
    const st = await poolStatus();
    const threads = st.threads;
    expect(st.workers).toBe(2);
    expect(threads).toHaveLength(2);
    if (process.platform !== 'linux') {
      for (const t of threads) expect(t).toMatchObject({ tid: undefined, note: expect.stringContaining(process.platform) });
      return;
    }
    // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice (fields counted after "(comm)").
    const niceOf = (tid: number) => Number(readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const base = niceOf(ownTid()!);
    const workerTids = threads.map((t) => t.tid!);
    for (const t of threads) {
      expect(t.note).toBeUndefined();
      expect(t.nice).toBe(Math.min(NICE_MAX, base + 10));
      expect(niceOf(t.tid!)).toBe(t.nice);
    }
    const others = readdirSync(`/proc/${process.pid}/task`).map(Number).filter((tid) => !workerTids.includes(tid));
    expect(others).toContain(process.pid);
    for (const tid of others) expect(niceOf(tid), `thread ${tid}`).toBe(base);
  });

  it('rdb: queryPoolNice is bounded (BAD_CONFIG past 0..19); 0 and platforms without per-thread nice leave the priority alone, saying why', () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return e instanceof TickbusError ? e.code : String(e);
      }
    };
    const s = { queryPoolSize: 1, queryPoolRowsMin: 1, queryPoolQueueMax: 2, queryPoolTimeoutMs: 60_000 };
    for (const bad of [-1, 20, 2.5, '10' as unknown as number]) expect(codeOf(() => new QueryPool({ ...s, queryPoolNice: bad }, tradeTables, silentLogger))).toBe(ErrorCode.BAD_CONFIG);
    expect(codeOf(() => new QueryPool({ ...s, queryPoolNice: 19 }, tradeTables, silentLogger))).toBe('ok');
    expect(lowerThreadPriority(10, 'darwin')).toEqual({ note: expect.stringContaining('not supported on darwin') });
    expect(lowerThreadPriority(0)).toEqual({ note: expect.stringContaining('is 0') });
  });

  it('rdb: the pool starts its workers at half of queryPoolRowsMin, refuses past its queue bound (OVERLOADED), stops a query past its time bound (TIMEOUT), fails waiting queries on close (NOT_READY)', { timeout: 120_000 }, async () => {
    const t = new MemTable(tradeSchema, new SymbolTable(true));
    fillDay(t, '2026-11-22', 200_000, 1);
    const held = new Map([['trade', t]]);
    const q = { type: 'tickbus.v1.getdata', table: 'trade', ...range, grouping: ['sym'], aggregations: [{ op: 'count' }] };
    const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof TickbusError ? e.code : String(e)));

    // Warm-up: no worker below half of queryPoolRowsMin rows; from there all of queryPoolSize start, before any query.
    const warm = new QueryPool({ queryPoolSize: 2, queryPoolRowsMin: 1_000, queryPoolQueueMax: 2, queryPoolTimeoutMs: 60_000 }, tradeTables, silentLogger);
    warm.warm(499);
    expect(warm.status()).toMatchObject({ workers: 0 });
    warm.warm(500);
    warm.warm(5_000);
    expect(warm.status()).toMatchObject({ workers: 2, offloaded: 0 });
    expect(await codeOf(warm.run(held, q))).toBe('ok');
    expect(warm.status()).toMatchObject({ workers: 2, offloaded: 1 });
    await warm.close();

    const pool = new QueryPool({ queryPoolSize: 1, queryPoolRowsMin: 1, queryPoolQueueMax: 2, queryPoolTimeoutMs: 60_000 }, tradeTables, silentLogger);
    expect(pool.takes(held, q)).toBe(true);
    expect(pool.takes(held, { ...q, type: 'tickbus.v1.query' })).toBe(false);
    expect(pool.takes(new Map([['trade', new MemTable(tradeSchema, new SymbolTable(false))]]), q)).toBe(false);
    // One runs, two wait, the rest are refused at once.
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => codeOf(pool.run(held, q))));
    expect(outcomes).toEqual(['ok', 'ok', 'ok', ErrorCode.OVERLOADED, ErrorCode.OVERLOADED, ErrorCode.OVERLOADED]);
    expect(pool.status()).toMatchObject({ offloaded: 3, refused: 3, queued: 0 });
    const waiting = [pool.run(held, q), pool.run(held, q)].map(codeOf);
    await pool.close();
    expect(await Promise.all(waiting)).toEqual([ErrorCode.NOT_READY, ErrorCode.NOT_READY]);

    // A 1 ms bound: a new worker cannot even load its code in that time.
    const slow = new QueryPool({ queryPoolSize: 1, queryPoolRowsMin: 1, queryPoolQueueMax: 2, queryPoolTimeoutMs: 1 }, tradeTables, silentLogger);
    expect(await codeOf(slow.run(held, q))).toBe(ErrorCode.TIMEOUT);
    expect(slow.status()).toMatchObject({ workers: 0, timeouts: 1 });
    await slow.close();
  });
});
