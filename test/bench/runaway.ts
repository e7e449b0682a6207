// Small queries beside a runaway statement (issue 12): a tickerplant, an RDB, an HDB and a gateway
// as OS processes; the p99 of small queries to the RDB and through the gateway, first alone, then
// while the HDB runs a cross join of two range(1e9) (bounded by the HDB's DuckDB memory limit and
// thread count, interrupted at its sqlTimeoutMs). Run alone: BENCH_ONLY=runaway npm run bench.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { decode, encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { testTables } from '../support/bus.ts';
import { spawnProc, stopProc, waitUp, type Proc } from '../support/procs.ts';
import type { Metric } from './metric.ts';

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

export async function benchRunaway(): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-runaway-'));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc = await connect({ servers: server.url });
  const procs: Proc[] = [];
  try {
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ tables: testTables, defaults: { tickerplant: { mode: 'immediate' }, rdb: { tp: 'tp1' }, hdb: { hdbDir: join(dir, 'hdb'), sqlTimeoutMs: 8_000 } } }));
    for (const [type, name] of [['tickerplant', 'tp1'], ['rdb', 'rdb1'], ['hdb', 'hdb1'], ['gateway', 'gw1']] as const) {
      procs.push(spawnProc(type, name, cfg, server.url));
      await waitUp(nc, name);
    }
    const pub = new Publisher(nc, { tp: 'tp1' });
    await pub.publish('trade', { rows: [['AAPL', 10, 1, 1], ['MSFT', 20, 2, 2]] });
    pub.close();
    const gw = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 5_000 });
    const small = { type: 'tickbus.v1.query', table: 'trade', count: true };
    const round = async (rdb: number[], via: number[]) => {
      const t0 = performance.now();
      decode((await nc.request('q.rdb.rdb1', encode(small), { timeout: 5_000 })).data);
      const t1 = performance.now();
      await gw.sync(small, ['rdb']);
      rdb.push(t1 - t0);
      via.push(performance.now() - t1);
      await new Promise((r) => setTimeout(r, 20));
    };
    for (let i = 0; i < 50; i++) await round([], []); // warm up
    const aloneRdb: number[] = [];
    const aloneGw: number[] = [];
    for (let i = 0; i < 200; i++) await round(aloneRdb, aloneGw);
    let done = false;
    const runaway = nc
      .request('q.hdb.hdb1', encode({ type: 'tickbus.v1.sql', sql: 'SELECT count(*) FROM range(1000000000) a CROSS JOIN range(1000000000) b' }), { timeout: 30_000 })
      .finally(() => (done = true));
    const busyRdb: number[] = [];
    const busyGw: number[] = [];
    while (!done) await round(busyRdb, busyGw);
    await runaway;
    gw.close();
    return [
      { metric: 'small_query_rdb_p99_ms', value: p99(aloneRdb), unit: 'ms', target: 'info' },
      { metric: 'runaway_small_query_rdb_p99_ms', value: p99(busyRdb), unit: 'ms', baseline: 'small_query_rdb_p99_ms', ratio: p99(busyRdb) / p99(aloneRdb) },
      { metric: 'small_query_gateway_p99_ms', value: p99(aloneGw), unit: 'ms', target: 'info' },
      { metric: 'runaway_small_query_gateway_p99_ms', value: p99(busyGw), unit: 'ms', baseline: 'small_query_gateway_p99_ms', ratio: p99(busyGw) / p99(aloneGw) },
    ];
  } finally {
    for (const p of procs.reverse()) await stopProc(p);
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
