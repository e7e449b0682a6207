// Proves the end of day into the Parquet HDB with real processes' code on a real nats-server and
// real files: the RDB writes exactly the day's rows (sorted, verified) when the marker comes, the
// HDB actor is told to reload and answers getdata for the old day while the RDB answers for the
// new one (together: every row of the log), and a bad query gets its named error from the HDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startHdb } from '../../actors/hdb/effects.ts';
import { startRdb } from '../../actors/rdb/effects.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { clockBeforeMidnight, connectTo, readLog, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-eodhdb-'));
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('end of day to the hdb', () => {
  it('rdb: writes exactly the day to the HDB; the HDB reloads and answers as the RDB did', async () => {
    const { clock, midnight, day0 } = clockBeforeMidnight(2_500);
    const hdbDir = join(dir, 'hdb');
    const tp = await startTickerplant(nc, { name: 'eh', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
    await tp.ready();
    const rdb = await startRdb(nc, { name: 'ehr', tp: 'eh', tables: testTables, hdbDir, handoffGraceMs: 0 }, silentLogger);
    await rdb.ready();
    const hdbProc = await startHdb(nc, { name: 'ehh', hdbDir, rescanMs: 0 }, silentLogger);
    await hdbProc.ready();
    const pub = new Publisher(nc, { tp: 'eh' });
    const syms = ['AAPL', 'MSFT', 'IBM', 'GOOG'];
    let fid = 0;
    const query = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }, { op: 'max', column: 'price' }, { op: 'last', column: 'fid' }], ordering: [{ column: 'sym' }] };
    // Feed until a second after midnight.
    while (clock.now() < midnight + 1_000) {
      const n = 20;
      const rows = Array.from({ length: n }, (_, i) => [syms[(fid + i) % 4], 100 + ((fid + i) % 17), (fid + i) % 7, fid + i]);
      fid += n;
      await pub.publish('trade', { rows });
      await new Promise((r) => setTimeout(r, 5));
    }
    const log = await readLog(nc, 'eh');
    const eod = log.eods[0]!;
    expect(eod.day).toBe(day0);
    const dayRows = log.batches.filter((b) => b.seq < eod.seq).reduce((a, b) => a + b.n, 0);
    expect(dayRows).toBe(eod.counts.trade);
    // The write lands and the HDB reloads on the notice.
    await until(() => rdb.actor.getSnapshot().context.days === 1 && rdb.attributes().handoff === undefined, 30_000);
    await new Promise((r) => setTimeout(r, 50)); // the grace period (0 ms) ends on the next turn
    await until(() => hdbProc.hdb().partitions().includes(day0), 10_000);
    // The day's partition also holds rows stamped between midnight and the roll a moment later.
    const h = await hdbProc.query!({ ...query, start: `${day0}T00:00:00Z`, end: new Date(midnight + 86_400_000 - 1).toISOString() });
    const total = (h as { cols: { count: BigInt64Array | Float64Array } }).cols.count;
    expect(Array.from(total as ArrayLike<number | bigint>, Number).reduce((a, b) => a + b, 0)).toBe(dayRows);
    // The same query on the RDB (the new day: no grace period here, so the finished day is gone
    // from it) and on the HDB (the old day) add up to the log.
    // An ack means durable in the log; the RDB applies it a moment later: wait for the log's end.
    await until(() => rdb.current().lastSeq >= log.lastSeq, 10_000);
    const m = await nc.request('q.rdb.ehr', encode({ ...query }), { timeout: 5_000 });
    const r = decode<{ cols: { count: ArrayLike<number | bigint> } }>(m.data);
    const rdbRows = Array.from(r.cols.count, Number).reduce((a, b) => a + b, 0);
    expect(rdbRows + dayRows).toBe(fid);
    // A gateway whose view still routes the finished day here (fromDay) is refused, NOT_READY on
    // fromDay (a stale route it re-plans), not answered short of that day; the new day is served.
    const stale = decode<{ code?: string; detail?: Record<string, unknown> }>((await nc.request('q.rdb.ehr', encode({ ...query, fromDay: day0 }), { timeout: 5_000 })).data);
    expect(stale).toMatchObject({ code: 'NOT_READY', detail: { param: 'fromDay', fromDay: day0, heldFromDay: rdb.current().day } });
    const fresh = decode<{ cols: { count: ArrayLike<number | bigint> } }>((await nc.request('q.rdb.ehr', encode({ ...query, fromDay: rdb.current().day }), { timeout: 5_000 })).data);
    expect(Array.from(fresh.cols.count, Number).reduce((a, b) => a + b, 0)).toBe(rdbRows);
    const bad = decode<{ code?: string; detail?: Record<string, unknown> }>((await nc.request('q.rdb.ehr', encode({ ...query, fromDay: 'yesterday' }), { timeout: 5_000 })).data);
    expect(bad).toMatchObject({ code: 'BAD_QUERY', detail: { param: 'fromDay' } });
    // Bad queries name the parameter, on the HDB too.
    await expect(hdbProc.query!({ type: 'tickbus.v1.getdata', table: 'trade', start: '2026-01-02', end: '2026-01-01' })).rejects.toMatchObject({ code: 'BAD_QUERY' });
    await expect(hdbProc.query!({ type: 'tickbus.v1.getdata', table: 'nope', start: '2026-01-01', end: '2026-01-02' })).rejects.toMatchObject({ code: 'BAD_QUERY', detail: { param: 'table' } });
    pub.close();
    await hdbProc.stop();
    await rdb.stop();
    await tp.stop();
  });
});
