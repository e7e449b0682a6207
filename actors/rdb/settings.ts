// RDB settings: typed defaults, one line each.
import type { TablesConfig } from '../../storage/schema.ts';

export interface RdbSettings {
  /** Process name: `q.rdb.<name>` is its query subject. */
  name: string;
  /** The tickerplant to follow. */
  tp: string;
  /** Table schemas (the same config the tickerplant uses). */
  tables: TablesConfig;
  /** Subscribe to these tables only; all when omitted. */
  subscribeTables?: string[];
  /** Keep these syms only (a sharded RDB); all when omitted. */
  syms?: string[];
  /** Bound on log bytes buffered ahead of the RDB (well under the server's 64 MB pending limit). */
  bufferBytes: number;
  /** Stall bound: nothing read this long while the log holds more re-creates the consumer from the next sequence (default 5 s, >= 1 s). */
  logStallMs: number;
  /** End of day: `write` (this RDB writes the HDB) or `reload` (TorQ's reload mode: a WDB writes it; the finished day is kept, queryable and advertised, until an HDB holds it). */
  eodMode: 'write' | 'reload';
  /** reload mode: bound on holding a finished day for an HDB (past it the day stays in memory, reported in status unwrittenDays). */
  reloadWaitMs: number;
  /** HDB root for the end-of-day write-down; none = keep no history (the hook still runs). */
  hdbDir?: string;
  /** Write-down bounds (see WriteDownSettings below). */
  sort?: WriteDownSettings['sort'];
  eodWriteAttempts?: number;
  eodRetryDelayMs?: number;
  eodCheckDays?: number;
  eodWriteDelayMs?: number;
  /** After the write, keep the day held until an HDB reports it, for at most this long (with a window: until the WDB's notices cover the day; default 60 s). */
  handoffConfirmMs?: number;
  /** Then keep answering for it this long after no longer advertising it (registry watchers catch up). */
  handoffGraceMs?: number;
  /** Recent window (next to a WDB + IDB): keep at least this much of today's data time, drop older rows once written (0 = keep the whole day). */
  rdbWindowMs: number;
  /** Window: rows become droppable this long after the WDB's written notice (IDBs reload and re-advertise first). */
  rdbDropGraceMs: number;
  /** Window: how often to look for droppable rows. */
  rdbWindowCheckMs: number;
  /** Window: follow this WDB's written notices only (default: any WDB writing this RDB's tickerplant). */
  wdb?: string;
  /** Worker threads that run heavy getdata queries off the event loop, started once a table holds half of queryPoolRowsMin rows (0 = every query inline; actors/rdb/query_pool.ts). */
  queryPoolSize: number;
  /** A getdata on a table with at least this many rows goes to the pool; smaller ones run inline (faster than a hand-off). */
  queryPoolRowsMin: number;
  /** Queries waiting for a pool worker before more are refused with OVERLOADED. */
  queryPoolQueueMax: number;
  /** A pool query running longer is stopped (its worker replaced) and answered TIMEOUT. */
  queryPoolTimeoutMs: number;
  /** Pool worker threads run this many nice steps below the RDB's loop, so ingest wins the CPU (Linux, per thread; 0 = off; 0..19). */
  queryPoolNice: number;
}

export const defaultRdbSettings: Omit<RdbSettings, 'name' | 'tp' | 'tables'> = {
  bufferBytes: 16 * 1024 * 1024,
  logStallMs: 5_000,
  rdbWindowMs: 0,
  rdbDropGraceMs: 2_000,
  rdbWindowCheckMs: 500,
  eodMode: 'write',
  reloadWaitMs: 3_600_000,
  queryPoolSize: 1,
  queryPoolRowsMin: 1_000_000,
  queryPoolQueueMax: 32,
  queryPoolTimeoutMs: 60_000,
  queryPoolNice: 10,
};

/** End-of-day write-down to the Parquet HDB (issue 3): off unless hdbDir is set. */
export interface WriteDownSettings {
  /** HDB root: `<hdbDir>/date=YYYY-MM-DD/<table>/*.parquet`. */
  hdbDir: string;
  /** Per-table sort columns (TorQ sort.csv as JSON); default sym then time. */
  sort?: import('../../storage/hdb/sort_config.ts').SortConfig;
  /** Attempts at writing one table's day before giving up (the day stays in memory). */
  eodWriteAttempts: number;
  /** Pause before the first retry; doubles each time. */
  eodRetryDelayMs: number;
  /** On start, check this many past days of the log and write any the HDB lacks. */
  eodCheckDays: number;
  /** Fault injection for tests: pause before writing each table (0 in production). */
  eodWriteDelayMs?: number;
}

export const defaultWriteDownSettings: Omit<WriteDownSettings, 'hdbDir'> = {
  eodWriteAttempts: 5,
  eodRetryDelayMs: 1_000,
  eodCheckDays: 3,
};
