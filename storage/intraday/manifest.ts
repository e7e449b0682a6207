// The intraday area a WDB writes and an IDB reads (TorQ's wdb/idb "temporary HDB"), one shared
// contract:
//
//   <wdbDir>/date=YYYY-MM-DD/<table>/part-NNNNN.parquet        one write-down of one table
//   <wdbDir>/date=YYYY-MM-DD/<table>/part-NNNNN-<attr>.parquet (partbyattr: one file per value)
//   <wdbDir>/date=YYYY-MM-DD/_manifest.json                    what is written, up to which log seq
//
// A write-down writes its files (staged under `<wdbDir>.staging`, fsynced, renamed into place),
// then rewrites the manifest atomically (temp file, fsync, rename, fsync of the dir). A file not in
// the manifest does not exist for readers: a crash between the two leaves an orphan that the next
// WDB start removes (`orphans`). The manifest records per table the last log sequence written
// (`tables[t].lastSeq`): every batch of that table with a sequence at or below it is in the
// table's listed files, none above it is. A restarted WDB resumes the log at
// min(tables[*].lastSeq) + 1 and skips, per table, batches at or below that table's lastSeq: no
// row re-written, none lost (TorQ deletes the day's files and replays the whole log; we do not).
//
// Each file covers a contiguous sequence range [firstSeq, lastSeq] of its table, so a reader can
// cut exactly at any table's recorded lastSeq: an IDB asked for rows "up to seq S" reads the files
// with lastSeq <= S. The gateway splits today between an IDB (seq <= S) and an RDB (seq > S).
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { assertName } from '../../bus/subjects.ts';
import { partitionDir } from '../hdb/layout.ts';

export const MANIFEST_FILE = '_manifest.json';
export const MANIFEST_VERSION = 1;

export interface IntradayFile {
  /** Path relative to the day's directory: `<table>/part-NNNNN[-attr].parquet`. */
  file: string;
  table: string;
  rows: number;
  /** First and last log sequence whose rows the file holds (inclusive). */
  firstSeq: number;
  lastSeq: number;
  /** Smallest and largest `time` in the file, epoch ns as decimal strings (empty file: absent). */
  minTimeNs?: string;
  maxTimeNs?: string;
  /** partbyattr: the value of the parted column the file holds. */
  attr?: string;
}

export interface IntradayTableState {
  /** Every batch of the table with a log sequence <= lastSeq is written (0: none yet). */
  lastSeq: number;
  rows: number;
  /** Number of the next part file (part-NNNNN). */
  nextPart: number;
}

export interface IntradayManifest {
  version: typeof MANIFEST_VERSION;
  /** The tickerplant whose log this is, the WDB that writes it, the trading day. */
  tp: string;
  writer: string;
  day: string;
  tables: Record<string, IntradayTableState>;
  files: IntradayFile[];
  /**
   * Set once the day is flushed at end of day (the end-of-day marker's sequence): nothing more
   * will be written. `merged` once the HDB partition holds the day (the area may then be removed).
   */
  eodSeq?: number;
  /** The end-of-day marker's rows per table (what the merge verifies against), set with eodSeq. */
  eodCounts?: Record<string, number>;
  merged?: boolean;
  /** The first log sequence of the day as the writer saw it: a table absent from `tables` has nothing written below it. */
  startSeq?: number;
  /** How files were cut: `default` (one per write-down) or `partbyattr` (one per write-down and value of `partColumn`). */
  writedownmode?: 'default' | 'partbyattr';
  partColumn?: string;
  updatedAt: string;
}

export function dayDir(wdbDir: string, day: string): string {
  return partitionDir(wdbDir, day);
}

export function partFileName(table: string, part: number, attr?: string): string {
  const base = `part-${String(part).padStart(5, '0')}`;
  return `${assertName('table', table)}/${attr === undefined ? base : `${base}-${safeAttr(attr)}`}.parquet`;
}

