// Merging sorted chunk files into one partition: the last step of a log replay whose day did not
// fit in memory (TorQ's tickerlogreplay "sort after write"). DuckDB sorts out of core (spilling
// to a temp dir), writes the partition into staging with the same schema metadata the writer
// records, the row count is verified, and the table dir is swapped in atomically.
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { TableSchema } from '../schema.ts';
import { duckdbLimits, ident, sqlString } from './duck.ts';
import { activeWrites, beginStagedWrite, fsyncPath, tableDir } from './layout.ts';
import { defaultSortConfig, sortColumnsFor, type SortConfig } from './sort_config.ts';
import { SCHEMA_KV_KEY, swapIn, type WriteReport } from './writer.ts';

export interface MergeOptions {
  sort: SortConfig;
  rowGroupRows: number;
  compression: 'zstd' | 'snappy' | 'uncompressed';
  threads: number;
  /** DuckDB memory limit for the sort (it spills beyond it). */
  memoryLimit: string;
  /** The files, in the order given, are already in sort order (partbyattr): concatenate, do not sort. */
  presorted: boolean;
}

export const defaultMergeOptions: MergeOptions = {
  sort: defaultSortConfig,
  rowGroupRows: 65_536,
  compression: 'zstd',
  threads: 2,
  memoryLimit: duckdbLimits().memoryLimit,
  presorted: false,
};

export async function mergePartition(
  hdbDir: string,
  date: string,
  schema: TableSchema,
  files: readonly string[],
  expectedRows: number,
  options: Partial<MergeOptions> = {},
): Promise<WriteReport> {
  const o: MergeOptions = { ...defaultMergeOptions, ...options };
  const t0 = performance.now();
  const table = schema.name;
  const { target, work, newDir } = await beginStagedWrite(hdbDir, date, table, 'merge-');
  try {
    const spill = join(work, 'spill');
    await mkdir(spill, { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', { threads: String(o.threads), memory_limit: o.memoryLimit, temp_directory: spill });
    const file = join(newDir, 'part-000.parquet');
    let rows = 0;
    let t1 = 0;
    try {
      const con = await instance.connect();
      try {
        const src = `read_parquet([${files.map(sqlString).join(', ')}])`;
        const names = schema.columns.map((c) => ident(c.name)).join(', ');
        const r = await con.runAndReadAll(`SELECT count(*)::BIGINT, min(time)::BIGINT, max(time)::BIGINT FROM (SELECT epoch_ns(time) AS time FROM ${src})`);
        const [count, lo, hi] = r.getRows()[0]! as [bigint, bigint | null, bigint | null];
        if (Number(count) !== expectedRows) {
          throw new TickbusError(ErrorCode.INTERNAL, `merge ${date}/${table}: chunks hold ${count} rows, expected ${expectedRows}`, { date, table });
        }
        const kv = JSON.stringify({
          table,
          columns: schema.columns.map((c) => ({ name: c.name, type: c.type })),
          sort: o.sort,
          rows: expectedRows,
          timeRange: lo === null || hi === null ? undefined : [String(lo), String(hi)],
        });
        // Presorted input keeps its order: DuckDB preserves insertion order (file order, then row order).
        const order = o.presorted ? [] : sortColumnsFor(o.sort, table).map((s) => ident(s.column));
        await con.run(
          `COPY (SELECT ${names} FROM ${src}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}) TO ${sqlString(file)} ` +
            `(FORMAT parquet, COMPRESSION ${o.compression}, ROW_GROUP_SIZE ${Math.trunc(o.rowGroupRows)}, KV_METADATA {${SCHEMA_KV_KEY}: ${sqlString(kv)}})`,
        );
        t1 = performance.now();
        const v = await con.runAndReadAll(`SELECT count(*)::BIGINT FROM read_parquet(${sqlString(file)})`);
        rows = Number(v.getRows()[0]![0] as bigint);
        if (rows !== expectedRows) {
          throw new TickbusError(ErrorCode.INTERNAL, `merge ${date}/${table}: wrote ${rows} rows, expected ${expectedRows}`, { date, table });
        }
      } finally {
        con.closeSync();
      }
    } finally {
      instance.closeSync();
    }
    await fsyncPath(file);
    await fsyncPath(newDir);
    const t2 = performance.now();
    const replaced = await swapIn(newDir, target, join(work, 'old'));
    const finalFile = join(target, 'part-000.parquet');
    const bytes = (await stat(finalFile)).size;
    await rm(work, { recursive: true, force: true });
    return { hdbDir, date, table, rows, files: [finalFile], bytes, replaced, ms: { sort: 0, write: t1 - t0, verify: t2 - t1, total: performance.now() - t0 } };
  } finally {
    activeWrites.delete(work);
  }
}

/** Rows of one table's partition (0 when it does not exist or cannot be read). */
export async function partitionRows(hdbDir: string, date: string, table: string): Promise<number> {
  const dir = tableDir(hdbDir, date, table);
  try {
    await stat(dir);
  } catch {
    return 0;
  }
  const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: duckdbLimits().memoryLimit });
  try {
    const con = await instance.connect();
    try {
      const r = await con.runAndReadAll(`SELECT count(*)::BIGINT FROM read_parquet(${sqlString(join(dir, '*.parquet'))})`);
      return Number(r.getRows()[0]![0] as bigint);
    } finally {
      con.closeSync();
    }
  } catch {
    return 0;
  } finally {
    instance.closeSync();
  }
}
