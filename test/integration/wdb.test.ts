// The WDB on a real nats-server and real Parquet files: write-downs land in the intraday area as
// the manifest says (files read back hold exactly the log's rows), a restart after a crash (an
// orphan file, buffered rows lost) resumes from the manifest with no row twice and none missing,
// and at end of day the day is merged into a sorted HDB partition the HDB actor serves exactly
// like an RDB-written one, with the RDB in reload mode keeping the day until then.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { startWdb } from '../../actors/wdb/effects.ts';
import { checkManifest, dayDir, readManifest } from '../../storage/intraday/manifest.ts';
import { openDuck, type Duck } from '../support/duck.ts';
import { feedSyms, feedWdb, writtenFids } from '../support/intraday.ts';
import { connectTo, dupes, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let duck: Duck;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-wdb-'));
  duck = await openDuck();
});
afterAll(async () => {
  duck?.close();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const sql = (q: string) => duck.sql(q);

const syms = feedSyms;
const feed = feedWdb;

describe('wdb', () => {
  it('writes down by maxRows, and after a crash resumes from the manifest: no row twice, none lost', async () => {
    const wdbDir = join(dir, 'wdb1');
    const tp = await startTickerplant(nc, { name: 'wt', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'wt' });
    const settings = { name: 'w1', tp: 'wt', tables: testTables, wdbDir, hdbDir: join(dir, 'hdb1'), maxRows: 300, saveIntervalMs: 50 };
    let wdb = await startWdb(nc, settings, silentLogger);
    await wdb.ready();
    let fed = await feed(pub, 0, 2_000);
    await until(async () => ((await readManifest(wdbDir, wdb.manifest()?.day ?? '1970-01-01'))?.tables.trade?.rows ?? 0) >= 1_500, 30_000);
    const m1 = (await readManifest(wdbDir, wdb.manifest()!.day))!;
    checkManifest(m1);
    // maxRows: no trade write-down below it (the buffer passes 300 rows before it is written).
    for (const f of m1.files) expect(f.rows).toBeGreaterThanOrEqual(300);
    // Files cover disjoint, ascending log ranges per table, each whole and sorted by sym.
    const trades = m1.files.filter((f) => f.table === 'trade');
    for (let i = 1; i < trades.length; i++) expect(trades[i]!.firstSeq).toBeGreaterThan(trades[i - 1]!.lastSeq);
    const first = join(dayDir(wdbDir, m1.day), trades[0]!.file);
    const order = await sql(`SELECT bool_and(ok) FROM (SELECT sym >= lag(sym, 1, '') OVER () AS ok FROM read_parquet('${first}'))`);
    expect(order[0]![0]).toBe(true);
    const meta = await sql(`SELECT key::VARCHAR FROM parquet_kv_metadata('${first}')`);
    expect(meta.map((r) => r[0])).toContain('tickbus_schema');
    // A crash: the process goes away with rows buffered, and a write-down's file landed without
    // reaching the manifest (an orphan).
    await wdb.kill();
    const orphan = join(dayDir(wdbDir, m1.day), 'trade', 'part-99999.parquet');
    copyFileSync(first, orphan);
    fed = await feed(pub, fed, 1_500);
    wdb = await startWdb(nc, { ...settings, immediate: true }, silentLogger);
    await wdb.ready();
    expect(existsSync(orphan)).toBe(false);
    await until(async () => {
      const m = await readManifest(wdbDir, m1.day);
      return m?.tables.trade?.rows === fed && m.tables.quote?.rows === fed;
    }, 30_000);
    const m2 = (await readManifest(wdbDir, m1.day))!;
    checkManifest(m2);
    for (const table of ['trade', 'quote']) {
      const fids = await writtenFids(duck, wdbDir, m2, table);
      expect(dupes(fids)).toEqual([]);
      expect(fids.length).toBe(fed);
      expect(fids.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: fed }, (_, i) => i));
    }
    // Only manifest files are on disk.
    const onDisk = readdirSync(join(dayDir(wdbDir, m1.day), 'trade')).length;
    expect(onDisk).toBe(m2.files.filter((f) => f.table === 'trade').length);
    expect(wdb.status()).toMatchObject({ writeFailures: 0 });
    pub.close();
    await wdb.stop();
    await tp.stop();
  });

  it('bufferRowsMax bounds memory whatever maxRows and the timer say; some tables and syms only', async () => {
    const wdbDir = join(dir, 'wdb2');
    const tp = await startTickerplant(nc, { name: 'wb', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'wb' });
    const wdb = await startWdb(nc, { name: 'w2', tp: 'wb', tables: testTables, wdbDir, hdbDir: join(dir, 'hdb2'), subscribeTables: ['trade'], syms: ['AAPL', 'A.B'], maxRows: 1_000_000_000, saveIntervalMs: 3_600_000, bufferRowsMax: 100 }, silentLogger);
    await wdb.ready();
    const fed = await feed(pub, 0, 1_000);
    const wanted = Array.from({ length: fed }, (_, i) => i).filter((i) => ['AAPL', 'A.B'].includes(syms[i % syms.length]!));
    // Written by the bound alone (the timer never fires): all but at most bufferRowsMax rows.
    await until(async () => ((await readManifest(wdbDir, wdb.manifest()?.day ?? '1970-01-01'))?.tables.trade?.rows ?? 0) > wanted.length - 100, 30_000);
    const m = (await readManifest(wdbDir, wdb.manifest()!.day))!;
    expect(Object.keys(m.tables)).toEqual(['trade']);
    expect(m.files.every((f) => f.table === 'trade')).toBe(true);
    const fids = (await writtenFids(duck, wdbDir, m, 'trade')).map(Number);
    expect(dupes(fids.map(BigInt))).toEqual([]);
    expect(fids.every((f) => wanted.includes(f))).toBe(true);
    expect((wdb.status() as { buffered: number }).buffered).toBeLessThan(100);
    pub.close();
    await wdb.stop();
    await tp.stop();
  });
});