/** A parted value as a file-name part: letters, digits, `.`, `_` and `-` kept, anything else %XX. */
export function safeAttr(v: string): string {
  return v.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

export function emptyManifest(tp: string, writer: string, day: string): IntradayManifest {
  return { version: MANIFEST_VERSION, tp, writer, day, tables: {}, files: [], updatedAt: new Date().toISOString() };
}

/** The day's manifest, or undefined when nothing was written for that day. Throws a typed error on a bad one. */
export async function readManifest(wdbDir: string, day: string): Promise<IntradayManifest | undefined> {
  const path = join(dayDir(wdbDir, day), MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let m: IntradayManifest;
  try {
    m = JSON.parse(text) as IntradayManifest;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `intraday manifest ${path} is not JSON: ${(e as Error).message}`, { path });
  }
  if (m?.version !== MANIFEST_VERSION || m.day !== day || typeof m.tables !== 'object' || !Array.isArray(m.files)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `intraday manifest ${path} is not a version ${MANIFEST_VERSION} manifest of ${day}`, { path });
  }
  return m;
}

/** Writes the manifest atomically (temp file, fsync, rename, fsync of the directory). */
export async function writeManifest(wdbDir: string, m: IntradayManifest): Promise<void> {
  const dir = dayDir(wdbDir, m.day);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${MANIFEST_FILE}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify({ ...m, updatedAt: new Date().toISOString() }));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, MANIFEST_FILE));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Days present in the intraday area (YYYY-MM-DD, ascending). */
export async function intradayDays(wdbDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(wdbDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^date=\d{4}-\d{2}-\d{2}$/.test(n))
    .map((n) => n.slice(5))
    .sort();
}

/** The files a reader uses for `table`, optionally only those at or below a sequence cut. */
export function filesOf(m: IntradayManifest, table: string, upToSeq?: number): IntradayFile[] {
  return m.files.filter((f) => f.table === table && (upToSeq === undefined || f.lastSeq <= upToSeq));
}

/** Parquet files under the day's table directories that the manifest does not list (a crashed write-down). */
export async function orphans(wdbDir: string, m: IntradayManifest): Promise<string[]> {
  const listed = new Set(m.files.map((f) => f.file));
  const dir = dayDir(wdbDir, m.day);
  const out: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return out;
  }
  for (const t of entries) {
    if (t.startsWith('.') || t === MANIFEST_FILE) continue;
    let files: string[];
    try {
      files = await readdir(join(dir, t));
    } catch {
      continue;
    }
    for (const f of files) if (f.endsWith('.parquet') && !listed.has(`${t}/${f}`)) out.push(`${t}/${f}`);
  }
  return out;
}

/** Removes the orphans of a crashed write-down (files the manifest does not list). */
export async function removeOrphans(wdbDir: string, m: IntradayManifest): Promise<string[]> {
  const gone = await orphans(wdbDir, m);
  for (const f of gone) await rm(join(dayDir(wdbDir, m.day), f), { force: true });
  return gone;
}

/** Asserts a manifest's invariants (contiguous, non-overlapping ranges per table up to lastSeq). */
export function checkManifest(m: IntradayManifest): void {
  for (const [table, st] of Object.entries(m.tables)) {
    const files = m.files.filter((f) => f.table === table);
    const rows = files.reduce((a, f) => a + f.rows, 0);
    if (rows !== st.rows) throw new TickbusError(ErrorCode.INTERNAL, `manifest of ${m.day}: ${table} files hold ${rows} rows, the table says ${st.rows}`, { table });
    for (const f of files) {
      if (f.lastSeq > st.lastSeq || f.firstSeq > f.lastSeq) {
        throw new TickbusError(ErrorCode.INTERNAL, `manifest of ${m.day}: ${f.file} covers ${f.firstSeq}..${f.lastSeq} past ${table}'s lastSeq ${st.lastSeq}`, { table });
      }
    }
  }
}

/** Bus notice a WDB publishes after every write-down (subject `wdb.<name>.written`). */
export const WRITTEN_TYPE = 'tickbus.v1.wdb.written';
export interface WrittenNotice {
  type: typeof WRITTEN_TYPE;
  wdb: string;
  tp: string;
  day: string;
  /** Per table: the last sequence written and the rows written in all. */
  tables: Record<string, { lastSeq: number; rows: number }>;
  /** Files added by this write-down. */
  added: number;
}

/** Writes `data` to `path` atomically (used for small files beside the manifest). */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
