// Proves the RDB against a real nats-server and tickerplant: it holds today's rows columnar,
// answers the simple query (columns, time range, syms, limit, count) in CBOR and JSON with typed
// errors for bad queries, and on the end-of-day marker hands the finished day to its hook while
// the new day keeps filling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startRdb, type RdbDay } from '../../actors/rdb/effects.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import { clockAt, clockBeforeMidnight, connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

async function query(name: string, q: Record<string, unknown>, json = false): Promise<Record<string, any>> {
  const h = headers();
  if (json) h.set('Content-Type', 'application/json');
  const m = await nc.request(`q.rdb.${name}`, json ? JSON.stringify(q) : encode(q), { headers: h, timeout: 5_000 });
  return decode(m.data, json ? 'json' : 'cbor');
}

describe('rdb', () => {
  it('rdb: answers queries by columns, time range, syms, limit and count', async () => {
    const clock = clockAt(Date.parse('2026-11-22T10:00:05Z')); // the rows' day is the clock's
    const day = zoneDate(clock.now(), 'UTC');
    const tp = await startTickerplant(nc, { name: 'rq', tables: testTables, mode: 'immediate' }, silentLogger, clock);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'rq' });
    const t = (s: number) => `${day}T10:00:0${s}.000000000Z`;
    await pub.publish('trade', {
      rows: [
        [t(1), 'AAPL', 10.5, 100, 1],
        [t(2), 'MSFT', 20.5, 200, 2],
        [t(3), 'AAPL', 11.5, 300, 3],
        [t(4), 'IBM', 30.5, 400, 4],
      ],
    });
    const rdb = await startRdb(nc, { name: 'r1', tp: 'rq', tables: testTables }, silentLogger);
    await rdb.ready();
    const all = await query('r1', { type: 'tickbus.v1.query', table: 'trade' });
    expect(all.n).toBe(4);
    expect(all.columns).toEqual(['time', 'sym', 'price', 'size', 'fid']);
    expect(all.cols.sym).toEqual(['AAPL', 'MSFT', 'AAPL', 'IBM']);
    expect(all.cols.price).toEqual(new Float64Array([10.5, 20.5, 11.5, 30.5]));
    const some = await query('r1', { type: 'tickbus.v1.query', table: 'trade', columns: ['sym', 'size'], syms: ['AAPL', 'IBM'], start: t(2), end: t(4) });
    expect(some.cols.sym).toEqual(['AAPL', 'IBM']);
    expect(some.cols.size).toEqual(new BigInt64Array([300n, 400n]));
    expect((await query('r1', { type: 'tickbus.v1.query', table: 'trade', count: true, syms: ['AAPL'] })).n).toBe(2);
    expect((await query('r1', { type: 'tickbus.v1.query', table: 'trade', columns: ['fid'], limit: -1 })).cols.fid).toEqual(new BigInt64Array([4n]));
    const j = await query('r1', { type: 'tickbus.v1.query', table: 'trade', columns: ['time', 'sym', 'size'], limit: 1 }, true);
    expect(j).toMatchObject({ n: 1, cols: { time: [t(1)], sym: ['AAPL'], size: [100] } });
    // Bad queries name the parameter.
    expect(await query('r1', { table: 'nope' })).toMatchObject({ code: 'BAD_QUERY', detail: { param: 'table' } });
    expect(await query('r1', { table: 'trade', columns: ['nope'] })).toMatchObject({ code: 'BAD_QUERY', detail: { param: 'columns' } });
    expect(await query('r1', { table: 'trade', start: t(4), end: t(1) })).toMatchObject({ code: 'BAD_QUERY', detail: { param: 'start' } });
    expect(await query('r1', { table: 'trade', start: 'yesterday' })).toMatchObject({ code: 'BAD_QUERY', detail: { param: 'start' } });
    // Memory: typed-array chunks, no per-row objects.
    expect(rdb.status().bytes).toBeLessThan(8 * 1024 * 1024);
    pub.close();
    await rdb.stop();
    await tp.stop();
  });

  it('rdb: replays a day far larger than the server lets a client fall behind (64 MB)', async () => {
    const tp = await startTickerplant(nc, { name: 'rbig', tables: testTables, mode: 'immediate' }, silentLogger);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'rbig' });
    const n = 20_000;
    const cols = { sym: { dict: ['A', 'B', 'C'], codes: new Uint32Array(n).map((_, i) => i % 3) }, price: new Float64Array(n).fill(1.5), size: new BigInt64Array(n).fill(7n), fid: new BigInt64Array(n) };
    for (let k = 0; k < 130; k += 10) await Promise.all(Array.from({ length: 10 }, () => pub.publish('trade', { cols })));
    const rdb = await startRdb(nc, { name: 'rbigr', tp: 'rbig', tables: testTables }, silentLogger);
    await rdb.ready(60_000);
    expect(rdb.current().tables.get('trade')!.n).toBe(130 * n);
    pub.close();
    await rdb.stop();
    await tp.stop();
  }, 120_000);

  it('rdb: the end-of-day hook gets the finished day while the new day fills', async () => {
    const { clock, midnight } = clockBeforeMidnight(1_000);
    const tp = await startTickerplant(nc, { name: 'reod', tables: testTables, mode: 'immediate' }, silentLogger, clock);
    await tp.ready();
    const handed: Array<{ day: string; rows: Record<string, number> }> = [];
    let release!: () => void;
    const hookDone = new Promise<void>((r) => (release = r));
    const rdb = await startRdb(nc, { name: 'r2', tp: 'reod', tables: testTables }, silentLogger, async (d: RdbDay) => {
      handed.push({ day: d.day, rows: d.rows() });
      await hookDone; // a slow write-down: the new day must keep filling meanwhile
    });
    await rdb.ready();
    const pub = new Publisher(nc, { tp: 'reod' });
    let fid = 0;
    const end = Date.now() + 2_000;
    let before = 0;
    while (Date.now() < end) {
      const ack = await pub.publish('trade', { rows: [['A', 1, 1, fid++]] });
      if (clock.now() < midnight) before = fid;
      void ack;
      await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => handed.length === 1);
    expect(handed[0]!.day).toBe(new Date(midnight - 1).toISOString().slice(0, 10));
    await until(() => rdb.current().tables.get('trade')!.n + handed[0]!.rows.trade! === fid);
    expect(handed[0]!.rows.trade).toBeGreaterThan(0);
    expect(handed[0]!.rows.trade).toBeLessThanOrEqual(before + 1);
    expect(rdb.current().day).toBe(new Date(midnight).toISOString().slice(0, 10));
    expect(rdb.actor.getSnapshot().matches({ running: { day: 'ending' } })).toBe(true);
    release();
    await until(() => rdb.actor.getSnapshot().matches({ running: { day: 'open' } }));
    pub.close();
    await rdb.stop();
    await tp.stop();
  });

  it('rdb: caught up when the log ends with a message it filters out (another table, a shard\'s other syms)', async () => {
    const tp = await startTickerplant(nc, { name: 'rf', tables: testTables, mode: 'immediate' }, silentLogger, clockAt(Date.now()));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'rf' });
    await pub.publish('trade', { rows: [['AAPL', 10.5, 100, 1]] });
    await pub.publish('trade', { rows: [['MSFT', 20.5, 200, 2]] }); // not this shard's
    await pub.publish('quote', { rows: [['AAPL', 10.4, 10.6, 3]] }); // not a table it takes
    const rdb = await startRdb(nc, { name: 'rf1', tp: 'rf', tables: testTables, syms: ['AAPL'], subscribeTables: ['trade'] }, silentLogger);
    await rdb.ready(30_000); // before the fix: waited for a next AAPL trade
    expect(rdb.current().rows()).toEqual({ trade: 1 });
    pub.close();
    await rdb.stop();
    await tp.stop();
  });
});
