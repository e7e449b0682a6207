// Storage benchmarks (issue 3): end-of-day write, RDB group-by, HDB group-by vs DuckDB direct.
// Sizes scale with BENCH_SCALE (1 = the 10M rows/day, 10 days; 0.1 for a smoke run).
// Called by test/bench/run.ts; runnable alone: `npx tsx test/bench/storage.ts`
// (`BENCH_STORAGE=rdb` for the end-of-day write and RDB group-bys only).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { runQuery } from '../../storage/query/memory.ts';
import { defineTable } from '../../storage/schema.ts';
import { CHUNK_ROWS, MemTable, SymbolTable } from '../../storage/table.ts';
import type { Metric } from './metric.ts';

export type BenchMetric = Metric;

/** Bench settings: the sizes, scaled by BENCH_SCALE. */
const settings = {
  /** Trade rows in one day. */
  dayRows: 10_000_000,
  /** Distinct syms. */
  syms: 50,
  /** Days in the HDB group-by. */
  hdbDays: 10,
  /** Rows per appended batch (the RDB appends tickerplant batches). */
  batchRows: 10_000,
  /** Timed repetitions of each query after one warm-up; the median is reported. */
  queryRuns: 5,
};

const DAY_NS = 86_400_000_000_000n;
const schema = defineTable('trade', { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' });

function scale(): number {
  const s = Number(process.env.BENCH_SCALE ?? '1');
  return Number.isFinite(s) && s > 0 ? s : 1;
}

/** A day of trades in time order, syms drawn at random (deterministic), starting at `day0Ns`. */
export function makeTrades(rows: number, nsyms: number, day0Ns: bigint): MemTable {
  const syms = new SymbolTable();
  const t = new MemTable(schema, syms);
  const dict = Array.from({ length: nsyms }, (_, i) => `S${String(i).padStart(3, '0')}`);
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const stepNs = (DAY_NS / 2n) / BigInt(Math.max(1, rows));
  for (let off = 0; off < rows; off += settings.batchRows) {
    const n = Math.min(settings.batchRows, rows - off);
    const time = new BigInt64Array(n);
    const codes = new Uint32Array(n);
    const price = new Float64Array(n);
    const size = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      time[i] = day0Ns + 9n * 3_600_000_000_000n + BigInt(off + i) * stepNs;
      codes[i] = Math.floor(rnd() * nsyms);
      price[i] = 50 + codes[i]! + Math.floor(rnd() * 1000) / 100;
      size[i] = BigInt(100 * (1 + Math.floor(rnd() * 20)));
    }
    t.append({ table: 'trade', n, cols: { time, sym: { dict, codes }, price, size } });
  }
  return t;
}

/** Moves every time in a table by `deltaNs` (to reuse one day's rows for the next date). */
function shiftDays(t: MemTable, deltaNs: bigint): void {
  const chunks = t.columns.get('time')!.chunks as BigInt64Array[];
  for (let k = 0; k * CHUNK_ROWS < t.n; k++) {
    const c = chunks[k]!;
    const len = Math.min(CHUNK_ROWS, t.n - k * CHUNK_ROWS);
    for (let i = 0; i < len; i++) c[i] = c[i]! + deltaNs;
  }
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function timeRuns(fn: () => unknown | Promise<unknown>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < settings.queryRuns; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

function isoDate(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 10);
}

export async function benchStorage(): Promise<BenchMetric[]> {
  const k = scale();
  const rows = Math.max(1000, Math.round(settings.dayRows * k));
  const dir = await mkdtemp(join(tmpdir(), 'tickbus-bench-storage-'));
  const hdbDir = join(dir, 'hdb');
  const out: BenchMetric[] = [];
  const day0 = BigInt(Date.parse('2024-01-01T00:00:00Z')) * 1_000_000n;
  try {
    const t = makeTrades(rows, settings.syms, day0);
    const tables = new Map([['trade', t]]);

    // End of day: sort + write + verify + atomic swap of one day.
    const w0 = performance.now();
    await writePartition(hdbDir, isoDate(day0), 'trade', t);
    out.push({ metric: 'eod_10m_rows_s', value: (performance.now() - w0) / 1000, unit: 's' });

    const q = {
      table: 'trade',
      start: day0,
      end: day0 + BigInt(settings.hdbDays) * DAY_NS - 1n,
      grouping: ['sym'],
      aggregations: [
        { op: 'max', column: 'price' },
        { op: 'sum', column: 'size' },
      ],
    };
    // Without the chunk summaries: the plain column scan (what a new query shape costs).
    out.push({ metric: 'rdb_groupby_10m_scan_ms', value: await timeRuns(() => runQuery(tables, q, { summaries: false })), unit: 'ms' });
    // With them (the default): the first run builds them, the timed runs fold them.
    out.push({ metric: 'rdb_groupby_10m_ms', value: await timeRuns(() => runQuery(tables, q)), unit: 'ms' });
    // BENCH_STORAGE=rdb: stop here (the RDB figures alone, without the 10-day HDB build).
    if (process.env.BENCH_STORAGE === 'rdb') return out;

    // The other days: the same rows moved one day on, each written through the same writer.
    for (let d = 1; d < settings.hdbDays; d++) {
      shiftDays(t, DAY_NS);
      await writePartition(hdbDir, isoDate(day0 + BigInt(d) * DAY_NS), 'trade', t);
    }
    // Both on the same two DuckDB threads: the HDB's default (duckdbLimits, half the cores: one
    // here, leaving a core to ingest) would compare one thread with two, not the HDB's overhead.
    const hdb = await Hdb.open(hdbDir, { threads: 2 });
    const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
    const con = await inst.connect();
    const direct = `SELECT sym, max(price), sum(size) FROM read_parquet('${hdbDir}/*/trade/*.parquet') GROUP BY sym`;
    // Alternate the two so a change in machine load (the cores are shared) hits both alike.
    await hdb.query(q);
    await con.runAndReadAll(direct);
    const hdbRuns: number[] = [];
    const directRuns: number[] = [];
    for (let i = 0; i < settings.queryRuns; i++) {
      let t0 = performance.now();
      await hdb.query(q);
      hdbRuns.push(performance.now() - t0);
      t0 = performance.now();
      await con.runAndReadAll(direct);
      directRuns.push(performance.now() - t0);
    }
    const hdbMs = median(hdbRuns);
    const directMs = median(directRuns);
    hdb.close();
    con.closeSync();
    inst.closeSync();
    out.push({ metric: 'duckdb_direct_groupby_100m_ms', value: directMs, unit: 'ms' });
    out.push({ metric: 'hdb_groupby_100m_ms', value: hdbMs, unit: 'ms', baseline: 'duckdb_direct_groupby_100m_ms', ratio: hdbMs / directMs });
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(`${hdbDir}.staging`, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchStorage();
  console.log(JSON.stringify({ scale: scale(), metrics: r }, null, 2));
}
