// End of day for the intraday area: each table's files of a flushed day (manifest `eodSeq` set)
// become the HDB partition `date=D/<table>/`, sorted per the sort config by DuckDB's external
// sort under a memory limit (storage/hdb/merge.ts: staged, verified, swapped in atomically), or
// for partbyattr files concatenated in parted-value order without a sort. Before anything is
// written the manifest's rows are checked against the end-of-day marker's counts; a table the HDB
// already holds is skipped when its rows equal the log's, and is a conflict (both kept) when not.
import { join } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { exists, tableDir } from '../hdb/layout.ts';
import { mergePartition, partitionRows } from '../hdb/merge.ts';
import type { SortConfig } from '../hdb/sort_config.ts';
import type { Schema } from '../schema.ts';
import { dayDir, filesOf, writeManifest, type IntradayManifest } from './manifest.ts';

export interface MergeDayOptions {
  sort?: SortConfig;
  memoryLimit: string;
  threads: number;
  /** Rows per sorted group of syms (storage/hdb/merge.ts groupRowsMax). */
  groupRowsMax?: number;
  /** Check rows against the end-of-day marker's counts (off for a sym-filtered writer: the marker counts every sym). */
  verifyCounts: boolean;
  /** Only these tables (a sort process given part of a day); all of the manifest's when omitted. */
  only?: readonly string[];
  /** Fault injection for tests: pause before each table's merge. */
  delayMs?: number;
  /** Told of each table's outcome as it happens (progress lines). */
  onTable?: (r: TableMerge) => void;
}

export interface TableMerge {
  table: string;
  rows: number;
  /** merged: written now; present: the HDB already held exactly these rows; empty: nothing to write; failed: see error. */
  outcome: 'merged' | 'present' | 'empty' | 'failed';
  ms?: number;
  error?: TickbusError;
}

/** The rows a table must end with: the marker's count (or, unverified, what the area holds). */
function expectedRows(m: IntradayManifest, table: string, verify: boolean): number {
  const held = m.tables[table]?.rows ?? 0;
  if (!verify) return held;
  const want = m.eodCounts?.[table];
  if (want === undefined) return held;
  if (held !== want) {
    throw new TickbusError(ErrorCode.COUNT_MISMATCH, `intraday ${m.day}/${table} holds ${held} rows, the end-of-day marker counts ${want}; not merged`, { day: m.day, table, held, expected: want });
  }
  return want;
}

/**
 * Merges a flushed day into the HDB, table by table; marks the manifest merged when every table
 * is merged or present. Never throws for one table's failure: its outcome says why (the caller
 * alerts); the others are still merged.
 */
export async function mergeDay(wdbDir: string, hdbDir: string, m: IntradayManifest, schema: Schema, o: MergeDayOptions): Promise<TableMerge[]> {
  if (m.eodSeq === undefined) throw new TickbusError(ErrorCode.INTERNAL, `intraday ${m.day} is not flushed (no eodSeq): cannot merge`, { day: m.day });
  const tables = [...new Set([...Object.keys(m.tables), ...Object.keys(m.eodCounts ?? {})])].filter((t) => schema.has(t) && (!o.only || o.only.includes(t))).sort();
  const out: TableMerge[] = [];
  for (const table of tables) {
    const t0 = performance.now();
    let r: TableMerge;
    try {
      if (o.delayMs) await new Promise((res) => setTimeout(res, o.delayMs));
      r = await mergeTable(wdbDir, hdbDir, m, schema, table, o);
    } catch (e) {
      const error = e instanceof TickbusError ? e : new TickbusError(ErrorCode.INTERNAL, `merging ${m.day}/${table} failed: ${(e as Error).message}`, { day: m.day, table }, { cause: e });
      r = { table, rows: m.tables[table]?.rows ?? 0, outcome: 'failed', error };
    }
    r.ms = performance.now() - t0;
    o.onTable?.(r);
    out.push(r);
  }
  if (!o.only && out.every((r) => r.outcome !== 'failed')) {
    m.merged = true;
    await writeManifest(wdbDir, m);
  }
  return out;
}

async function mergeTable(wdbDir: string, hdbDir: string, m: IntradayManifest, schema: Schema, table: string, o: MergeDayOptions): Promise<TableMerge> {
  const want = expectedRows(m, table, o.verifyCounts);
  if (await exists(tableDir(hdbDir, m.day, table))) {
    const have = await partitionRows(hdbDir, m.day, table);
    if (have === want) return { table, rows: want, outcome: 'present' };
    throw new TickbusError(
      ErrorCode.PARTITION_CONFLICT,
      `hdb ${m.day}/${table} already holds ${have} rows, the log's day has ${want}; kept both (the intraday files stay), not overwritten`,
      { day: m.day, table, hdbRows: have, logRows: want },
    );
  }
  if (want === 0) return { table, rows: 0, outcome: 'empty' };
  let files = filesOf(m, table);
  const partby = m.writedownmode === 'partbyattr' && files.every((f) => f.attr !== undefined);
  // partbyattr: by parted value, then write-down order (part number): already in (sym, time) order.
  if (partby) files = [...files].sort((a, b) => (a.attr! < b.attr! ? -1 : a.attr! > b.attr! ? 1 : a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const t = schema.get(table)!;
  const r = await mergePartition(
    hdbDir,
    m.day,
    t,
    files.map((f) => join(dayDir(wdbDir, m.day), f.file)),
    want,
    { memoryLimit: o.memoryLimit, threads: o.threads, presorted: partby, ...(o.groupRowsMax ? { groupRowsMax: o.groupRowsMax } : {}), ...(o.sort ? { sort: o.sort } : {}) },
  );
  return { table, rows: r.rows, outcome: 'merged' };
}
