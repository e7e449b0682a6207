// The WDB's part of a scenario: the states a fault waits for before it kills the WDB (mid
// write-down, mid end of day, read from the intraday area on disk), and the invariant that every
// ended day of the log is in the HDB exactly (rows by fid, counts and a per-sym checksum) with
// its intraday manifest marked merged.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { SymColumn } from '../../storage/batch.ts';
import { intradayDays, orphans, readManifest } from '../../storage/intraday/manifest.ts';
import { until, type LogContents } from '../support/bus.ts';

/** True when the WDB is in `state` now, judged from its intraday area. */
export async function wdbIn(wdbDir: string, state: 'mid-write-down' | 'mid-eod'): Promise<boolean> {
  const days = await intradayDays(wdbDir);
  for (const day of days.reverse()) {
    const m = await readManifest(wdbDir, day).catch(() => undefined);
    if (!m) continue;
    if (state === 'mid-eod' && m.eodSeq !== undefined && !m.merged) return true;
    if (state === 'mid-write-down' && m.eodSeq === undefined && (await orphans(wdbDir, m)).length > 0) return true;
    if (state === 'mid-write-down') return false; // only the open (latest) day is written down
  }
  return false;
}

/** Waits (every 10 ms, at most timeoutMs) until the WDB is in `state`. */
export async function waitWdbIn(wdbDir: string, state: 'mid-write-down' | 'mid-eod', timeoutMs = 30_000): Promise<void> {
  await until(() => wdbIn(wdbDir, state), timeoutMs, 10);
}

type Sums = Map<string, [number, bigint]>;

function logDay(log: LogContents, day: string, table: string): { fids: bigint[]; perSym: Sums } {
  const fids: bigint[] = [];
  const perSym: Sums = new Map();
  for (const b of log.batches) {
    if (b.day !== day || b.table !== table) continue;
    const f = b.cols.fid as BigInt64Array;
    const s = b.cols.sym as SymColumn;
    for (let i = 0; i < b.n; i++) {
      fids.push(f[i]!);
      const sym = s.dict[s.codes[i]!]!;
      const e = perSym.get(sym) ?? [0, 0n];
      perSym.set(sym, [e[0] + 1, e[1] + f[i]!]);
    }
  }
  return { fids, perSym };
}

export async function wdbHdbViolations(log: LogContents, tables: readonly string[], hdbDir: string, wdbDir: string, stats: Record<string, number>): Promise<string[]> {
  const out: string[] = [];
  const ended = log.eods.map((e) => e);
  if (!ended.length) return ['the log holds no end of day: nothing for the WDB to merge'];
  // The merge of the last ended day may still be going (the WDB was killed during it): wait, bounded.
  await until(async () => {
    for (const e of ended) if (!(await readManifest(wdbDir, e.day).catch(() => undefined))?.merged) return false;
    return true;
  }, 60_000, 200).catch(() => out.push(`intraday days not marked merged within 60 s: ${ended.map((e) => e.day).join(', ')}`));
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    for (const e of ended) {
      for (const t of tables) {
        const want = logDay(log, e.day, t);
        if (want.fids.length !== (e.counts[t] ?? 0)) out.push(`log ${e.day}/${t}: ${want.fids.length} rows but the marker counts ${e.counts[t]}`);
        const dir = join(hdbDir, `date=${e.day}`, t);
        if (!existsSync(dir)) {
          if (want.fids.length) out.push(`the HDB lacks ${e.day}/${t} (${want.fids.length} rows in the log)`);
          continue;
        }
        const src = `read_parquet('${dir}/*.parquet')`;
        const rows = (await con.runAndReadAll(`SELECT sym, count(*)::BIGINT, sum(fid)::HUGEINT::VARCHAR FROM ${src} GROUP BY sym`)).getRows();
        const got: Sums = new Map(rows.map((r) => [r[0] as string, [Number(r[1] as bigint), BigInt(r[2] as string)]]));
        const total = [...got.values()].reduce((a, [n]) => a + n, 0);
        if (total !== want.fids.length) out.push(`HDB ${e.day}/${t}: ${total} rows, the log's day ${want.fids.length}`);
        const bad = [...new Set([...got.keys(), ...want.perSym.keys()])].filter((s) => got.get(s)?.[0] !== want.perSym.get(s)?.[0] || got.get(s)?.[1] !== want.perSym.get(s)?.[1]);
        if (bad.length) out.push(`HDB ${e.day}/${t}: per-sym checksum differs for ${bad.length} syms (e.g. ${bad[0]}: ${got.get(bad[0]!)} vs log ${want.perSym.get(bad[0]!)})`);
        // Exactly the log's rows: no fid twice, none missing (distinct count = rows = log rows).
        const distinct = Number((await con.runAndReadAll(`SELECT count(DISTINCT fid)::BIGINT FROM ${src}`)).getRows()[0]![0] as bigint);
        if (distinct !== want.fids.length) out.push(`HDB ${e.day}/${t}: ${distinct} distinct fids, the log's day ${want.fids.length}`);
        stats.hdbPartitions = (stats.hdbPartitions ?? 0) + 1;
        stats.hdbRows = (stats.hdbRows ?? 0) + total;
      }
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
  return out;
}
