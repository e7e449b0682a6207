// Proves the gateway's data-access route over a real nats-server: a getdata request without a
// target is split by trading day between an "hdb" holding 2026-11-20..21 (reported as first/last,
// as storage/hdb reports it) and an "rdb" holding 2026-11-22 (reported as dates), each answering
// its sub-range with the real query engine (storage/query runQuery, partial aggregates when asked)
// behind the process runtime's query handler; the merged answer equals one engine over all days.
// The end-of-day hold: while the rdb reports `handoff` of a day nobody holds yet, a query needing it
// waits; when the hdb reports the day it runs once, with the day once; a hold longer than
// eodHoldMs is EOD_IN_PROGRESS. Attributes travel through the registry (runtime re-registers on
// change), so this also proves the gateway follows attribute changes with no restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { TickbusError } from '../../bus/errors.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startGateway, type Gateway } from '../../actors/gateway/effects.ts';
import { runQuery } from '../../storage/query/memory.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import type { MemTable } from '../../storage/table.ts';
import { connectTo, silentLogger, startServer, until } from '../support/bus.ts';
import { tablesFor, tradeTables } from '../support/trades.ts';

const DAYS = ['2026-11-20', '2026-11-21', '2026-11-22'];
let server: NatsServer;
let nc: NatsConnection;
let gw: Gateway;
let client: GatewayClient;
const runtimes: ProcessRuntime[] = [];
const attrs: Record<string, Record<string, unknown>> = {
  hdb1: { tables: { trade: { partitions: 2 } }, first: DAYS[0], last: DAYS[1] },
  rdb1: { tables: ['trade'], dates: [DAYS[2]] },
};

async function holder(proctype: string, name: string, tables: Map<string, MemTable>): Promise<void> {
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers: server.url,
    logger: silentLogger,
    heartbeatMs: 50,
    start: async () => ({
      ready: async () => {},
      stop: async () => {},
      status: () => ({}),
      attributes: () => attrs[name]!,
      query: (request) => runQuery(tables, request),
    }),
  });
  await rt.start();
  runtimes.push(rt);
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  await holder('hdb', 'hdb1', tablesFor(DAYS.slice(0, 2), DAYS));
  await holder('rdb', 'rdb1', tablesFor(DAYS.slice(2), DAYS));
  const rt = new ProcessRuntime({
    proctype: 'gateway',
    name: 'gwd',
    servers: server.url,
    logger: silentLogger,
    start: async (c, ctx) => {
      gw = await startGateway(c, { name: 'gwd', tables: tradeTables, eodHoldMs: 800 }, silentLogger, { apis: ctx.apis });
      return { ready: (t) => gw.ready(t), stop: () => gw.stop(), status: () => gw.status() };
    },
  });
  await rt.start();
  runtimes.push(rt);
  client = new GatewayClient(nc, { gateway: 'gwd', timeoutMs: 10_000 });
});

afterAll(async () => {
  client?.close();
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

const all = tablesFor(DAYS, DAYS);
const whole = { type: 'tickbus.v1.getdata', table: 'trade', start: '2026-11-20T00:00:00Z', end: '2026-11-22T23:59:59Z' };
const byName = (gws: Gateway, name: string) => gws.backends().find((b) => b.name === name);

describe('gateway data access', () => {
  it('gateway: a getdata across history and today is split between hdb and rdb and merged as one process would answer', async () => {
    const q = { ...whole, grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'avg', column: 'price' }, { op: 'last', column: 'price' }, { op: 'sum', column: 'size' }] };
    const r = await client.sync<QueryResult>(q);
    expect(r.parts.map((p) => p.name)).toEqual(['hdb1', 'rdb1']);
    const want = runQuery(all, q);
    expect(r.result.columns).toEqual(want.columns);
    expect(r.result.cols.sym).toEqual(want.cols.sym);
    expect(r.result.cols.count).toEqual(want.cols.count);
    expect(r.result.cols.sumSize).toEqual(want.cols.sumSize);
    expect(r.result.cols.lastPrice).toEqual(want.cols.lastPrice);
    (r.result.cols.avgPrice as Float64Array).forEach((v, i) => expect(v).toBeCloseTo((want.cols.avgPrice as Float64Array)[i]!, 9));
    const last = await client.sync<QueryResult>({ ...whole, columns: ['time', 'price'], limit: -5 });
    expect(last.result.cols).toEqual(runQuery(all, { ...whole, columns: ['time', 'price'], limit: -5 }).cols);
  });

  it('gateway: a day in end-of-day hand-off holds the query; it runs once the day is held, with the day once', async () => {
    attrs.hdb1 = { ...attrs.hdb1, last: DAYS[0] };
    attrs.rdb1 = { ...attrs.rdb1, handoff: DAYS[1] };
    await until(() => byName(gw, 'rdb1')?.attributes.handoff === DAYS[1] && byName(gw, 'hdb1')?.attributes.last === DAYS[0], 5_000);
    const t0 = performance.now();
    const pending = client.sync<QueryResult>({ ...whole, aggregations: [{ op: 'count' }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(gw.status()).toMatchObject({ held: 1 });
    // The real RDB's order: the HDB holds the day before the RDB stops advertising it.
    attrs.hdb1 = { ...attrs.hdb1, last: DAYS[1] };
    await until(() => byName(gw, 'hdb1')?.attributes.last === DAYS[1], 5_000);
    attrs.rdb1 = { tables: ['trade'], dates: [DAYS[2]] };
    const r = await pending;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    expect(r.result.cols.count).toEqual(runQuery(all, { ...whole, aggregations: [{ op: 'count' }] }).cols.count);
  });

  it('gateway: a hand-off longer than eodHoldMs answers EOD_IN_PROGRESS', async () => {
    attrs.hdb1 = { ...attrs.hdb1, last: DAYS[0] };
    attrs.rdb1 = { ...attrs.rdb1, handoff: DAYS[1] };
    await until(() => byName(gw, 'rdb1')?.attributes.handoff === DAYS[1] && byName(gw, 'hdb1')?.attributes.last === DAYS[0], 5_000);
    const t0 = performance.now();
    try {
      await client.sync(whole);
      throw new Error('expected EOD_IN_PROGRESS');
    } catch (e) {
      expect(e).toBeInstanceOf(TickbusError);
      expect(e).toMatchObject({ code: 'EOD_IN_PROGRESS', detail: { day: DAYS[1], holder: 'rdb1' } });
    }
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(780);
    expect(ms).toBeLessThan(1_800);
  });
});
