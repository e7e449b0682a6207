// End-of-day write: one table's day -> a sorted, zstd Parquet partition, appearing atomically.
// The sort is in write_sort.ts, the Parquet files through DuckDB in write_parquet.ts; this file
// holds the options, the verify (row count read back), the fsyncs and the atomic swap.
//
// Measured on this machine (2 cores, 10M trade rows, ~50 syms; see docs/storage.md): the sort is a
// stable counting sort by sym in JS (~0.15 s) plus a scatter of each column (~0.4 s, sequential
// reads, one write stream per sym); DuckDB then pulls 2048-row vectors from a JS table function
// whose callback is a memcpy per column (copy_data_to_vector, ~60 ms in all) and writes Parquet,
// one file per core in parallel (~1.1 s). No DuckDB table is materialised (an appender + COPY took
// ~1.0 s + ~1.1 s). Syms go in as ENUM codes (the dictionary is the day's sorted sym list) and are
// cast to VARCHAR in the COPY: written as ENUM, the row-group statistics cover the whole
// dictionary and a sym filter could prune nothing.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Batch } from '../batch.ts';
import type { TableSchema } from '../schema.ts';
import { MemTable, SymbolTable } from '../table.ts';
import { duckdbLimits, sqlString } from './duck.ts';
import { activeWrites, beginStagedWrite, exists, fsyncPath } from './layout.ts';
import { defaultSortConfig, sortColumnsFor, type SortConfig } from './sort_config.ts';
import { writeFiles } from './write_parquet.ts';
import { prepare } from './write_sort.ts';

// The schema metadata key is written by write_parquet.ts; importers keep importing it from here.
export { SCHEMA_KV_KEY } from './write_parquet.ts';

/** Writer settings: typed defaults, one line each. */
export interface WriteOptions {
  /** Per-table sort columns (TorQ sort.csv); default sym (parted) then time. */
  sort: SortConfig;
  /** Where work in progress lives; default `<hdb>.staging` beside the HDB. */
  stagingDir?: string;
  /** Rows per Parquet row group: small enough that a sym's rows span few groups. */
  rowGroupRows: number;
  /** Files written in parallel (one DuckDB thread each). */
  writeThreads: number;
  compression: 'zstd' | 'snappy' | 'uncompressed';
  /** Required when the source is a list of batches. */
  schema?: TableSchema;
}

export const defaultWriteOptions: WriteOptions = {
  sort: defaultSortConfig,
  rowGroupRows: 65_536,
  writeThreads: 2,
  compression: 'zstd',
};

export interface WriteReport {
  hdbDir: string;
  date: string;
  table: string;
  rows: number;
  files: string[];
  bytes: number;
  /** True when an existing partition of this table was replaced. */
  replaced: boolean;
  ms: { sort: number; write: number; verify: number; total: number };
}

export type PartitionSource = MemTable | readonly Batch[];

function memTableOf(source: PartitionSource, schema: TableSchema | undefined): MemTable {
  if (source instanceof MemTable) return source;
  if (!schema) throw new TickbusError(ErrorCode.BAD_CONFIG, 'writePartition: a list of batches needs options.schema', {});
  const t = new MemTable(schema, new SymbolTable());
  for (const b of source) t.append(b);
  return t;
}

/**
 * Writes one table's day as `<hdb>/date=<date>/<table>/part-<k>.parquet`, sorted per the sort
 * config, verified by reading the row count back, and swapped in atomically (replacing an
 * existing partition of the table). Resolves only when the partition is durable and in place.
 */
