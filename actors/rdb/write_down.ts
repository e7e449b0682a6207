// The RDB's end-of-day write-down (TorQ's rdb.q endofday): each table of the finished day is run
// through its save hook, written to the HDB sorted, verified (rows written = rows held) and only
// then released; after the day is written the HDBs are told to reload. A failed write is retried
// with a bound; until a write is verified nothing is dropped.
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import { encode } from '../../bus/codec.ts';
import type { Logger } from '../../bus/log.ts';
import { kv, subjects } from '../../bus/subjects.ts';
import { partitionRows } from '../../storage/hdb/merge.ts';
import { writePartition, type WriteReport } from '../../storage/hdb/writer.ts';
import type { TablesConfig } from '../../storage/schema.ts';
import { listDays, replay } from '../replay/replay.ts';
import type { MemTable } from '../../storage/table.ts';
import type { RdbDay, EndOfDayHook } from './effects.ts';
import { defaultWriteDownSettings, type WriteDownSettings } from './settings.ts';

export const RELOAD_TYPE = 'tickbus.v1.hdb.reload';

/** A per-table manipulation before the save (TorQ's `.rdb.savedownmanipulation`). */
export type SaveHook = (t: MemTable, day: string) => MemTable | void | Promise<MemTable | void>;

export interface ReloadNotice {
  type: typeof RELOAD_TYPE;
  date: string;
  tables: string[];
  rows: Record<string, number>;
}

/** Writes one table's day with bounded retries; resolves with the verified report. */
export async function writeTableWithRetry(
  hdbDir: string,
  date: string,
  name: string,
  t: MemTable,
  s: Pick<WriteDownSettings, 'sort' | 'eodWriteAttempts' | 'eodRetryDelayMs'>,
  logger: Logger,
  /** Where the write stands (the end of day's progress, in the same info line). */
  progress: Record<string, unknown> = {},
): Promise<WriteReport> {
  let delay = s.eodRetryDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await writePartition(hdbDir, date, name, t, s.sort ? { sort: s.sort } : {});
      if (r.rows !== t.n) throw new Error(`wrote ${r.rows} rows of ${t.n}`);
      logger.info({ date, table: name, rows: r.rows, ms: Math.round(r.ms.total), ...progress }, 'table written to the hdb');
      return r;
    } catch (e) {
      logger.error({ date, table: name, attempt, err: (e as Error).message }, 'hdb write failed');
      if (attempt >= s.eodWriteAttempts) throw e;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/** Tells every HDB to reload (fire and forget: an HDB that is down reloads when it starts). */
export function announceReload(nc: NatsConnection, notice: Omit<ReloadNotice, 'type'>): void {
  try {
    nc.publish(subjects.hdbReload, encode({ type: RELOAD_TYPE, ...notice }));
  } catch {
    // disconnected: HDBs rescan their directory on start and on the next notice
  }
}

export function writeDownHook(
  nc: NatsConnection,
  settings: Partial<WriteDownSettings> & Pick<WriteDownSettings, 'hdbDir'>,
  logger: Logger,
  saveHooks: Record<string, SaveHook> = {},
): EndOfDayHook {
  const s: WriteDownSettings = { ...defaultWriteDownSettings, ...settings };
  return async (day: RdbDay) => {
    const rows: Record<string, number> = {};
    // Progress at info, one line per table: the write runs inside the RDB, where nobody waits at a
    // terminal, so its log (not a progress bar) says how far it is: tables and rows of the day's total.
    const tables = [...day.tables].filter(([, held]) => held.n > 0);
    const rowsTotal = tables.reduce((a, [, held]) => a + held.n, 0);
    logger.info({ date: day.day, tables: tables.length, rowsTotal }, 'end-of-day write started');
    let rowsDone = 0;
    for (const [k, [name, held]] of tables.entries()) {
      if (s.eodWriteDelayMs) await new Promise((r) => setTimeout(r, s.eodWriteDelayMs));
      const t = (await saveHooks[name]?.(held, day.day)) ?? held;
      rowsDone += held.n;
      await writeTableWithRetry(s.hdbDir, day.day, name, t, s, logger, { tablesDone: `${k + 1}/${tables.length}`, rowsDone, rowsTotal });
      rows[name] = t.n;
    }
    announceReload(nc, { date: day.day, tables: Object.keys(rows), rows });
  };
}

/**
 * After a restart: the days the log still holds whose HDB partitions are missing or short (the
 * RDB died during its end-of-day write) are replayed from the log and written, table by table.
 * Compares each table's partition rows with the end-of-day marker's count.
 */
export async function writeMissingDays(
  nc: NatsConnection,
  tp: string,
  tables: TablesConfig,
  settings: Partial<WriteDownSettings> & Pick<WriteDownSettings, 'hdbDir'>,
  logger: Logger,
): Promise<Array<{ day: string; tables: string[] }>> {
  const s: WriteDownSettings = { ...defaultWriteDownSettings, ...settings };
  const days = (await listDays(nc, tp)).filter((d) => d.day && d.counts && d.complete).slice(-s.eodCheckDays);
  const done: Array<{ day: string; tables: string[] }> = [];
  for (const d of days) {
    const missing: string[] = [];
    for (const [table, count] of Object.entries(d.counts!)) {
      if (count > 0 && tables[table] && (await partitionRows(s.hdbDir, d.day, table)) !== count) missing.push(table);
    }
    if (!missing.length) continue;
    logger.warn({ day: d.day, tables: missing }, 'hdb lacks part of a finished day; replaying it from the log');
    await replay(nc, { tp, hdbDir: s.hdbDir, tables, date: d.day, only: missing, sort: s.sort, nc, logger });
    done.push({ day: d.day, tables: missing });
  }
  return done;
}

/**
 * Waits (bounded) until a registered HDB reports holding `day` (its `first`..`last` range or
 * `dates`), so the RDB can let go of the day without a moment when no process holds it. Returns
 * at once when no HDB is registered (there is nobody to wait for).
 */
export async function waitForHdb(
  nc: NatsConnection,
  day: string,
  timeoutMs: number,
  /** Wait for an HDB to appear too (an RDB in reload mode: a WDB's HDB may register later); else none registered returns at once. */
  requireHdb = false,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let hdbs = 0;
    try {
      const bucket = await new Kvm(nc).open(kv.registryBucket);
      for await (const key of await bucket.keys('hdb.*')) {
        const e = await bucket.get(key);
        if (!e || e.operation !== 'PUT') continue;
        hdbs++;
        const a = (JSON.parse(e.string()) as { attributes?: Record<string, unknown> }).attributes ?? {};
        const dates = Array.isArray(a.dates) ? (a.dates as string[]) : [];
        const first = typeof a.first === 'string' ? a.first : dates[0];
        const last = typeof a.last === 'string' ? a.last : dates[dates.length - 1];
        if ((first && last && first <= day && day <= last) || dates.includes(day)) return true;
      }
    } catch {
      if (!requireHdb) return false; // no registry (processes started outside the runtime): nobody to wait for
    }
    if ((hdbs === 0 && !requireHdb) || Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
