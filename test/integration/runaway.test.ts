// Proves that one runaway SQL statement does not take the host: the HDB's DuckDB runs with a
// bounded memory limit and thread count (storage/hdb/duck.ts duckdbLimits), so a cross join of
// two range(1e9) (which drove the HDB to 16.6 GiB RSS with DuckDB's defaults) is refused or
// interrupted while the RDB and the gateway beside it keep answering small queries (none times
// out; the latency figure is the benchmark's). Real
// processes (tickerplant, RDB, HDB, gateway) on a real nats-server.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, stopProc, waitUp, type Proc } from '../support/procs.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
const procs: Proc[] = [];

function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-runaway-'));
  const cfg = join(dir, 'config.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      tables: testTables,
      defaults: {
        tickerplant: { mode: 'immediate' },
        rdb: { tp: 'tp1', hdbDir: join(dir, 'hdb') },
        hdb: { hdbDir: join(dir, 'hdb'), sqlTimeoutMs: 4_000, memoryLimit: '256MB' },
      },
    }),
  );
  for (const [type, name] of [['tickerplant', 'tp1'], ['rdb', 'rdb1'], ['hdb', 'hdb1'], ['gateway', 'gw1']] as const) {
    const p = spawnProc(type, name, cfg, server.url);
    procs.push(p);
    await waitUp(nc, name);
  }
  const pub = new Publisher(nc, { tp: 'tp1' });
  await pub.publish('trade', { rows: [['AAPL', 10, 1, 1], ['MSFT', 20, 2, 2]] });
  pub.close();
});

afterAll(async () => {
  for (const p of procs.reverse()) await stopProc(p);
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('runaway statement', () => {
  it('hdb: a cross join of two range(1e9) stays within the memory limit; the RDB and gateway keep answering small queries', async () => {
    const gw = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 2_000 });
    const small = { type: 'tickbus.v1.query', table: 'trade', count: true };
    await until(async () => (await gw.sync<{ n: number }>(small, ['rdb']).catch(() => undefined))?.result.n === 2, 20_000, 100);
    const hdb = procs.find((p) => p.name === 'hdb1')!;
    const runaway = nc
      .request('q.hdb.hdb1', encode({ type: 'tickbus.v1.sql', sql: 'SELECT count(*) FROM range(1000000000) a CROSS JOIN range(1000000000) b' }), { timeout: 20_000 })
      .then((m) => decode<{ type: string; code?: string; message?: string }>(m.data));
    let done = false;
    void runaway.finally(() => (done = true));
    const rdbMs: number[] = [];
    const gwMs: number[] = [];
    // Small queries at 50/s to each while the statement runs (it is interrupted at sqlTimeoutMs).
    while (!done) {
      const t0 = performance.now();
      const r = decode<{ n: number }>((await nc.request('q.rdb.rdb1', encode(small), { timeout: 2_000 })).data);
      expect(r.n).toBe(2);
      const t1 = performance.now();
      expect((await gw.sync<{ n: number }>(small, ['rdb'])).result.n).toBe(2);
      const t2 = performance.now();
      rdbMs.push(t1 - t0);
      gwMs.push(t2 - t1);
      await new Promise((res) => setTimeout(res, 20));
    }
    const answer = await runaway;
    expect(answer.type).toBe('tickbus.v1.error');
    expect(['RESOURCE_LIMIT', 'BAD_QUERY']).toContain(answer.code);
    const hwm = vmHwmMiB(hdb.child.pid!);
    console.log(`runaway: ${answer.code} (${answer.message}); HDB VmHWM ${hwm.toFixed(0)} MiB; ${rdbMs.length} rounds; RDB p99 ${p99(rdbMs).toFixed(1)} ms, gateway p99 ${p99(gwMs).toFixed(1)} ms`);
    // The HDB stayed near its 256 MB limit (plus Node and DuckDB's own code), far from the host's RAM.
    expect(hwm).toBeLessThan(1024);
    // Every small query was answered within its 2 s bound (a timeout throws above). The p99 itself
    // is a figure, not an assertion (it depends on what else the machine runs): alone on 2 cores it
    // measured ~10 ms; `npm run bench` reports it as runaway_small_query_p99_ms (target <= 50).
    expect(rdbMs.length).toBeGreaterThan(20);
    // And the HDB answers again.
    const after = decode<{ type: string }>((await nc.request('q.hdb.hdb1', encode({ type: 'tickbus.v1.sql', sql: 'SELECT 1 AS one' }), { timeout: 5_000 })).data);
    expect(after.type).toBe('tickbus.v1.result');
    gw.close();
  }, 60_000);
});
