// Proves that a result bigger than one NATS message (max_payload, 1 MiB by default) is answered,
// never lost to a publish that throws: a caller that sends `Tb-Accept-Chunks: 1` gets it in
// ordered chunks (bus/reply.ts), one that does not gets RESULT_TOO_LARGE at once naming the bytes.
// 2M-row results in JSON (a raw-protocol client we did not write) and CBOR (the gateway client),
// from the RDB (its own reply path), the HDB (the process runtime's) and through the gateway
// (which receives its parts in chunks, merges, and answers in chunks).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { encode, decode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { Publisher } from '../../bus/publisher.ts';
import { acceptChunksHeaders } from '../../bus/reply.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { RawNats } from '../support/raw_nats.ts';
import { startRuntime } from '../support/runtime.ts';

const N = 2_000_000;
const BATCH = 25_000;
let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let raw: RawNats;
let yday: string;
const runtimes: ProcessRuntime[] = [];

async function proc(proctype: string, name: string, settings: Record<string, unknown>): Promise<void> {
  // The default heartbeat: every process of this test shares one event loop, which a 2M-row
  // encode keeps busy for a while (separate processes do not stall each other like this).
  runtimes.push(await startRuntime(server.url, proctype, name, settings, { tables: testTables }));
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-big-'));
  const hdbDir = join(dir, 'hdb');
  // Yesterday in the HDB: N rows, size = row index.
  yday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const t = new MemTable(defineTable('trade', testTables.trade), new SymbolTable());
  const at = BigInt(Date.parse(`${yday}T10:00:00Z`)) * 1_000_000n;
  const time = new BigInt64Array(N);
  const size = new BigInt64Array(N);
  for (let i = 0; i < N; i++) {
    time[i] = at + BigInt(i);
    size[i] = BigInt(i);
  }
  t.append({ table: 'trade', n: N, cols: { time, sym: { dict: ['AAPL'], codes: new Uint32Array(N) }, price: new Float64Array(N).fill(1), size, fid: new BigInt64Array(N) } });
  await writePartition(hdbDir, yday, 'trade', t);
  // Today in the RDB: N rows through the tickerplant, size = row index.
  await proc('tickerplant', 'tp1', { mode: 'immediate' });
  const pub = new Publisher(nc, { tp: 'tp1' });
  for (let b = 0; b < N / BATCH; b++) {
    const sz = new BigInt64Array(BATCH);
    for (let i = 0; i < BATCH; i++) sz[i] = BigInt(b * BATCH + i);
    await pub.publish('trade', { cols: { sym: { dict: ['AAPL'], codes: new Uint32Array(BATCH) }, price: new Float64Array(BATCH).fill(1), size: sz, fid: new BigInt64Array(BATCH) } });
  }
  pub.close();
  await proc('rdb', 'rdb1', { tp: 'tp1', hdbDir });
  await proc('hdb', 'hdb1', { hdbDir, rescanMs: 0 });
  await proc('gateway', 'gw1', {});
  raw = await RawNats.connect(server.port);
}, 120_000);

afterAll(async () => {
  raw?.close();
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** n(n-1)/2: the sum of sizes 0..n-1. */
const triangle = (n: number) => (n * (n - 1)) / 2;

describe('big replies', () => {
  it('wire: a 2M-row JSON result from the RDB arrives in chunks to a raw client that accepts them, else RESULT_TOO_LARGE at once', async () => {
    const q = { type: 'tickbus.v1.query', table: 'trade', columns: ['size'] };
    await until(async () => JSON.parse((await raw.request('q.rdb.rdb1', { ...q, count: true })).body).n === N, 30_000, 200);
    // No opt-in: an answer at once (not a timeout), naming the size and the way out.
    const t0 = Date.now();
    const refused = JSON.parse((await raw.request('q.rdb.rdb1', q, 20_000)).body);
    expect(refused).toMatchObject({ type: 'tickbus.v1.error', code: 'RESULT_TOO_LARGE', detail: { maxPayload: 1024 * 1024 } });
    expect(refused.detail.bytes).toBeGreaterThan(N * 2);
    expect(refused.message).toMatch(/Tb-Accept-Chunks/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // Opted in: every row, in order.
    const r = await raw.requestChunked('q.rdb.rdb1', q);
    expect(r.chunks).toBeGreaterThan(5);
    expect(r.headers['Content-Type']).toBe('application/json');
    const res = JSON.parse(r.body) as { n: number; cols: { size: number[] } };
    expect(res.n).toBe(N);
    expect(res.cols.size.length).toBe(N);
    expect(res.cols.size[N - 1]).toBe(N - 1);
    expect(res.cols.size.reduce((a, b) => a + b, 0)).toBe(triangle(N));
  }, 120_000);

  it('wire: a 2M-row CBOR result from the HDB (process runtime reply path) arrives whole through a pipeline that accepts chunks', async () => {
    const pipe = new Pipeline(nc, { timeoutMs: 60_000, maxInflight: 4 });
    try {
      const q = { type: 'tickbus.v1.getdata', table: 'trade', start: `${yday}T00:00:00Z`, end: `${yday}T23:59:59Z`, columns: ['size'] };
      await until(async () => decode<{ type?: string }>((await pipe.request('q.hdb.hdb1', encode({ ...q, columns: undefined, aggregations: [{ op: 'count' }] }))).data).type !== 'tickbus.v1.error', 30_000, 200);
      const refused = decode<{ code: string }>((await pipe.request('q.hdb.hdb1', encode(q))).data);
      expect(refused.code).toBe('RESULT_TOO_LARGE');
      const m = await pipe.request('q.hdb.hdb1', encode(q), acceptChunksHeaders());
      const res = decode<QueryResult>(m.data);
      expect(res.n).toBe(N);
      const size = res.cols.size as BigInt64Array;
      let sum = 0n;
      for (const v of size) sum += v;
      expect(sum).toBe(BigInt(triangle(N)));
    } finally {
      pipe.close();
    }
  }, 120_000);

  it('gateway: a getdata of 4M rows across the HDB and RDB is received in chunks from both, merged, and answered in chunks (CBOR and JSON)', async () => {
    const gw = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 60_000 });
    const q = { type: 'tickbus.v1.getdata', table: 'trade', start: `${yday}T00:00:00Z`, end: new Date(Date.now() + 3_600_000).toISOString(), columns: ['size'] };
    await until(async () => (await gw.sync<QueryResult>({ ...q, columns: undefined, aggregations: [{ op: 'count' }] }).catch(() => undefined))?.parts.length === 2, 30_000, 200);
    const r = await gw.sync<QueryResult>(q);
    expect(r.parts.map((p) => p.proctype)).toEqual(['hdb', 'rdb']);
    expect(r.result.n).toBe(2 * N);
    let sum = 0n;
    for (const v of r.result.cols.size as BigInt64Array) sum += v;
    expect(sum).toBe(BigInt(2 * triangle(N)));
    // Async (postback) too.
    const a = await gw.async<QueryResult>(q);
    expect(a.result.n).toBe(2 * N);
    // JSON from a raw client through the gateway.
    const j = await raw.requestChunked('gw.gw1.sync', { type: 'tickbus.v1.gateway.request', query: q, timeoutMs: 60_000 }, 90_000);
    const body = JSON.parse(j.body) as { result: { n: number } };
    expect(body.result.n).toBe(2 * N);
    gw.close();
  }, 180_000);
});
