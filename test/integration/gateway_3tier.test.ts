// The gateway across the RDB's recent window, the IDB and the HDB, with the real processes under
// the runtime (real nats-server, real Parquet read back): a tickerplant whose clock crosses
// midnight, a WDB writing today down every ~100 rows and merging the day at the roll, an IDB over
// its intraday area, an RDB keeping a 300 ms window (it drops what is written), an HDB holding
// the day before plus the merged day, and a gateway. A getdata count and fid checksum over all
// days, asked every 25 ms through write-downs, drops and the end of day, must always be exactly a
// prefix of the log (count n, sum of fid n(n-1)/2, max fid n-1: no row twice, none missing) plus
// the HDB's past day, and hold every row acknowledged half a second earlier.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { defineTable } from '../../storage/schema.ts';
import { clockBeforeMidnight, connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { ask } from '../support/intraday.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-3tier-'));
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The HDB's past day: PAST rows with fid -1 (out of the log's checksum), on the day before `day0`. */
const PAST = 50;
async function writePastDay(hdbDir: string, day: string): Promise<void> {
  const at = BigInt(Date.parse(`${day}T12:00:00Z`)) * 1_000_000n;
  await writePartition(hdbDir, day, 'trade', [
    {
      table: 'trade',
      n: PAST,
      cols: {
        time: BigInt64Array.from({ length: PAST }, (_, i) => at + BigInt(i)),
        sym: { dict: ['AAPL'], codes: new Uint32Array(PAST) },
        price: new Float64Array(PAST).fill(1),
        size: new BigInt64Array(PAST).fill(1n),
        fid: new BigInt64Array(PAST).fill(-1n),
      },
    },
  ], { schema: defineTable('trade', testTables.trade) });
}

interface Answer {
  count: number;
  sum: number;
  max: number;
}

describe('gateway across RDB window, IDB and HDB', () => {
  it('gateway: every answer through write-downs, window drops and an end of day is a whole log prefix, none twice, none missing', async () => {
    const { clock, day0 } = clockBeforeMidnight(6_000);
    const yday = new Date(Date.parse(`${day0}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    const hdbDir = join(dir, 'hdb');
    const wdbDir = join(dir, 'wdb');
    await writePastDay(hdbDir, yday);
    const tp = await startTickerplant(nc, { name: 'g3', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
    await tp.ready();
    // The default heartbeat (1 s): a loaded machine delays beats, and a backend must not be taken for dead.
    const o = { tables: testTables, heartbeatMs: 1_000 };
    const procs: ProcessRuntime[] = [
      await startRuntime(server.url, 'hdb', 'g3h', { hdbDir, rescanMs: 0 }, o),
      await startRuntime(server.url, 'wdb', 'g3w', { tp: 'g3', wdbDir, hdbDir, maxRows: 100, saveIntervalMs: 100, reloadOrder: ['hdb', 'idb'], reloadWaitMs: 10_000 }, o),
      await startRuntime(server.url, 'idb', 'g3i', { wdbDir, rescanMs: 1_000 }, o),
      await startRuntime(server.url, 'rdb', 'g3r', { tp: 'g3', rdbWindowMs: 300, rdbDropGraceMs: 300, rdbWindowCheckMs: 100 }, o),
      await startRuntime(server.url, 'gateway', 'g3g', {}, o),
    ];
    const gw = new GatewayClient(nc, { gateway: 'g3g' });
    const pub = new Publisher(nc, { tp: 'g3' });
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
        // fid numbers the rows in log order (one publisher, each publish acked before the next).
        const rows = Array.from({ length: 20 }, (_, i) => ['AAPL', 1, 1, published + i]);
        await pub.publish('trade', { rows });
        published += 20;
        ackLog.push([Date.now(), published]);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const query = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', aggregations: [{ op: 'count' }, { op: 'sum', column: 'fid' }, { op: 'max', column: 'fid' }] };
    const ask3 = async (): Promise<{ a: Answer; parts: string[] }> => {
      const r = await gw.sync<QueryResult>(query, undefined, { timeoutMs: 30_000 });
      const c = r.result.cols;
      return { a: { count: Number(c.count![0]), sum: Number(c.sumFid![0]), max: Number(c.maxFid![0]) }, parts: r.parts.map((p) => p.proctype) };
    };
    await until(async () => ((await ask3().catch(() => undefined))?.a.count ?? 0) > PAST, 20_000, 50);
    const seen: Array<{ low: number; high: number } & Answer> = [];
    const errors: string[] = [];
    const tiers = new Set<string>();
    // Query until the day before midnight is merged into the HDB and a few answers after that (a
    // busy machine answers slower: the bound is generous, the count of answers is not timed).
    const hdbPartitions = async () =>
      await nc.request('ctl.g3h.status', '', { timeout: 5_000 }).then(
        (m) => JSON.parse(new TextDecoder().decode(m.data)).status.partitions as number,
        () => 0,
      );
    const deadline = Date.now() + 90_000;
    let afterMerge = 0;
    while (Date.now() < deadline && (afterMerge < 10 || seen.length < 40)) {
      const low = ackedBy(Date.now() - 500);
      try {
        const { a, parts } = await ask3();
        seen.push({ ...a, low, high: published });
        tiers.add([...new Set(parts)].sort().join('+'));
      } catch (e) {
        errors.push(`${(e as { code?: string }).code}: ${(e as Error).message}`);
      }
      if (afterMerge > 0 || (seen.length % 5 === 0 && (await hdbPartitions()) === 2)) afterMerge++;
      await new Promise((r) => setTimeout(r, 25));
    }
    stop = true;
    await feeding;
    // The RDB dropped what the WDB wrote: asked alone it holds less than today's log.
    const rdbAlone = await ask<QueryResult>(nc, 'q.rdb.g3r', { ...query, start: `${day0}T00:00:00Z` });
    expect(Number(rdbAlone.cols.count![0])).toBeLessThan(published);
    // The day before midnight reached the HDB (merged by the WDB).
    expect(await hdbPartitions()).toBe(2);
    // Once the feed stops, the answer is the whole log, exactly.
    await until(async () => (await ask3().catch(() => undefined))?.a.count === PAST + published, 30_000, 100);
    const last = await ask3();
    expect(last.a).toEqual({ count: PAST + published, sum: (published * (published - 1)) / 2 - PAST, max: published - 1 });

    expect(seen.length).toBeGreaterThanOrEqual(40);
    expect(errors).toEqual([]);
    // Each answer: the past day plus a whole prefix of the log (n rows: fids 0..n-1), n at least what was acked 0.5 s before.
    const bad = seen.filter((s) => {
      const n = s.count - PAST;
      return n < s.low || n > s.high || s.sum !== (n * (n - 1)) / 2 - PAST || s.max !== n - 1;
    });
    expect(bad.slice(0, 5)).toEqual([]);
    // The three tiers answered together (RDB window + IDB + HDB), and across the roll.
    expect([...tiers].some((t) => t === 'hdb+idb+rdb')).toBe(true);
    pub.close();
    gw.close?.();
    for (const p of procs.reverse()) await p.stop();
    await tp.stop();
  }, 120_000);
});
