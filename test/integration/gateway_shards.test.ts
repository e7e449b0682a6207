// Proves that a getdata routed by attributes to several processes holding disjoint data (two
// shards: each RDB fed by its own tickerplant) is merged, not razed: counts and averages per sym
// come out as one process holding both shards would give them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { connectTo, startServer, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
let server: NatsServer;
let nc: NatsConnection;
const runtimes: ProcessRuntime[] = [];

async function proc(proctype: string, name: string, settings: Record<string, unknown>, attributes: Record<string, unknown> = {}): Promise<void> {
  runtimes.push(await startRuntime(server.url, proctype, name, settings, { tables, attributes, heartbeatMs: 100 }));
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  for (const [tp, rows] of [
    ['tpa', [['AAPL', 10, 1], ['MSFT', 20, 2], ['AAPL', 30, 3]]],
    ['tpb', [['AAPL', 40, 4], ['MSFT', 50, 5]]],
  ] as const) {
    await proc('tickerplant', tp, { mode: 'immediate' });
    const pub = new Publisher(nc, { tp });
    await pub.publish('trade', { rows: rows.map((r) => [...r]) });
    pub.close();
  }
  await proc('rdb', 'rdba', { tp: 'tpa' }, { shard: 'a' });
  await proc('rdb', 'rdbb', { tp: 'tpb' }, { shard: 'b' });
  await proc('gateway', 'gw1', {});
});

afterAll(async () => {
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

describe('gateway over shards', () => {
  it('gateway: a getdata routed by attributes to two shards is merged, not razed', async () => {
    const client = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 10_000 });
    const range = { type: 'tickbus.v1.getdata', table: 'trade', start: '1970-01-01T00:00:00Z', end: new Date(Date.now() + 86_400_000).toISOString() };
    const q = { ...range, grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'avg', column: 'price' }, { op: 'sum', column: 'size' }] };
    const target = { types: ['rdb'], attributes: { shard: ['a', 'b'] }, match: 'independent' as const };
    await until(async () => (await client.sync<QueryResult>(q, target).catch(() => undefined))?.parts.length === 2, 10_000, 100);
    const r = await client.sync<QueryResult>(q, target);
    expect(r.parts.map((p) => p.name).sort()).toEqual(['rdba', 'rdbb']);
    expect(r.result.cols).toEqual({
      sym: ['AAPL', 'MSFT'],
      count: BigInt64Array.of(3n, 2n),
      avgPrice: Float64Array.of((10 + 30 + 40) / 3, 35),
      sumSize: BigInt64Array.of(8n, 7n),
    });
    // Raw rows from both shards, in time order, limit applied after the merge.
    const raw = await client.sync<QueryResult>({ ...range, columns: ['size'], limit: 4 }, target);
    expect(raw.result.n).toBe(4);
    // med cannot be merged across shards: a clear error, never a half-merged answer.
    await expect(client.sync({ ...range, aggregations: [{ op: 'med', column: 'price' }] }, target)).rejects.toMatchObject({ code: 'BAD_QUERY' });
    client.close();
  });
});
