// The WDB's end of day with real processes under the process runtime (registered, heartbeating) on
// a real nats-server: a tickerplant whose clock crosses midnight while a feed runs, a WDB writing
// down intraday, an RDB in reload mode, an HDB and a gateway queried every 25 ms throughout. The
// day is merged into an HDB partition sorted by sym then time that holds exactly the log's day
// (counts and a per-sym checksum), the reload sequence runs (reloadstart, the HDB reloads, the RDB
// lets the day go, reloadend), and the gateway never counts a row twice or misses one. A table
// the HDB already holds with other rows is not overwritten: PARTITION_CONFLICT, alerted, both kept.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { defineTable } from '../../storage/schema.ts';
import { readManifest } from '../../storage/intraday/manifest.ts';
import { openDuck, type Duck } from '../support/duck.ts';
import { clockBeforeMidnight, connectTo, readLog, silentLogger, startServer, syms as symsOf, testTables, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let duck: Duck;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-wdbeod-'));
  duck = await openDuck();
});
afterAll(async () => {
  duck?.close();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const sql = (q: string) => duck.sql(q);

const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG', 'A.B'];
const run = (proctype: string, name: string, settings: Record<string, unknown>) => startRuntime(server.url, proctype, name, settings, { tables: testTables, heartbeatMs: 250 });

/** Per sym: rows and sum of fid of one table's day, from the log (the truth). */
async function logChecksums(tp: string, table: string): Promise<{ day: string; counts: Record<string, number>; perSym: Record<string, [number, number]> }> {
  const log = await readLog(nc, tp);
  const eod = log.eods[0]!;
  const perSym: Record<string, [number, number]> = {};
  for (const b of log.batches) {
    if (b.table !== table || b.seq > eod.seq) continue;
    const ss = symsOf(b.cols.sym!);
    const fid = b.cols.fid as BigInt64Array;
    ss.forEach((s, i) => {
      const e = (perSym[s] ??= [0, 0]);
      e[0]++;
      e[1] += Number(fid[i]!);
    });
  }
  return { day: eod.day, counts: eod.counts, perSym };
}

async function partitionChecksums(hdbDir: string, day: string, table: string): Promise<Record<string, [number, number]>> {
  const rows = await sql(`SELECT sym, count(*)::INTEGER, sum(fid)::BIGINT FROM read_parquet('${hdbDir}/date=${day}/${table}/*.parquet') GROUP BY sym`);
  return Object.fromEntries(rows.map((r) => [r[0] as string, [r[1] as number, Number(r[2] as bigint)]]));
}

describe('wdb end of day', () => {
  it('merges the day into a sorted HDB partition equal to the log; reload sequence; RDB in reload mode; gateway exact throughout', async () => {
    const { clock, day0 } = clockBeforeMidnight(3_000);
    const tp = await startTickerplant(nc, { name: 'we', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
    await tp.ready();
    const hdbDir = join(dir, 'hdb');
    const wdbDir = join(dir, 'wdb');
    const notices: Array<{ subject: string; body: Record<string, unknown> }> = [];
    const noticeSub = nc.subscribe('wdb.wew.*', { callback: (_e, m) => void notices.push({ subject: m.subject, body: decode(m.data) }) });
    const procs: ProcessRuntime[] = [
      await run('hdb', 'weh', { hdbDir, rescanMs: 0 }),
      await run('rdb', 'wer', { tp: 'we', eodMode: 'reload', handoffGraceMs: 0 }),
      await run('wdb', 'wew', { tp: 'we', wdbDir, hdbDir, maxRows: 200, saveIntervalMs: 50, mergeDelayMs: 400, keepDays: 1, mergeGroupRows: 300 }),
      await run('gateway', 'weg', {}),
    ];
    const gw = new GatewayClient(nc, { gateway: 'weg' });
    const pub = new Publisher(nc, { tp: 'we' });
    let published = 0;
    const ackLog: Array<[number, number]> = [];
    const ackedBy = (t: number) => {
      let n = 0;
      for (const [at, total] of ackLog) if (at <= t) n = total;
      return n;
    };
    let stop = false;
    const feeding = (async () => {
      while (!stop) {
        const rows = Array.from({ length: 20 }, (_, i) => [SYMS[(published + i) % SYMS.length], 100 + ((published + i) % 11), 1, published + i]);
        published += 20; // the upper bound counts a batch from the moment it is sent
        await pub.publish('trade', { rows });
        ackLog.push([Date.now(), published]);
        await pub.publish('quote', { rows: rows.map((r) => [r[0], 99, 101, r[3]]) });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const query = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', aggregations: [{ op: 'count' }] };
    await until(async () => {
      const r = await gw.sync<{ cols: { count: ArrayLike<number | bigint> } }>(query).catch(() => undefined);
      return r !== undefined && Number(r.result.cols.count[0] ?? 0) > 0;
    }, 15_000, 50);
    const seen: Array<{ low: number; count: number; high: number }> = [];
    const errors: string[] = [];
    const hdbHolds = async () => (await nc.request('ctl.weh.status', '', { timeout: 2_000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)).status.partitions as number).catch(() => 0)) === 1;
    // Query through the roll (+3 s), the write-downs and the merge, until the HDB holds the day and a second more.
    const hardEnd = Date.now() + 40_000;
    let heldSince = 0;
    while (Date.now() < hardEnd && !(heldSince && Date.now() - heldSince > 1_000)) {
      const low = ackedBy(Date.now() - 500);
      try {
        const r = await gw.sync<{ cols: { count: ArrayLike<number | bigint> } }>(query, undefined, { timeoutMs: 10_000 });
        seen.push({ low, count: Number(r.result.cols.count[0] ?? 0), high: published });
      } catch (e) {
        errors.push(`${(e as { code?: string }).code}: ${(e as Error).message}`);
      }
      if (!heldSince && (await hdbHolds())) heldSince = Date.now();
      await new Promise((r) => setTimeout(r, 25));
    }
    stop = true;
    await feeding;
    expect(heldSince).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(50);
    expect(errors.filter((e) => !e.startsWith('EOD_IN_PROGRESS'))).toEqual([]);
    expect(seen.filter((s) => s.count < s.low || s.count > s.high)).toEqual([]);

    // The partition equals the log's day: counts and per-sym checksums, for both tables.
    for (const table of ['trade', 'quote']) {
      const truth = await logChecksums('we', table);
      expect(truth.day).toBe(day0);
      expect(Object.values(truth.perSym).reduce((a, [n]) => a + n, 0)).toBe(truth.counts[table]);
      expect(await partitionChecksums(hdbDir, day0, table)).toEqual(truth.perSym);
    }
    // Sorted by sym, then time (the sort config's default), as an RDB-written partition is.
    const ordered = await sql(
      `SELECT bool_and(ok) FROM (SELECT (sym, time) >= (lag(sym, 1, '') OVER (), lag(time, 1, '1970-01-01'::TIMESTAMP_NS) OVER ()) AS ok FROM read_parquet('${hdbDir}/date=${day0}/trade/*.parquet'))`,
    );
    expect(ordered[0]![0]).toBe(true);
    // mergeGroupRows 300: sorted per group of whole syms, one file each, in sym order.
    expect(readdirSync(join(hdbDir, `date=${day0}`, 'trade')).filter((f) => f.endsWith('.parquet')).length).toBeGreaterThan(1);
    // The manifest is marked merged; the reload sequence ran in order; the RDB let the day go.
    // Bounds for a slow, shared machine: each reload step may wait reloadWaitMs (30 s) at most.
    await until(async () => (await readManifest(wdbDir, day0))?.merged === true, 30_000);
    await until(() => notices.some((n) => n.subject === 'wdb.wew.reloadend'), 70_000);
    const start = notices.find((n) => n.subject === 'wdb.wew.reloadstart')!;
    const end = notices.find((n) => n.subject === 'wdb.wew.reloadend')!;
    expect(start.body).toMatchObject({ type: 'tickbus.v1.wdb.reloadstart', date: day0, tables: ['quote', 'trade'] });
    expect(end.body).toMatchObject({ type: 'tickbus.v1.wdb.reloadend', date: day0, steps: [{ proctype: 'hdb', ok: true }, { proctype: 'rdb', ok: true }] });
    expect(notices.indexOf(start)).toBeLessThan(notices.indexOf(end));
    expect(notices.some((n) => n.subject === 'wdb.wew.written')).toBe(true);
    const rdbStatus = JSON.parse(new TextDecoder().decode((await nc.request('ctl.wer.status', '', { timeout: 2_000 })).data)).status;
    expect(rdbStatus.unwrittenDays).toEqual([]);
    noticeSub.unsubscribe();
    pub.close();
    for (const p of procs.reverse()) await p.stop();
    await tp.stop();
  }, 180_000);

  it('a table the HDB already holds with other rows is not overwritten: PARTITION_CONFLICT, alerted, both kept; save mode asks a sort process; partbyattr', async () => {
    const { clock, day0 } = clockBeforeMidnight(2_000);
    const tp = await startTickerplant(nc, { name: 'wc', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
    await tp.ready();
    const hdbDir = join(dir, 'hdb2');
    const wdbDir = join(dir, 'wdb2');
    mkdirSync(hdbDir, { recursive: true });
    // Someone else's quote partition for the day: 3 rows that are not the log's.
    const quote = defineTable('quote', testTables.quote);
    await writePartition(hdbDir, day0, 'quote', [{ table: 'quote', n: 3, cols: { time: new BigInt64Array([1n, 2n, 3n]), sym: { dict: ['X'], codes: new Uint32Array([0, 0, 0]) }, bid: new Float64Array(3), ask: new Float64Array(3), fid: new BigInt64Array([7n, 8n, 9n]) } }], { schema: quote });
    const alerts: Array<Record<string, unknown>> = [];
    const alertSub = nc.subscribe('alert.wdb.wcw', { callback: (_e, m) => void alerts.push(decode(m.data)) });
    const procs: ProcessRuntime[] = [
      await run('sort', 'wcs', {}),
      await run('wdb', 'wcw', { tp: 'wc', wdbDir, hdbDir, mode: 'save', writedownmode: 'partbyattr', maxRows: 100, saveIntervalMs: 50, reloadOrder: ['hdb'], reloadWaitMs: 2_000 }),
    ];
    const pub = new Publisher(nc, { tp: 'wc' });
    let published = 0;
    while (clock.now() < Date.parse(`${day0}T23:59:59.999Z`) + 500) {
      const rows = Array.from({ length: 20 }, (_, i) => [SYMS[(published + i) % SYMS.length], 100, 1, published + i]);
      await pub.publish('trade', { rows });
      await pub.publish('quote', { rows: rows.map((r) => [r[0], 99, 101, r[3]]) });
      published += 20;
      await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => alerts.length > 0, 30_000);
    expect(alerts[0]).toMatchObject({ type: 'tickbus.v1.alert', level: 'error', kind: 'eod', subject: 'quote' });
    expect(String(alerts[0]!.message)).toContain('PARTITION_CONFLICT');
    // The sort process merged trade (partbyattr: one intraday file per sym and write-down,
    // concatenated in sym order) exactly; quote's partition is untouched, its intraday files kept.
    const truth = await logChecksums('wc', 'trade');
    await until(async () => Object.keys(await partitionChecksums(hdbDir, day0, 'trade').catch(() => ({}))).length > 0, 15_000);
    expect(await partitionChecksums(hdbDir, day0, 'trade')).toEqual(truth.perSym);
    const ordered = await sql(`SELECT bool_and(ok) FROM (SELECT (sym, time) >= (lag(sym, 1, '') OVER (), lag(time, 1, '1970-01-01'::TIMESTAMP_NS) OVER ()) AS ok FROM read_parquet('${hdbDir}/date=${day0}/trade/*.parquet'))`);
    expect(ordered[0]![0]).toBe(true);
    expect(await partitionChecksums(hdbDir, day0, 'quote')).toEqual({ X: [3, 24] });
    const m = (await readManifest(wdbDir, day0))!;
    expect(m.merged).toBeFalsy();
    expect(m.writedownmode).toBe('partbyattr');
    expect(m.files.filter((f) => f.table === 'trade').every((f) => f.attr !== undefined && f.file.endsWith(`-${f.attr}.parquet`))).toBe(true);
    const sortStatus = JSON.parse(new TextDecoder().decode((await nc.request('ctl.wcs.status', '', { timeout: 2_000 })).data)).status;
    expect(sortStatus.sorted).toBe(1);
    alertSub.unsubscribe();
    pub.close();
    for (const p of procs.reverse()) await p.stop();
    await tp.stop();
  }, 90_000);
});
