// Ingest while heavy queries run on the RDB (issue 11 part 4): a tickerplant and an RDB as child
// processes on their own nats-server; the RDB is preloaded, then the same number of rows is fed
// twice through one Publisher, first alone, then while this process keeps the RDB busy with heavy
// getdata queries back to back (a filter, 1-second bars by sym, three aggregations over every
// row). Each rate is rows that reached the RDB per second. With the query pool (the default) the
// queries scan on a worker thread and ingest keeps its pace; the same run without the pool
// (queryPoolSize 0) is reported for contrast. Run alone:
//   node --import tsx test/bench/heavy_query.ts [rows]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { decode, encode } from '../../bus/codec.ts';
import { isErrorEnvelope, TickbusError } from '../../bus/errors.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { spawnProc, status, stopProc, waitUp } from '../support/procs.ts';
import { pump, SYMS } from './drive.ts';
import type { Metric } from './metric.ts';

const BATCH_ROWS = 1000;
const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };

function tradeCols(n: number, offset: number): Record<string, unknown> {
  const codes = new Uint32Array(n);
  const price = new Float64Array(n);
  const size = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    codes[i] = (i + offset) % SYMS.length;
    price[i] = 100 + ((i + offset) % 97) / 10;
    size[i] = BigInt(100 + (i % 13));
  }
  return { sym: { dict: SYMS, codes }, price, size };
}

const HEAVY = {
  type: 'tickbus.v1.getdata',
  table: 'trade',
  start: '2000-01-01',
  end: '2100-01-01',
  filters: [{ column: 'price', op: '>', value: 100.5 }],
  timebar: { size: 1, unit: 's' },
  grouping: ['sym'],
  aggregations: [{ op: 'count' }, { op: 'wavg', columns: ['size', 'price'] }, { op: 'max', column: 'price' }],
};

/** The RDB's row count; -1 when it does not answer in time (busy), which is never taken as a count. */
async function rdbRows(nc: NatsConnection, name: string): Promise<number> {
  return (await status<{ rows: number }>(nc, name, 2_000))?.rows ?? -1;
}

async function waitRows(nc: NatsConnection, name: string, rows: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  while ((await rdbRows(nc, name)) < rows) {
    if (Date.now() > deadline) throw new Error(`${name} did not reach ${rows} rows`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Rows per second reaching the RDB while `rows` rows are fed (window of 48 batches in flight), until
 * it holds `total` rows (what was fed so far: counted here, never read from a status that may lag).
 */
async function feed(nc: NatsConnection, pub: Publisher, rdb: string, rows: number, total: number, offset: number): Promise<number> {
  const cols = tradeCols(BATCH_ROWS, offset);
  const t0 = performance.now();
  const sending = pump(rows / BATCH_ROWS, 48, () => pub.publish('trade', { cols }));
  await waitRows(nc, rdb, total);
  const secs = (performance.now() - t0) / 1000;
  await sending;
  return rows / secs;
}

async function run(nc: NatsConnection, url: string, dir: string, name: string, poolSize: number, rows: number): Promise<{ alone: number; heavy: number; queries: number; queryMs: number }> {
  const cfg = join(dir, `${name}.json`);
  writeFileSync(cfg, JSON.stringify({ tables, defaults: { tickerplant: { mode: 'batch' }, rdb: { tp: name, queryPoolSize: poolSize, queryPoolRowsMin: rows } } }));
  const tp = spawnProc('tickerplant', name, cfg, url);
  await waitUp(nc, name);
  const rdb = spawnProc('rdb', `${name}rdb`, cfg, url);
  await waitUp(nc, `${name}rdb`);
  const rdbName = `${name}rdb`;
  const pub = new Publisher(nc, { tp: name, inflightMax: 1024 });
  try {
    // Preload (and warm up): the heavy query scans it all, and its table is past queryPoolRowsMin.
    await feed(nc, pub, rdbName, 2 * rows, 2 * rows, 0);
    const alone = await feed(nc, pub, rdbName, rows, 3 * rows, 1);
    let querying = true;
    let queries = 0;
    let queryMs = 0;
    const loop = (async () => {
      while (querying) {
        const t0 = performance.now();
        const m = await nc.request(`q.rdb.${rdbName}`, encode(HEAVY), { timeout: 120_000 });
        const v = decode(m.data);
        if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
        queryMs += performance.now() - t0;
        queries++;
      }
    })();
    // The first heavy query is under way before the feed starts.
    await new Promise((r) => setTimeout(r, 20));
    const heavy = await feed(nc, pub, rdbName, rows, 4 * rows, 2);
    querying = false;
    await loop;
    return { alone, heavy, queries, queryMs: queries ? queryMs / queries : NaN };
  } finally {
    pub.close();
    await stopProc(rdb);
    await stopProc(tp);
  }
}

export async function benchHeavyQuery(rows = 1_000_000): Promise<Metric[]> {
  rows = Math.max(BATCH_ROWS, Math.round(rows / BATCH_ROWS) * BATCH_ROWS);
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-heavybench-'));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc = await connect({ servers: server.url });
  try {
    const pool = await run(nc, server.url, dir, 'hqpool', 1, rows);
    const inline = await run(nc, server.url, dir, 'hqinline', 0, rows);
    return [
      { metric: 'ingest_alone_rows_per_s', value: pool.alone, unit: 'rows/s', target: 'baseline (the same RDB, no query running)' },
      { metric: 'ingest_during_heavy_query_rows_per_s', value: pool.heavy, unit: 'rows/s', baseline: 'ingest_alone_rows_per_s', ratio: pool.heavy / pool.alone },
      { metric: 'heavy_query_ms', value: pool.queryMs, unit: 'ms', target: `info (${pool.queries} heavy queries on the pool during the feed)` },
      { metric: 'ingest_during_heavy_query_inline_rows_per_s', value: inline.heavy, unit: 'rows/s', baseline: 'ingest_alone_inline_rows_per_s', ratio: inline.heavy / inline.alone, target: 'info (queryPoolSize 0: queries on the event loop)' },
      { metric: 'ingest_alone_inline_rows_per_s', value: inline.alone, unit: 'rows/s', target: 'info' },
      { metric: 'heavy_query_inline_ms', value: inline.queryMs, unit: 'ms', target: `info (${inline.queries} heavy queries inline during the feed)` },
    ];
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const m of await benchHeavyQuery(Number(process.argv[2] ?? 1_000_000))) process.stdout.write(`${m.metric} = ${m.value.toFixed(3)} ${m.unit}${m.ratio !== undefined ? ` (ratio ${m.ratio.toFixed(3)})` : ''}\n`);
  process.exit(0);
}
