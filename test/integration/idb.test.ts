// The IDB over a real intraday area: part files and manifests written as the WDB writes them
// (test/support/intraday.ts), real Parquet read back through DuckDB, the process under the real
// runtime on a real nats-server. Proves: only manifest-listed files are read (an orphan is not),
// the sequence cut (upToSeq) is exact, a written notice reloads, coverage is advertised, two IDBs
// serve one area alike, and a merged day is dropped (the roll).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startIdb } from '../../actors/idb/effects.ts';
import { encode } from '../../bus/codec.ts';
import { ErrorCode } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { subjects } from '../../bus/subjects.ts';
import type { Batch } from '../../storage/batch.ts';
import { emptyManifest, dayDir, writeManifest, WRITTEN_TYPE, type IntradayManifest } from '../../storage/intraday/manifest.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { defineTable } from '../../storage/schema.ts';
import { connectTo, silentLogger, startServer, until } from '../support/bus.ts';
import { ask, writePart } from '../support/intraday.ts';
import { startRuntime } from '../support/runtime.ts';

const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
const schema = defineTable('trade', tables.trade);
const SYMS = ['AAPL', 'MSFT', 'IBM'];
// The IDB serves whatever days the area holds: the day is data here, not the wall clock's.
const day = '2026-03-02';
const t0 = BigInt(Date.parse(`${day}T09:00:00Z`)) * 1_000_000n;

/** Batch `seq` of the log: 10 + seq rows, sizes seq*1000 + i, one second apart per seq. */
function batch(seq: number): Batch {
  const n = 10 + seq;
  const time = new BigInt64Array(n);
  const codes = new Uint32Array(n);
  const price = new Float64Array(n);
  const size = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    time[i] = t0 + BigInt(seq) * 1_000_000_000n + BigInt(i) * 1_000n;
    codes[i] = (seq + i) % SYMS.length;
    price[i] = 100 + i;
    size[i] = BigInt(seq * 1000 + i);
  }
  return { table: 'trade', n, cols: { time, sym: { dict: SYMS, codes }, price, size } };
}
const rowsOf = (seqs: number[]) => seqs.reduce((a, s) => a + 10 + s, 0);
const sizeSumOf = (seqs: number[]) => seqs.reduce((a, s) => a + Array.from({ length: 10 + s }, (_, i) => s * 1000 + i).reduce((x, y) => x + y, 0), 0);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let wdbDir: string;
let m: IntradayManifest;
const runtimes: ProcessRuntime[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-idb-'));
  wdbDir = join(dir, 'wdb');
  m = emptyManifest('tp1', 'w1', day);
  // Two write-downs: seqs 1..3 and 4..6 (a log carries other tables' batches between: 2, 5 skipped).
  await writePart(wdbDir, m, schema, [batch(1), batch(3)], 1, 3);
  await writePart(wdbDir, m, schema, [batch(4), batch(6)], 4, 6);
  // A crashed write-down's file the manifest does not list: never read.
  writeFileSync(join(dayDir(wdbDir, day), 'trade', 'part-00099.parquet'), 'not parquet');
});
afterAll(async () => {
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const count = { type: 'tickbus.v1.getdata', table: 'trade', start: `${day}T00:00:00Z`, end: `${day}T23:59:59Z`, aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }] };
const written = (lastSeq: number, rows: number) =>
  nc.publish(subjects.wdbWritten('w1'), encode({ type: WRITTEN_TYPE, wdb: 'w1', tp: 'tp1', day, tables: { trade: { lastSeq, rows } }, added: 1 }));

