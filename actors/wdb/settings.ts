// WDB and sort process settings: typed defaults, one line each (ops/config.json defaults.wdb,
// processes.<name>, --set key=value).
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { SortConfig } from '../../storage/hdb/sort_config.ts';
import type { TablesConfig } from '../../storage/schema.ts';

export type WdbMode = 'saveandsort' | 'save' | 'sort';
export type WritedownMode = 'default' | 'partbyattr';

export interface WdbSettings {
  /** Process name: notices go out on `wdb.<name>.*`. */
  name: string;
  /** The tickerplant to follow. */
  tp: string;
  /** Table schemas (the same config the tickerplant uses). */
  tables: TablesConfig;
  /** Subscribe to these tables only; all when omitted. */
  subscribeTables?: string[];
  /** Keep these syms only; all when omitted (the end-of-day count check is then skipped: the marker counts all syms). */
  syms?: string[];
  /** Intraday area root (`<wdbDir>/date=D/<table>/part-NNNNN.parquet`; relative: inside the data dir). */
  wdbDir: string;
  /** HDB root the end of day merges into (relative: inside the data dir). */
  hdbDir: string;
  /** TorQ's mode: saveandsort (write down, merge at end of day), save (write down, ask sort processes), sort (a sort process). */
  mode: WdbMode;
  /** TorQ's writedownmode: default (files per write-down), partbyattr (files per write-down and value of partColumn: end of day only concatenates). */
  writedownmode: WritedownMode;
  /** partbyattr: the parted column (a symbol column; default sym). */
  partColumn: string;
  /** A table is written down once it buffers this many rows (checked every saveIntervalMs); per table in maxRowsByTable. */
  maxRows: number;
  /** Per-table overrides of maxRows. */
  maxRowsByTable?: Record<string, number>;
  /** Write-down check period (TorQ's savetimer). */
  saveIntervalMs: number;
  /** Write every buffered row down on every check (TorQ's immediate mode), whatever maxRows says. */
  immediate: boolean;
  /** Bound on rows buffered over all tables: past it the WDB writes down at once, not on the next check. */
  bufferRowsMax: number;
  /** Bound on log bytes buffered ahead of the WDB by the subscriber. */
  bufferBytes: number;
  /** Subscriber stall bound (bus/subscriber.ts stallMs, >= 1 s). */
  logStallMs: number;
  /** Per-table sort columns (TorQ sort.csv as JSON); default sym then time. */
  sort?: SortConfig;
  /** Attempts at one write-down or one table's merge before giving up (the rows stay buffered / the day unmerged). */
  writeAttempts: number;
  /** Pause before the first retry; doubles each time. */
  retryDelayMs: number;
  /** Sort and encode each write-down on a worker thread (the event loop keeps taking the log); false: on the event loop. */
  writeOffThread: boolean;
  /** Bound on one table's sort and encoding on the write worker (then the worker is replaced and the write-down fails, retried). */
  writeTimeoutMs: number;
  /** Bound on a clean stop's write-down of the buffered rows (past it the stop goes on; the next start reads them from the log). */
  stopTimeoutMs: number;
  /** DuckDB memory limit of the end-of-day merge (it spills to the staging dir beyond it). */
  mergeMemoryLimit: string;
  /** DuckDB threads of the end-of-day merge. */
  mergeThreads: number;
  /** Past this many rows a table's merge sorts per group of whole syms of about this many rows (one file each, in sym order): each sort fits in mergeMemoryLimit, no spill. */
  mergeGroupRows: number;
  /** After the merge: process types told to reload, in order, each waited for (reloadWaitMs). */
  reloadOrder: string[];
  /** Bound on the wait for each reloaded type to hold the day. */
  reloadWaitMs: number;
  /** How long gateways may hold HDB-bound queries between reloadstart and reloadend (the notice carries it; the gateway ends the hold itself after it). */
  reloadHoldMs: number;
  /** save mode: bound on the wait for a sort process to finish a table's merge (then the WDB merges it itself). */
  sortWaitMs: number;
  /** Intraday days kept after their merge (older merged days are removed; 0 = remove at once). */
  keepDays: number;
  /** Fault injection for tests: pause between a write-down's files and its manifest (0 in production). */
  writeDelayMs?: number;
  /** Fault injection for tests: pause before each table's merge (0 in production). */
  mergeDelayMs?: number;
}

export const defaultWdbSettings: Omit<WdbSettings, 'name' | 'tp' | 'tables'> = {
  wdbDir: 'wdb',
  hdbDir: 'hdb',
  mode: 'saveandsort',
  writedownmode: 'default',
  partColumn: 'sym',
  maxRows: 100_000,
  saveIntervalMs: 1_000,
  immediate: false,
  bufferRowsMax: 5_000_000,
  bufferBytes: 16 * 1024 * 1024,
  logStallMs: 5_000,
  writeAttempts: 5,
  retryDelayMs: 500,
  writeOffThread: true,
  writeTimeoutMs: 300_000,
  stopTimeoutMs: 30_000,
  mergeMemoryLimit: '640MB',
  mergeThreads: 2,
  mergeGroupRows: 8_000_000,
  reloadOrder: ['hdb', 'rdb'],
  reloadWaitMs: 30_000,
  reloadHoldMs: 60_000,
  sortWaitMs: 600_000,
  keepDays: 1,
};

const positive = ['maxRows', 'saveIntervalMs', 'bufferRowsMax', 'bufferBytes', 'writeAttempts', 'writeTimeoutMs', 'stopTimeoutMs', 'mergeThreads', 'mergeGroupRows', 'reloadWaitMs', 'reloadHoldMs', 'sortWaitMs'] as const;

/** The settings with defaults filled in, checked: a bad value is BAD_CONFIG naming it. */
export function wdbSettings(settings: Partial<WdbSettings> & Pick<WdbSettings, 'name' | 'tp' | 'tables'>): WdbSettings {
  const s: WdbSettings = { ...defaultWdbSettings, ...settings };
  const bad = (key: string, why: string): never => {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `wdb ${s.name}: ${key} ${why}`, { setting: key, value: (s as unknown as Record<string, unknown>)[key] });
  };
  for (const k of positive) if (!(Number.isFinite(Number(s[k])) && Number(s[k]) > 0)) bad(k, 'must be a positive number');
  for (const k of positive) (s as unknown as Record<string, number>)[k] = Number(s[k]);
  s.immediate = s.immediate === true || (s.immediate as unknown) === 'true';
  s.writeOffThread = !(s.writeOffThread === false || (s.writeOffThread as unknown) === 'false');
  if (!['saveandsort', 'save', 'sort'].includes(s.mode)) bad('mode', 'must be saveandsort, save or sort');
  if (!['default', 'partbyattr'].includes(s.writedownmode)) bad('writedownmode', 'must be default or partbyattr');
  if (!(Number(s.keepDays) >= 0)) bad('keepDays', 'must be 0 or more');
  if (Number(s.logStallMs) < 1_000) bad('logStallMs', 'must be at least 1000');
  for (const [t, n] of Object.entries(s.maxRowsByTable ?? {})) if (!(Number(n) > 0)) bad(`maxRowsByTable.${t}`, 'must be a positive number');
  if (typeof s.reloadOrder === 'string') s.reloadOrder = (s.reloadOrder as string).split(',').filter(Boolean);
  const col = s.tables[Object.keys(s.tables)[0] ?? '']?.[s.partColumn];
  if (s.writedownmode === 'partbyattr' && col !== undefined && col !== 'symbol') bad('partColumn', 'must be a symbol column');
  return s;
}
