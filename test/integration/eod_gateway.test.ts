// Proves the end-of-day hand-over seen through the gateway, with the real RDB, HDB and gateway
// (each under the process runtime, registering in the real registry) and a tickerplant whose
// clock crosses midnight while a feed runs: a getdata count over all days, asked again and again
// through the roll and the RDB's (deliberately slow) write-down, never counts a row twice and
// never misses a row acknowledged half a second earlier — the finished day is held by the RDB
// until an HDB holds it, and the RDB advertises an open-ended range so the new day needs no update.
// A query may wait; an error is allowed only if it is the clear EOD_IN_PROGRESS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { processType } from '../../actors/registry.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { clockBeforeMidnight, connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-eodgw-'));
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function run(proctype: string, name: string, settings: Record<string, unknown>): Promise<ProcessRuntime> {
  const type = processType(proctype);
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers: server.url,
    logger: silentLogger,
    heartbeatMs: 250,
    subjects: type.subjects(name, settings),
    start: (c, ctx) => type.start(c, name, { tables: testTables, ...settings }, silentLogger, ctx),
  });
  await rt.start();
  return rt;
}

describe('end of day through the gateway', () => {
  it('gateway: across the roll and the write-down, a day is never counted twice or missed', async () => {
    // The tickerplant lives 2 s before midnight, and stamps its rows with that clock too.
    const { clock } = clockBeforeMidnight(2_000);
    const tp = await startTickerplant(nc, { name: 'eg', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
    await tp.ready();
    const hdbDir = join(dir, 'hdb');
    const procs = [
      await run('hdb', 'egh', { hdbDir, rescanMs: 0 }),
      await run('rdb', 'egr', { tp: 'eg', hdbDir, eodWriteDelayMs: 700 }),
      await run('gateway', 'egw', {}),
    ];
    const gw = new GatewayClient(nc, { gateway: 'egw' });
    const pub = new Publisher(nc, { tp: 'eg' });
    let published = 0;
    let acked = 0;
    /** [time, rows acked by then]: an ack means durable in the log; the RDB applies it a moment later. */
    const ackLog: Array<[number, number]> = [];
    const ackedBy = (t: number) => {
      let n = 0;
      for (const [at, total] of ackLog) if (at <= t) n = total;
      return n;
    };
    let stop = false;
    const feeding = (async () => {
      while (!stop) {
        const rows = Array.from({ length: 20 }, (_, i) => ['AAPL', 1, 1, published + i]);
        published += 20;
        await pub.publish('trade', { rows });
        acked += 20;
        ackLog.push([Date.now(), acked]);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const query = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', aggregations: [{ op: 'count' }] };
    const seen: Array<{ low: number; count: number; high: number }> = [];
    const errors: string[] = [];
    // Measure once the gateway sees today's rows (the RDB registers its day with its first batch).
    await until(async () => {
      const r = await gw.sync<{ cols: { count: ArrayLike<number | bigint> } }>({ type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', aggregations: [{ op: 'count' }] }).catch(() => undefined);
      return r !== undefined && Number(r.result.cols.count[0] ?? 0) > 0;
    }, 10_000, 50);
    const endAt = Date.now() + 5_000; // the roll at +2 s, the write-down (two 0.7 s pauses) after it
    while (Date.now() < endAt) {
      // Every row acked half a second before the query must be in its answer (a missed day would
      // be thousands of rows short; the allowance only covers the RDB applying the latest batches).
      const low = ackedBy(Date.now() - 500);
      try {
        const r = await gw.sync<{ cols: { count: ArrayLike<number | bigint> } }>(query, undefined, { timeoutMs: 10_000 });
        const count = Number(r.result.cols.count[0] ?? 0);
        seen.push({ low, count, high: published });
      } catch (e) {
        errors.push(`${(e as { code?: string }).code}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    stop = true;
    await feeding;
    // The roll happened and the day reached the HDB.
    await until(async () => (await nc.request('ctl.egh.status', '', { timeout: 1_000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)).status.partitions as number)) === 1, 15_000);
    expect(seen.length).toBeGreaterThan(50);
    expect(errors.filter((e) => !e.startsWith('EOD_IN_PROGRESS'))).toEqual([]);
    const bad = seen.filter((s) => s.count < s.low || s.count > s.high);
    expect(bad).toEqual([]);
    pub.close();
    gw.close?.();
    for (const p of procs.reverse()) await p.stop();
    await tp.stop();
  }, 60_000);
});
