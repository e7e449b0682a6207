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
  /**
   * Past this many rows, when the first sort column is a symbol (sym, the parted one), the sort
   * runs per group of syms of at most about this many rows, one output file each, in sym order:
   * each group sorts in memory (no spill) and reads only the row groups holding its syms.
   */
  groupRowsMax: number;
}

export const defaultMergeOptions: MergeOptions = {
  sort: defaultSortConfig,
  rowGroupRows: 65_536,
  compression: 'zstd',
  threads: 2,
  memoryLimit: duckdbLimits().memoryLimit,
  presorted: false,
  groupRowsMax: 8_000_000,
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
    const outFiles: string[] = [];
    let rows = 0;
    let t1 = 0;
    try {
      const con = await instance.connect();
      try {
        const src = `read_parquet([${files.map(sqlString).join(', ')}])`;
        const names = schema.columns.map((c) => ident(c.name)).join(', ');
        // Presorted input keeps its order: DuckDB preserves insertion order (file order, then row order).
        const sortCols = o.presorted ? [] : sortColumnsFor(o.sort, table).map((s) => s.column);
        const first = sortCols[0];
        const grouped = first !== undefined && schema.columns.find((c) => c.name === first)?.type === 'symbol' && expectedRows > o.groupRowsMax;
        // One scan for the count and time range (and, grouped, the rows per sym).
        const perSym = grouped
          ? ((await con.runAndReadAll(`SELECT ${ident(first)}, count(*)::BIGINT, min(epoch_ns(time))::BIGINT, max(epoch_ns(time))::BIGINT FROM ${src} GROUP BY 1 ORDER BY 1`)).getRows() as Array<[string | null, bigint, bigint | null, bigint | null]>)
          : undefined;
        const r = perSym ? undefined : await con.runAndReadAll(`SELECT count(*)::BIGINT, min(time)::BIGINT, max(time)::BIGINT FROM (SELECT epoch_ns(time) AS time FROM ${src})`);
        const big = (xs: Array<bigint | null>, pick: (a: bigint, b: bigint) => bigint) => xs.reduce<bigint | null>((a, x) => (x === null ? a : a === null ? x : pick(a, x)), null);
        const [count, lo, hi] = perSym
          ? [perSym.reduce((a, x) => a + x[1], 0n), big(perSym.map((x) => x[2]), (a, b) => (a < b ? a : b)), big(perSym.map((x) => x[3]), (a, b) => (a > b ? a : b))]
          : (r!.getRows()[0]! as [bigint, bigint | null, bigint | null]);
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
        const order = sortCols.map(ident);
        const copy = async (where: string, to: string) =>
          await con.run(
            `COPY (SELECT ${names} FROM ${src}${where}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}) TO ${sqlString(to)} ` +
              `(FORMAT parquet, COMPRESSION ${o.compression}, ROW_GROUP_SIZE ${Math.trunc(o.rowGroupRows)}, KV_METADATA {${SCHEMA_KV_KEY}: ${sqlString(kv)}})`,
          );
        if (perSym && first !== undefined) {
          // Groups of whole syms, in sym order, each at most ~groupRowsMax rows (a sym never splits).
          const counts = perSym;
          const groups: Array<Array<string | null>> = [[]];
          let inGroup = 0;
          for (const [v, n] of counts) {
            if (inGroup > 0 && inGroup + Number(n) > o.groupRowsMax) {
              groups.push([]);
              inGroup = 0;
            }
            groups[groups.length - 1]!.push(v);
            inGroup += Number(n);
          }
          for (const [k, g] of groups.entries()) {
            const vals = g.filter((v): v is string => v !== null);
            const cond = [vals.length ? `${ident(first)} IN (${vals.map(sqlString).join(', ')})` : '', g.includes(null) ? `${ident(first)} IS NULL` : ''].filter(Boolean).join(' OR ');
            const f = join(newDir, `part-${String(k).padStart(3, '0')}.parquet`);
            await copy(` WHERE ${cond}`, f);
            outFiles.push(f);
          }
        } else {
          await copy('', file);
          outFiles.push(file);
        }
        t1 = performance.now();
        const v = await con.runAndReadAll(`SELECT count(*)::BIGINT FROM read_parquet([${outFiles.map(sqlString).join(', ')}])`);
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
    for (const f of outFiles) await fsyncPath(f);
    await fsyncPath(newDir);
    const t2 = performance.now();
    const replaced = await swapIn(newDir, target, join(work, 'old'));
    const finalFiles = outFiles.map((f) => join(target, f.slice(newDir.length + 1)));
    let bytes = 0;
    for (const f of finalFiles) bytes += (await stat(f)).size;
    await rm(work, { recursive: true, force: true });
    return { hdbDir, date, table, rows, files: finalFiles, bytes, replaced, ms: { sort: 0, write: t1 - t0, verify: t2 - t1, total: performance.now() - t0 } };
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
