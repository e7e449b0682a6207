// One compression run (TorQ's .cmp.showcomp / .cmp.compressmaxage): every partition of the HDB
// whose age in days (today, from the caller's clock, minus the partition date) is within
// [minage, maxAgeDays] of its table's rule and whose files are not already at the planned codec is
// rewritten (storage/hdb/compress.ts), one partition at a time, oldest first, at most
// partitionsPerRunMax per run; HDBs are told to reload each one. A dry run plans the same and
// measures the planned size on a sample, changing nothing in the HDB.
import type { Logger } from '../../bus/log.ts';
import { dateToDays } from '../../storage/batch.ts';
import {
  estimateBytes,
  inspectPartition,
  listPartitions,
  openDuck,
  rewritePartition,
  sameCodec,
  showCodec,
  type CompressHooks,
} from '../../storage/hdb/compress.ts';
import { ruleForTable, type CompressionRule } from './config.ts';

export interface CompressionRunOptions {
  hdbDir: string;
  stagingDir?: string;
  rules: readonly CompressionRule[];
  /** Today's date (YYYY-MM-DD) from the caller's clock: ages count from it. */
  today: string;
  maxAgeDays: number;
  partitionsPerRunMax: number;
  sampleRows: number;
  threads: number;
  memoryLimit: string;
  dryRun: boolean;
  logger: Logger;
  /** Called after each partition is swapped in (the process announces an HDB reload). */
  announce?: (date: string, table: string, rows: number) => void;
  hooks?: CompressHooks;
}

export type PlanAction = 'compress' | 'compressed' | 'failed' | 'skip';

export interface PlanRow {
  date: string;
  table: string;
  age: number;
  files: number;
  rows: number;
  current: string;
  currentBytes: number;
  planned: string;
  /** After a run: the bytes written; in a dry run: estimated from a sample (undefined when skipped). */
  plannedBytes?: number;
  action: PlanAction;
  /** Why skipped, or the error of a failed rewrite. */
  reason: string;
  /** The rule's line in the CSV (0: none). */
  line: number;
  notes: string[];
  /** A rewrite's time: copying, verifying, in all (ms). */
  ms?: { write: number; verify: number; total: number };
}

export interface CompressionReport {
  type: 'tickbus.v1.compression.report';
  dryRun: boolean;
  today: string;
  rows: PlanRow[];
  compressed: number;
  failed: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Set when partitionsPerRunMax stopped the run: the partitions left for the next one. */
  truncated?: { limit: number; left: number };
  ms: number;
}

export async function runCompression(o: CompressionRunOptions): Promise<CompressionReport> {
  const t0 = performance.now();
  const todayDays = dateToDays(o.today)!;
  const rows: PlanRow[] = [];
  let done = 0;
  let left = 0;
  const { db, con } = await openDuck(o.threads, o.memoryLimit);
  try {
    for (const part of await listPartitions(o.hdbDir)) {
      const age = todayDays - dateToDays(part.date)!;
      if (age > o.maxAgeDays || age < 0) continue;
      let p: Awaited<ReturnType<typeof inspectPartition>>;
      try {
        p = await inspectPartition(con, part);
      } catch (e) {
        // A file whose footer cannot be read (the HDB reports it too): nothing to rewrite from.
        const reason = `unreadable: ${(e as Error).message}`;
        rows.push({ date: part.date, table: part.table, age, files: 0, rows: 0, current: '?', currentBytes: 0, planned: '', action: 'failed', reason, line: 0, notes: [] });
        o.logger.error({ date: part.date, table: part.table, err: reason }, 'partition not compressed');
        continue;
      }
      const rule = ruleForTable(o.rules, p.table, p.columns);
      const row: PlanRow = {
        date: p.date,
        table: p.table,
        age,
        files: p.files.length,
        rows: p.rows,
        current: showCodec(p.current),
        currentBytes: p.bytes,
        planned: rule ? showCodec(rule.spec) : '',
        action: 'skip',
        reason: '',
        line: rule?.line ?? 0,
        notes: rule?.notes ?? [],
      };
      rows.push(row);
      if (!rule) row.reason = 'no rule for this table';
      else if (age < rule.minage) row.reason = `age ${age} < minage ${rule.minage}`;
      else if (p.files.length === 0 || p.rows === 0) row.reason = 'empty partition';
      else if (sameCodec(p.current, rule.spec)) row.reason = `already ${showCodec(rule.spec)}`;
      if (!rule || row.reason) continue;
      if (done >= o.partitionsPerRunMax) {
        left++;
        row.reason = `partitionsPerRunMax ${o.partitionsPerRunMax} reached: next run`;
        continue;
      }
      done++;
      if (o.dryRun) {
        row.action = 'compress';
        row.plannedBytes = await estimateBytes(con, p, rule.spec, o.sampleRows);
        continue;
      }
      try {
        const r = await rewritePartition(con, o.hdbDir, p, rule.spec, { stagingDir: o.stagingDir, hooks: o.hooks });
        row.action = 'compressed';
        row.plannedBytes = r.bytesAfter;
        row.ms = { write: Math.round(r.ms.write), verify: Math.round(r.ms.verify), total: Math.round(r.ms.total) };
        o.logger.info({ date: p.date, table: p.table, from: r.from, to: r.to, rows: r.rows, bytesBefore: r.bytesBefore, bytesAfter: r.bytesAfter, ms: row.ms }, 'partition compressed');
        o.announce?.(p.date, p.table, p.rows);
      } catch (e) {
        row.action = 'failed';
        row.reason = (e as Error).message;
        o.logger.error({ date: p.date, table: p.table, err: row.reason }, 'partition compression failed; the original is kept');
      }
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
  const changed = rows.filter((r) => r.action === 'compressed' || r.action === 'compress');
  return {
    type: 'tickbus.v1.compression.report',
    dryRun: o.dryRun,
    today: o.today,
    rows,
    compressed: rows.filter((r) => r.action === 'compressed').length,
    failed: rows.filter((r) => r.action === 'failed').length,
    bytesBefore: changed.reduce((a, r) => a + r.currentBytes, 0),
    bytesAfter: changed.reduce((a, r) => a + (r.plannedBytes ?? r.currentBytes), 0),
    ...(left ? { truncated: { limit: o.partitionsPerRunMax, left } } : {}),
    ms: Math.round(performance.now() - t0),
  };
}
