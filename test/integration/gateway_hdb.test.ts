// Proves the gateway's data-access route end to end with the real process types (depends on issue
// 3's HDB: actors/hdb, storage/hdb): yesterday is a Parquet partition written by the HDB writer,
// today is in the RDB fed through the tickerplant; the HDB and RDB run as `actors up` runs them
// (process runtime + actors/registry.ts) and report their days as registry attributes (the HDB
// first/last, the RDB dates). A getdata across both days with no target is split between them and
// merged: aggregations from partial parts (count, sum, avg as sum and count, last by time) and raw
// rows in time order, equal to what one process holding both days would answer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { connectTo, startServer, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
let server: NatsServer;
let nc: NatsConnection;
let dir: string;
const runtimes: ProcessRuntime[] = [];
const yday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

async function proc(proctype: string, name: string, settings: Record<string, unknown>): Promise<void> {
  runtimes.push(await startRuntime(server.url, proctype, name, settings, { tables, heartbeatMs: 100 }));
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-gwhdb-'));
  const hdbDir = join(dir, 'hdb');
  const t = new MemTable(defineTable('trade', tables.trade), new SymbolTable());
  const at = BigInt(Date.parse(`${yday}T10:00:00Z`)) * 1_000_000n;
  t.append({
    table: 'trade',
    n: 3,
    cols: { time: BigInt64Array.of(at, at + 1n, at + 2n), sym: { dict: ['AAPL', 'MSFT'], codes: Uint32Array.of(0, 1, 0) }, price: Float64Array.of(10, 20, 30), size: BigInt64Array.of(1n, 2n, 3n) },
  });
  await writePartition(hdbDir, yday, 'trade', t);
  await proc('tickerplant', 'tp1', { mode: 'immediate' });
  const pub = new Publisher(nc, { tp: 'tp1' });
  await pub.publish('trade', { rows: [['AAPL', 40, 4], ['MSFT', 50, 5]] });
  pub.close();
  await proc('rdb', 'rdb1', { tp: 'tp1', hdbDir });
  await proc('hdb', 'hdb1', { hdbDir, rescanMs: 0 });
  await proc('gateway', 'gw1', {});
});

afterAll(async () => {
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway over the real RDB and HDB', () => {
  it('gateway: a getdata across yesterday (HDB, Parquet) and today (RDB) is split between them and merged', async () => {
    const client = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 10_000 });
    const range = { type: 'tickbus.v1.getdata', table: 'trade', start: `${yday}T00:00:00Z`, end: new Date(Date.now() + 3_600_000).toISOString() };
    const q = { ...range, grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }, { op: 'avg', column: 'price' }, { op: 'last', column: 'price' }] };
    // Both have registered their days (the HDB after it opened its partitions).
    await until(async () => (await client.sync<QueryResult>(q).catch(() => undefined))?.parts.length === 2, 10_000, 100);
    const r = await client.sync<QueryResult>(q);
    expect(r.parts.map((p) => `${p.proctype}:${p.name}`)).toEqual(['hdb:hdb1', 'rdb:rdb1']);
    expect(r.result.cols).toEqual({
      sym: ['AAPL', 'MSFT'],
      count: BigInt64Array.of(3n, 2n),
      sumSize: BigInt64Array.of(8n, 7n),
      avgPrice: Float64Array.of((10 + 30 + 40) / 3, 35),
      lastPrice: Float64Array.of(40, 50),
    });
    // The same getdata with the types named explicitly is split and merged the same way, not
    // razed into one aggregate row per backend (issue 12: count [34, 27872] for one sym before).
    const named = await client.sync<QueryResult>(q, ['rdb', 'hdb']);
    expect(named.parts.map((p) => `${p.proctype}:${p.name}`)).toEqual(['hdb:hdb1', 'rdb:rdb1']);
    expect(named.result.cols).toEqual(r.result.cols);
    // One type named: that process answers alone, as before.
    const rdbOnly = await client.sync<QueryResult>(q, ['rdb']);
    expect(rdbOnly.result.cols.count).toEqual(BigInt64Array.of(1n, 1n));
    const raw = await client.sync<QueryResult>({ ...range, columns: ['sym', 'size'] });
    expect(raw.result.cols).toEqual({ sym: ['AAPL', 'MSFT', 'AAPL', 'AAPL', 'MSFT'], size: BigInt64Array.of(1n, 2n, 3n, 4n, 5n) });
    const last2 = await client.sync<QueryResult>({ ...range, columns: ['size'], limit: -2 });
    expect(last2.result.cols.size).toEqual(BigInt64Array.of(4n, 5n));
    const rawNamed = await client.sync<QueryResult>({ ...range, columns: ['sym', 'size'] }, ['hdb', 'rdb']);
    expect(rawNamed.result.cols).toEqual(raw.result.cols);
    client.close();
  });
});
