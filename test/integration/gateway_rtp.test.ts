// Gateway routing to a real-time processor: a gateway query with `target: {types: ['rtp']}`
// reaches an RTP process (the aggregate example, holding trades only) and answers from its tables,
// a simple query and a getdata alike; with rtp first in the gateway's `dataTypes`, a getdata (to
// named types or to none) takes today's rows of a table from the RTP when it holds the table and
// from the RDB when it does not (the derived table), never from both. Real nats-server,
// tickerplant, RDB, RTP and gateway, started as `actors up` starts them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { GatewayClient, type GatewayReply } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { aggregateTable } from '../../actors/rtp/examples/aggregate.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { clockAt, connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { status } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';

const tables = { ...testTables, aggregate: aggregateTable };
const SYMS = ['AAPL', 'MSFT', 'IBM'];
type Result = { cols: Record<string, ArrayLike<unknown>>; n?: number };

let server: NatsServer;
let nc: NatsConnection;
let tp: Tickerplant | undefined;
const rts: ProcessRuntime[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  for (const r of rts.reverse()) await r.stop().catch(() => {});
  await tp?.stop();
  await nc?.close();
  await server?.dispose();
});

let fid = 0n;
function trade(n: number) {
  const sym = Array.from({ length: n }, (_, i) => SYMS[i % SYMS.length]!);
  return { cols: { sym, price: Float64Array.from(sym, (_, i) => 100 + i), size: BigInt64Array.from(sym, () => 100n), fid: BigInt64Array.from(sym, () => ++fid) } };
}

describe('gateway to rtp', () => {
  it('gateway to rtp: target types rtp answers from the RTP tables; with rtp in dataTypes a getdata takes today from the RTP when it holds the table, else from the RDB', async () => {
    tp = await startTickerplant(nc, { name: 'gr', tables, mode: 'immediate' }, silentLogger, clockAt(Date.now()));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'gr' });
    for (let i = 0; i < 4; i++) await pub.publish('trade', trade(5));
    const o = { tables, heartbeatMs: 250 };
    // The RTP reads and holds trades only (subscribeTables); the RDB holds every table, the derived one too.
    rts.push(await startRuntime(server.url, 'rtp', 'gra', { tp: 'gr', vanilla: false, processor: 'actors/rtp/examples/aggregate.ts', subscribeTables: ['trade'] }, o));
    rts.push(await startRuntime(server.url, 'rdb', 'grr', { tp: 'gr' }, o));
    rts.push(await startRuntime(server.url, 'gateway', 'grg', { dataTypes: ['rtp', 'rdb', 'hdb', 'idb'] }, o));
    await until(async () => ((await status<{ derivedAcked: number; held: number }>(nc, 'gra', 1_000))?.derivedAcked ?? 0) === 4, 60_000);
    const gw = new GatewayClient(nc, { gateway: 'grg', timeoutMs: 20_000 });

    // A simple query to the rtp type: the RTP's trades (20 rows), not the RDB's.
    let r: GatewayReply<Result> | undefined;
    let err: unknown;
    await until(async () => {
      r = await gw.sync<Result>({ type: 'tickbus.v1.query', table: 'trade', count: true }, { types: ['rtp'] }).catch((e: unknown) => void (err = e));
      return r !== undefined;
    }, 30_000, 200).catch(() => {
      throw new Error(`no answer through the gateway: ${String(err)}`);
    });
    expect(r!.result).toMatchObject({ n: 20 });
    expect(r!.parts.map((p) => p.proctype)).toEqual(['rtp']);

    const cnt = (x: GatewayReply<Result>) => Number((Object.values(x.result.cols)[0] as ArrayLike<number | bigint>)[0]);
    const getdata = (table: string, target?: { types: string[] }) => gw.sync<Result>({ type: 'tickbus.v1.getdata', table, start: '2000-01-01', end: '2100-01-01', aggregations: [{ op: 'count' }] }, target);
    // getdata to the rtp type: split by time like any, today's part to the RTP.
    const gd = await getdata('trade', { types: ['rtp'] });
    expect({ n: cnt(gd), by: gd.parts.map((p) => p.name) }).toEqual({ n: 20, by: ['gra'] });
    // With rtp first in the gateway's dataTypes, today's rows of a table come from the RTP when it
    // holds the table, from the RDB when it does not (the derived table: the RTP's pre keeps trades
    // only; the RDB has it from the log): named types or none, never both (no row twice).
    for (const target of [{ types: ['rtp', 'rdb'] }, undefined]) {
      const t = await getdata('trade', target);
      expect({ n: cnt(t), by: t.parts.map((p) => p.name) }).toEqual({ n: 20, by: ['gra'] });
      const a = await getdata('aggregate', target);
      expect({ n: cnt(a), by: a.parts.map((p) => p.name) }).toEqual({ n: 12, by: ['grr'] }); // 4 inputs x 3 syms
    }
    gw.close();
    pub.close();
  }, 120_000);
});
