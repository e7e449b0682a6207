// The WDB's end of day for one flushed day: the merge into the HDB (here, or mode save: by a sort
// process over the bus, here when none answers), an alert per table that could not be merged
// (count mismatch, a conflicting partition, a failure), the reload sequence, the manifest marked
// merged, and intraday days older than keepDays removed.
import { rm } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { subjects } from '../../bus/subjects.ts';
import { dayDir, intradayDays, readManifest, type IntradayManifest } from '../../storage/intraday/manifest.ts';
import { mergeDay, type TableMerge } from '../../storage/intraday/merge.ts';
import type { Schema } from '../../storage/schema.ts';
import { reloadSequence, type ReloadEnd } from './reload.ts';
import type { WdbSettings } from './settings.ts';

export const SORT_TYPE = 'tickbus.v1.sort';
export const SORT_DONE_TYPE = 'tickbus.v1.sort.done';

/** save mode: what a WDB asks a sort process (subject sort.trigger, queue group `sort`). */
export interface SortRequest {
  type: typeof SORT_TYPE;
  wdb: string;
  wdbDir: string;
  hdbDir: string;
  day: string;
}
export interface TableOutcome {
  table: string;
  rows: number;
  outcome: TableMerge['outcome'];
  ms?: number;
  error?: { code: string; message: string };
}
export interface SortDone {
  type: typeof SORT_DONE_TYPE;
  day: string;
  by: string;
  tables: TableOutcome[];
}
export interface EodReport {
  day: string;
  by: string;
  tables: TableOutcome[];
  reload?: ReloadEnd;
  ms: number;
}

export function outcomes(rs: TableMerge[]): TableOutcome[] {
  return rs.map((r) => ({ table: r.table, rows: r.rows, outcome: r.outcome, ...(r.ms !== undefined ? { ms: Math.round(r.ms) } : {}), ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}) }));
}

/** A typed alert on alert.<proctype>.<name> (the monitor shows it). */
export function alert(nc: NatsConnection, proctype: string, name: string, kind: string, message: string, subject?: string): void {
  try {
    nc.publish(subjects.alert(proctype, name), encode({ type: 'tickbus.v1.alert', at: new Date().toISOString(), level: 'error', source: { proctype, name }, kind, message, ...(subject ? { subject } : {}) }));
  } catch {
    // disconnected: the log line stays
  }
}

/** The merge step as a sort process and a saveandsort WDB both run it. */
export async function mergeFlushedDay(s: WdbSettings, schema: Schema, m: IntradayManifest, logger: Logger, wdbDir = s.wdbDir, hdbDir = s.hdbDir): Promise<TableMerge[]> {
  return await mergeDay(wdbDir, hdbDir, m, schema, {
    memoryLimit: s.mergeMemoryLimit,
    threads: s.mergeThreads,
    groupRowsMax: s.mergeGroupRows,
    verifyCounts: !s.syms,
    ...(s.sort ? { sort: s.sort } : {}),
    ...(s.mergeDelayMs ? { delayMs: s.mergeDelayMs } : {}),
    onTable: (r) => {
      if (r.outcome === 'failed') logger.error({ day: m.day, table: r.table, code: r.error?.code, err: r.error?.message }, 'end-of-day merge of a table failed');
      else logger.info({ day: m.day, table: r.table, rows: r.rows, outcome: r.outcome, ms: Math.round(r.ms ?? 0) }, 'end-of-day merge of a table');
    },
  });
}

/** save mode: a sort process merges; none listening = merge here; a timeout is an error (it may still be merging). */
async function askSort(nc: NatsConnection, s: WdbSettings, m: IntradayManifest): Promise<SortDone | undefined> {
  const req: SortRequest = { type: SORT_TYPE, wdb: s.name, wdbDir: s.wdbDir, hdbDir: s.hdbDir, day: m.day };
  let reply;
  try {
    reply = await nc.request(subjects.sortTrigger, encode(req), { timeout: s.sortWaitMs });
  } catch (e) {
    if (/no responders/i.test((e as Error).message) || (e as { code?: string }).code === '503') return undefined;
    throw new TickbusError(ErrorCode.TIMEOUT, `no sort process finished ${m.day} within sortWaitMs ${s.sortWaitMs} ms`, { day: m.day, sortWaitMs: s.sortWaitMs }, { cause: e });
  }
  const body = decode<SortDone | Record<string, unknown>>(reply.data);
  if (isErrorEnvelope(body)) throw new TickbusError(body.code, `sort process: ${body.message}`, body.detail);
  return body as SortDone;
}

export async function endOfDay(nc: NatsConnection, s: WdbSettings, schema: Schema, m: IntradayManifest, logger: Logger): Promise<EodReport> {
  const t0 = Date.now();
  logger.info({ day: m.day, mode: s.mode, tables: m.tables }, 'wdb end of day: merging the intraday files into the hdb');
  let by = s.name;
  let tables: TableOutcome[];
  const done = s.mode === 'save' ? await askSort(nc, s, m) : undefined;
  if (done) {
    by = done.by;
    tables = done.tables;
    const fresh = await readManifest(s.wdbDir, m.day);
    if (fresh?.merged) m.merged = true;
  } else {
    if (s.mode === 'save') logger.warn({ day: m.day }, 'no sort process answers sort.trigger; the wdb merges the day itself');
    tables = outcomes(await mergeFlushedDay(s, schema, m, logger));
  }
  for (const t of tables) if (t.outcome === 'failed') alert(nc, 'wdb', s.name, 'eod', `${m.day}/${t.table}: ${t.error?.code}: ${t.error?.message}`, t.table);
  const written = tables.filter((t) => t.outcome === 'merged' || t.outcome === 'present');
  const report: EodReport = { day: m.day, by, tables, ms: 0 };
  if (written.length) {
    report.reload = await reloadSequence(
      nc,
      { wdb: s.name, date: m.day, tables: written.map((t) => t.table), rows: Object.fromEntries(written.map((t) => [t.table, t.rows])), reloadOrder: s.reloadOrder, reloadWaitMs: s.reloadWaitMs, reloadHoldMs: s.reloadHoldMs },
      logger,
    );
  }
  if (m.merged) await removeOldDays(s.wdbDir, m.day, s.keepDays, logger);
  report.ms = Date.now() - t0;
  logger.info({ day: m.day, ms: report.ms, tables: tables.map((t) => `${t.table}:${t.outcome}`) }, 'wdb end of day done');
  return report;
}

/** Removes merged intraday days, keeping the newest `keepDays` of them (days not merged are never removed). */
export async function removeOldDays(wdbDir: string, justMerged: string, keepDays: number, logger: Logger): Promise<string[]> {
  const merged: string[] = [];
  for (const d of await intradayDays(wdbDir)) {
    if (d > justMerged) continue;
    const m = await readManifest(wdbDir, d).catch(() => undefined);
    if (m?.merged) merged.push(d);
  }
  const gone = merged.slice(0, Math.max(0, merged.length - keepDays));
  for (const d of gone) await rm(dayDir(wdbDir, d), { recursive: true, force: true });
  if (gone.length) logger.info({ days: gone }, 'wdb removed merged intraday days');
  return gone;
}
