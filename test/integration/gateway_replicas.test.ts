// Proves replica routing across shards with real processes: two shards (each its own tickerplant)
// with two RDB replicas each (same attributes). A getdata routed by attributes runs one part per
// shard on one live replica (never both, which would double-count), merged; after one replica of
// a shard is SIGKILLed the gateway finds it gone (no responders) and routes to the other, with the
// same answer. The failover gap (first answer after the kill) is bounded by the test and printed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, stopProc, waitUp, type Proc } from '../support/procs.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
const procs = new Map<string, Proc>();
const shards = { a: { tp: 'tpra', rows: 30 }, b: { tp: 'tprb', rows: 12 } } as const;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-replicas-'));
  const cfg = join(dir, 'config.json');
  const processes: Record<string, unknown> = {};
  for (const [shard, s] of Object.entries(shards)) {
    for (const r of [1, 2]) processes[`rdb${shard}${r}`] = { tp: s.tp, attributes: { shard } };
  }
  writeFileSync(cfg, JSON.stringify({ tables: testTables, defaults: { tickerplant: { mode: 'immediate' } }, processes }));
  const start = (t: string, n: string) => procs.set(n, spawnProc(t, n, cfg, server.url));
  for (const s of Object.values(shards)) start('tickerplant', s.tp);
  for (const s of Object.values(shards)) await waitUp(nc, s.tp);
  for (const [shard, s] of Object.entries(shards)) {
    const pub = new Publisher(nc, { tp: s.tp });
    const n = s.rows;
    await pub.publish('trade', { cols: { sym: { dict: ['AAPL', 'MSFT'], codes: Uint32Array.from({ length: n }, (_, i) => i % 2) }, price: new Float64Array(n).fill(1), size: new BigInt64Array(n).fill(1n), fid: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) } });
    pub.close();
    for (const r of [1, 2]) start('rdb', `rdb${shard}${r}`);
  }
  start('gateway', 'gwr');
  for (const n of procs.keys()) await waitUp(nc, n);
}, 90_000);

afterAll(async () => {
  for (const p of [...procs.values()].reverse()) await stopProc(p);
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway over shard replicas', () => {
  it('gateway: one live replica per shard answers (no double count), and a SIGKILLed replica fails over to the other', async () => {
    const client = new GatewayClient(nc, { gateway: 'gwr', timeoutMs: 5_000 });
    const q = { type: 'tickbus.v1.getdata', table: 'trade', start: '1970-01-01T00:00:00Z', end: new Date(Date.now() + 86_400_000).toISOString(), aggregations: [{ op: 'count' }] };
    const target = { types: ['rdb'], attributes: { shard: ['a', 'b'] }, match: 'independent' as const };
    const total = shards.a.rows + shards.b.rows;
    const count = async () => {
      const r = await client.sync<QueryResult>(q, target);
      return { n: Number((r.result.cols.count as BigInt64Array)[0]), names: r.parts.map((p) => p.name).sort() };
    };
    await until(async () => (await count().catch(() => undefined))?.n === total, 20_000, 100);
    // Repeatedly: always two parts (one per shard), always the exact total.
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await count();
      expect(r.n).toBe(total);
      expect(r.names).toHaveLength(2);
      expect(r.names.filter((n) => n.startsWith('rdba'))).toHaveLength(1);
      r.names.forEach((n) => seen.add(n));
    }
    // Kill a replica of shard a (one the gateway has used), then query on.
    const victim = [...seen].find((n) => n.startsWith('rdba'))!;
    const p = procs.get(victim)!;
    p.child.kill('SIGKILL');
    await p.exited;
    const t0 = Date.now();
    let failures = 0;
    let firstOkMs = -1;
    for (let i = 0; i < 30; i++) {
      const r = await count().catch(() => undefined);
      if (!r) {
        failures++;
        continue;
      }
      if (firstOkMs < 0) firstOkMs = Date.now() - t0;
      expect(r.n).toBe(total);
      expect(r.names).not.toContain(victim);
      expect(r.names).toHaveLength(2);
    }
    process.stderr.write(`gateway replica failover: first answer ${firstOkMs} ms after the SIGKILL, ${failures} failed queries of 30\n`);
    expect(firstOkMs).toBeGreaterThanOrEqual(0);
    expect(firstOkMs).toBeLessThan(5_000);
    client.close();
  }, 60_000);
});
