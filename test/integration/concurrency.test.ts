// Proves tickbus needs no PyKX-style background thread to be used from many threads at once: four
// worker_threads publish to one tickerplant at the same time, each on its own NATS connection (the
// Publisher of bus/publisher.ts), while the main thread queries two RDBs and the gateway
// concurrently from one connection. Every row published is in the log exactly once (checked by a
// unique fid), and each RDB holds exactly the log's rows, queried many times concurrently.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { isErrorEnvelope, TickbusError } from '../../bus/errors.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { column, connectTo, dupes, readLog, startServer, testTables, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

const WORKERS = 4;
const BATCHES = 50;
const ROWS = 100;
let server: NatsServer;
let nc: NatsConnection;
const runtimes: ProcessRuntime[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  const o = { tables: testTables, heartbeatMs: 250, attributes: { tables: Object.keys(testTables) } };
  runtimes.push(await startRuntime(server.url, 'tickerplant', 'tp1', { mode: 'immediate' }, o));
  runtimes.push(await startRuntime(server.url, 'rdb', 'rdb1', { tp: 'tp1' }, o));
  runtimes.push(await startRuntime(server.url, 'rdb', 'rdb2', { tp: 'tp1' }, o));
  runtimes.push(await startRuntime(server.url, 'gateway', 'gw1', {}, o));
});

afterAll(async () => {
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

type Result = { n: number; cols: { fid: BigInt64Array } };

async function fids(rdb: string): Promise<bigint[]> {
  const m = await nc.request(`q.rdb.${rdb}`, encode({ type: 'tickbus.v1.query', table: 'trade', columns: ['fid'] }), { timeout: 30_000 });
  const v = decode<Result>(m.data);
  if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
  return Array.from(v.cols.fid);
}

function publishFrom(worker: number): Promise<{ worker: number; rows: number; duplicates: number }> {
  const w = new Worker(new URL('../support/publish_worker.mjs', import.meta.url), { workerData: { url: server.url, tp: 'tp1', worker, batches: BATCHES, rows: ROWS } });
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker ${worker} exited with ${code}`))));
  });
}

describe('concurrency', () => {
  it('concurrency: workers publish at once on their own connections while one client queries two RDBs and the gateway; no row lost or duplicated', { timeout: 180_000 }, async () => {
    const total = WORKERS * BATCHES * ROWS;
    const gw = new GatewayClient(nc, { timeoutMs: 30_000 });
    // Queries run while the workers publish: each answers some consistent prefix, never an error.
    let querying = true;
    const seen: number[] = [];
    const reports = Promise.all(Array.from({ length: WORKERS }, (_, w) => publishFrom(w)));
    // (An RDB asked for columns of a table that has no row yet answers INTERNAL today: the queries
    // start once both RDBs hold rows.)
    await until(async () => (await fids('rdb1').catch(() => [])).length > 0 && (await fids('rdb2').catch(() => [])).length > 0, 60_000, 20);
    const queries = (async () => {
      while (querying) {
        const [a, b, g] = await Promise.all([fids('rdb1'), fids('rdb2'), gw.sync<Result>({ type: 'tickbus.v1.query', table: 'trade', columns: ['fid'] }, { types: ['rdb'] })]);
        seen.push(a.length, b.length, g.result.n);
      }
    })();
    const reported = await reports;
    expect(reported.map((r) => r.rows)).toEqual(Array(WORKERS).fill(BATCHES * ROWS));
    expect(reported.map((r) => r.duplicates)).toEqual(Array(WORKERS).fill(0));

    const log = await readLog(nc, 'tp1');
    const logged = column(log.batches, 'fid', 'trade');
    expect(logged.length).toBe(total);
    expect(dupes(logged)).toEqual([]);
    const expected = Array.from({ length: WORKERS }, (_, w) => Array.from({ length: BATCHES * ROWS }, (_, i) => BigInt(w * 1_000_000 + i))).flat();
    const sort = (xs: bigint[]) => [...xs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    expect(sort(logged)).toEqual(expected);

    await until(async () => (await fids('rdb1')).length === total && (await fids('rdb2')).length === total, 60_000, 100);
    querying = false;
    await queries;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((n) => n >= 0 && n <= total)).toBe(true);
    // Twenty queries at once from one connection, to both RDBs: each holds exactly the log's rows, in its order.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => fids(i % 2 ? 'rdb1' : 'rdb2')));
    for (const a of answers) expect(a).toEqual(logged);
    gw.close();
  });
});
