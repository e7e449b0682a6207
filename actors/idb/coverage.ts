// What an IDB serves: the intraday area's manifests (storage/intraday/manifest.ts) of the days not
// yet merged into the HDB, turned into the Hdb's file listing, the sequence cut of a query, and
// the coverage the IDB advertises (per day and table the last log sequence written, max time).
import { join } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { FileFilter, ListedPartition } from '../../storage/hdb/hdb.ts';
import { bad } from '../../storage/query/request.ts';
import { dayDir, intradayDays, readManifest, type IntradayFile, type IntradayManifest } from '../../storage/intraday/manifest.ts';

/** The manifests an IDB serves, by day, and every listed file by absolute path. */
export interface IntradayView {
  manifests: Map<string, IntradayManifest>;
  files: Map<string, IntradayFile>;
  /** The Hdb's listing: one entry per (day, table), files in part order. */
  listing: ListedPartition[];
  /** Days whose manifest says merged into the HDB (no longer served). */
  merged: string[];
}

export const emptyView = (): IntradayView => ({ manifests: new Map(), files: new Map(), listing: [], merged: [] });

/** Reads the area: every day with a manifest (of `tp` when given) not yet merged. */
export async function readView(wdbDir: string, tp: string | undefined): Promise<IntradayView> {
  const view = emptyView();
  for (const day of await intradayDays(wdbDir)) {
    const m = await readManifest(wdbDir, day);
    if (!m || (tp !== undefined && m.tp !== tp)) continue;
    if (m.merged) {
      view.merged.push(day);
      continue;
    }
    view.manifests.set(day, m);
    const byTable = new Map<string, string[]>();
    for (const f of m.files) {
      const path = join(dayDir(wdbDir, day), f.file);
      view.files.set(path, f);
      const list = byTable.get(f.table) ?? [];
      list.push(path);
      byTable.set(f.table, list);
    }
    for (const [table, files] of byTable) view.listing.push({ date: day, table, files: files.sort() });
  }
  return view;
}

/**
 * The sequence cut of a query (`upToSeq`): the files of `table` holding only batches at or below
 * it. Exact, as each file covers a contiguous range of its table's batches. A cut past what is
 * written for the table on the newest day served cannot be answered (rows in between are missing).
 */
export function cutFilter(view: IntradayView, table: string, upToSeq: unknown): FileFilter | undefined {
  if (upToSeq === undefined) return undefined;
  if (typeof upToSeq !== 'number' || !Number.isSafeInteger(upToSeq) || upToSeq < 0) throw bad('upToSeq', 'must be a non-negative integer log sequence', { upToSeq: String(upToSeq) });
  const days = [...view.manifests.keys()].sort();
  const latest = days.length ? view.manifests.get(days[days.length - 1]!) : undefined;
  const written = latest?.tables[table]?.lastSeq ?? 0;
  if (upToSeq > written && latest?.eodSeq === undefined) {
    throw new TickbusError(ErrorCode.NOT_READY, `upToSeq: ${table} is written up to seq ${written} here, not ${upToSeq}; ask the rdb for the rest (afterSeq)`, {
      param: 'upToSeq',
      table,
      upToSeq,
      lastSeq: written,
    });
  }
  return (file) => {
    const f = view.files.get(file);
    return f !== undefined && f.lastSeq <= upToSeq;
  };
}

/** Coverage per day: per table the last sequence written, the largest time written, whether the day is complete. */
export interface DayCoverage {
  lastSeq: Record<string, number>;
  maxTimeNs?: string;
  complete: boolean;
}

/** `unreadable`: `day/table` pairs with a file the reader could not read: not advertised (nothing to cut at). */
export function coverage(view: IntradayView, unreadable: ReadonlySet<string> = new Set()): Record<string, DayCoverage> {
  const out: Record<string, DayCoverage> = {};
  for (const [day, m] of view.manifests) {
    let max: bigint | undefined;
    for (const f of m.files) if (f.maxTimeNs !== undefined && (max === undefined || BigInt(f.maxTimeNs) > max)) max = BigInt(f.maxTimeNs);
    out[day] = {
      lastSeq: Object.fromEntries(Object.entries(m.tables).filter(([t]) => !unreadable.has(`${day}/${t}`)).map(([t, s]) => [t, s.lastSeq])),
      ...(max !== undefined ? { maxTimeNs: max.toString() } : {}),
      complete: m.eodSeq !== undefined,
    };
  }
  return out;
}