export async function writePartition(
  hdbDir: string,
  date: string,
  table: string,
  source: PartitionSource,
  options: Partial<WriteOptions> = {},
): Promise<WriteReport> {
  const o: WriteOptions = { ...defaultWriteOptions, ...options };
  const t0 = performance.now();
  const mem = memTableOf(source, o.schema);
  const { target, work, newDir } = await beginStagedWrite(hdbDir, date, table, '', o.stagingDir);
  try {
    const w = await writeSortedFiles(mem, newDir, o, `partition ${date}/${table}`);
    const files = w.files.map((f) => f.path);
    const replaced = await swapIn(newDir, target, join(work, 'old'));
    let bytes = 0;
    const finalFiles = files.map((f) => join(target, f.slice(newDir.length + 1)));
    for (const f of finalFiles) bytes += (await stat(f)).size;
    await rm(work, { recursive: true, force: true });
    return {
      hdbDir,
      date,
      table,
      rows: w.rows,
      files: finalFiles,
      bytes,
      replaced,
      ms: { ...w.ms, total: performance.now() - t0 },
    };
  } finally {
    activeWrites.delete(work);
  }
}

export interface SortedFile {
  path: string;
  rows: number;
  /** filePerRun: the value of the first sort column (the parted one) the file holds. */
  attr?: string;
}

export interface SortedFilesReport {
  files: SortedFile[];
  rows: number;
  /** Least and greatest `time` (epoch ns) over the files; absent for no rows. */
  timeRange?: [bigint, bigint];
  ms: { sort: number; write: number; verify: number };
}

/**
 * Writes a table's rows sorted per the sort config as Parquet files in `dir` (created by the
 * caller, typically a staging dir), fsynced and verified by reading the row count back; the
 * caller moves them into place. `filePerRun` writes one file per value of the first sort column
 * (partbyattr); otherwise up to writeThreads files cut at run boundaries. The files carry the
 * tickbus schema metadata the HDB reader uses.
 */
export async function writeSortedFiles(source: PartitionSource, dir: string, options: Partial<WriteOptions> & { filePerRun?: boolean } = {}, what = 'write'): Promise<SortedFilesReport> {
  const o: WriteOptions = { ...defaultWriteOptions, ...options };
  const t0 = performance.now();
  const mem = memTableOf(source, o.schema);
  const sortCols = sortColumnsFor(o.sort, mem.schema.name).map((s) => s.column);
  const prepared = prepare(mem, sortCols);
  const t1 = performance.now();
  const instance = await DuckDBInstance.create(':memory:', { threads: String(o.writeThreads), memory_limit: duckdbLimits().memoryLimit });
  let files: SortedFile[];
  let t2: number;
  try {
    files = await writeFiles(instance, prepared, dir, o, mem.schema, options.filePerRun ? sortCols[0] : undefined);
    for (const f of files) await fsyncPath(f.path);
    await fsyncPath(dir);
    t2 = performance.now();
    const con = await instance.connect();
    try {
      const written = files.length ? Number((await con.runAndReadAll(`SELECT count(*)::BIGINT FROM read_parquet([${files.map((f) => sqlString(f.path)).join(', ')}])`)).getRows()[0]![0] as bigint) : 0;
      if (written !== prepared.n) {
        throw new TickbusError(ErrorCode.INTERNAL, `${what}: wrote ${written} rows, expected ${prepared.n}`, { written, expected: prepared.n });
      }
    } finally {
      con.closeSync();
    }
  } finally {
    instance.closeSync();
  }
  return { files, rows: prepared.n, timeRange: prepared.timeRange, ms: { sort: t1 - t0, write: t2 - t1, verify: performance.now() - t2 } };
}

/**
 * Old table dir aside, new one in, date dir fsynced, old deleted. Returns whether one existed.
 * `between` runs after the old dir is moved aside and before the new one is moved in (a test hook:
 * the crash window recoverStaging repairs).
 */
export async function swapIn(newDir: string, target: string, aside: string, between?: () => Promise<void> | void): Promise<boolean> {
  await mkdir(dirname(target), { recursive: true });
  const replaced = await exists(target);
  if (replaced) await rename(target, aside);
  await between?.();
  await rename(newDir, target);
  await fsyncPath(dirname(target));
  if (replaced) await rm(aside, { recursive: true, force: true });
  return replaced;
}