describe('idb', () => {
  it('idb: serves the manifest files with the HDB query API, cuts exactly at upToSeq, reloads on a written notice', async () => {
    runtimes.push(await startRuntime(server.url, 'idb', 'i1', { wdbDir, rescanMs: 0 }, { tables, heartbeatMs: 100 }));
    runtimes.push(await startRuntime(server.url, 'idb', 'i2', { wdbDir, rescanMs: 0, wdb: 'w1' }, { tables, heartbeatMs: 100 }));
    for (const name of ['i1', 'i2']) {
      const r = await ask<QueryResult>(nc, `q.idb.${name}`, count);
      expect(r.cols.count).toEqual(BigInt64Array.of(BigInt(rowsOf([1, 3, 4, 6]))));
      expect(r.cols.sumSize).toEqual(BigInt64Array.of(BigInt(sizeSumOf([1, 3, 4, 6]))));
    }
    // The sequence cut: only files whose last sequence is at or below it.
    const cut = await ask<QueryResult>(nc, 'q.idb.i1', { ...count, upToSeq: 3 });
    expect(cut.cols.count).toEqual(BigInt64Array.of(BigInt(rowsOf([1, 3]))));
    const none = await ask<QueryResult>(nc, 'q.idb.i1', { ...count, upToSeq: 0 });
    expect(none.cols.count).toEqual(BigInt64Array.of(0n));
    // Raw rows, the group query (q.idb), SQL and as-of all run on the same files.
    const raw = await ask<QueryResult>(nc, 'q.idb', { ...count, aggregations: undefined, columns: ['size'], upToSeq: 3, ordering: [{ column: 'size', dir: 'asc' }] });
    expect(Array.from(raw.cols.size as BigInt64Array, Number)).toEqual([...range(1000, 1010), ...range(3000, 3012)]);
    const sql = await ask<QueryResult>(nc, 'q.idb.i1', { type: 'tickbus.v1.sql', sql: 'SELECT count(*)::BIGINT AS n FROM trade' });
    expect(sql.cols.n).toEqual(BigInt64Array.of(BigInt(rowsOf([1, 3, 4, 6]))));
    const aj = await ask<QueryResult>(nc, 'q.idb.i1', { type: 'tickbus.v1.asof', table: 'trade', start: count.start, end: count.end, columns: ['sym', 'size'], right: { table: 'trade', columns: ['price'] } });
    expect(aj.n).toBe(rowsOf([1, 3, 4, 6]));
    // Bad cuts are typed errors naming upToSeq: not an integer, or past what is written.
    await expect(ask(nc, 'q.idb.i1', { ...count, upToSeq: -1 })).rejects.toMatchObject({ code: ErrorCode.BAD_QUERY, detail: { param: 'upToSeq' } });
    await expect(ask(nc, 'q.idb.i1', { ...count, upToSeq: 7 })).rejects.toMatchObject({ code: ErrorCode.NOT_READY, detail: { param: 'upToSeq', lastSeq: 6 } });
    // A new write-down and its notice: both IDBs reload and serve it.
    await writePart(wdbDir, m, schema, [batch(7), batch(8)], 7, 8);
    written(8, m.tables.trade!.rows);
    for (const name of ['i1', 'i2']) {
      await until(async () => (await ask<QueryResult>(nc, `q.idb.${name}`, count)).cols.count![0] === BigInt(rowsOf([1, 3, 4, 6, 7, 8])), 20_000, 50);
    }
    const cut7 = await ask<QueryResult>(nc, 'q.idb.i2', { ...count, upToSeq: 6 });
    expect(cut7.cols.count).toEqual(BigInt64Array.of(BigInt(rowsOf([1, 3, 4, 6]))));
  });

  it('idb: advertises per day and table the last sequence written and the max time; drops a day once merged', async () => {
    const idb = await startIdb(nc, { name: 'i3', wdbDir, rescanMs: 0 }, silentLogger);
    try {
      await idb.ready();
      const a = idb.attributes!() as { dates: string[]; day: string; lastSeq: Record<string, number>; maxTime: string; days: Record<string, { lastSeq: Record<string, number>; complete: boolean; maxTimeNs: string }> };
      expect(a.dates).toEqual([day]);
      expect(a.day).toBe(day);
      expect(a.lastSeq).toEqual({ trade: m.tables.trade!.lastSeq });
      const maxNs = t0 + 8n * 1_000_000_000n + BigInt(10 + 8 - 1) * 1_000n;
      expect(a.days[day]).toEqual({ lastSeq: { trade: m.tables.trade!.lastSeq }, maxTimeNs: maxNs.toString(), complete: false });
      expect(a.maxTime).toBe(new Date(Number(maxNs / 1_000_000n)).toISOString());
      // End of day: the WDB flushed (eodSeq) and the HDB holds the day (merged): the IDB lets it go.
      m.eodSeq = 9;
      await writeManifest(wdbDir, m);
      written(8, m.tables.trade!.rows);
      await until(() => (idb.attributes!() as { days: Record<string, { complete: boolean }> }).days[day]?.complete === true, 20_000, 50);
      m.merged = true;
      await writeManifest(wdbDir, m);
      written(8, m.tables.trade!.rows);
      await until(() => (idb.attributes!() as { dates: string[] }).dates.length === 0, 20_000, 50);
      await expect(idb.query!(count)).rejects.toMatchObject({ code: ErrorCode.BAD_QUERY });
    } finally {
      await idb.stop();
    }
  });

  it('idb: a listed file it cannot read makes the table refused and unadvertised, never answered short', async () => {
    const day2 = '2026-03-03';
    const m2 = emptyManifest('tp1', 'w1', day2);
    const f = await writePart(wdbDir, m2, schema, [batch(1)], 1, 1);
    await writePart(wdbDir, m2, schema, [batch(2)], 2, 2);
    writeFileSync(join(dayDir(wdbDir, day2), f.file), 'truncated');
    const idb = await startIdb(nc, { name: 'i4', wdbDir, rescanMs: 0 }, silentLogger);
    try {
      await idb.ready();
      const q2 = { ...count, start: `${day2}T00:00:00Z`, end: `${day2}T23:59:59Z` };
      await expect(idb.query!(q2)).rejects.toMatchObject({ code: ErrorCode.INTERNAL, detail: { table: 'trade', date: day2 } });
      const a = idb.attributes!() as { dates: string[]; days: Record<string, { lastSeq: Record<string, number> }> };
      expect(a.dates).toEqual([day2]);
      expect(a.days[day2]!.lastSeq).toEqual({});
    } finally {
      await idb.stop();
    }
  });
});
