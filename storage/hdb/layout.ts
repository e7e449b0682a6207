// The HDB's on-disk layout and the protocol that makes a partition appear atomically.
//
//   <hdb>/date=YYYY-MM-DD/<table>/part-<k>.parquet      the data (hive style)
//   <hdb>.staging/<id>/{intent.json, new/<table>/, old}  work in progress, outside the HDB
//
// DuckDB's `**` glob descends into dot-directories (measured: `<hdb>/**/*.parquet` reads
// `<hdb>/.tmp-x/...`), so a temp dir inside the HDB would be read as data; staging therefore lives
// in a sibling directory on the same file system (rename(2) must not cross file systems).
// A write: files go to staging/<id>/new/<table>, are fsynced and read back, then the old table dir
// (if any) is renamed to staging/<id>/old, the new one renamed into place, the date dir fsynced,
// and the staging dir removed. A crash at any point leaves either the old or the new table in
// place plus a staging dir; `recoverStaging` restores `old` if the new one never landed, and then
// removes the staging dir.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { assertName } from '../../bus/subjects.ts';
import { dateToDays } from '../batch.ts';

export const PARTITION_PREFIX = 'date=';
export const STAGING_SUFFIX = '.staging';
export const INTENT_FILE = 'intent.json';

export interface Intent {
  pid: number;
  date: string;
  table: string;
  /** The table directory this write replaces or creates. */
  target: string;
  startedAt: string;
}

export function assertDate(date: string): string {
  if (typeof date !== 'string' || dateToDays(date) === undefined) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `partition date ${JSON.stringify(date)} must be YYYY-MM-DD`, { date });
  }
  return date;
}

export function partitionDir(hdbDir: string, date: string): string {
  return join(hdbDir, `${PARTITION_PREFIX}${assertDate(date)}`);
}

export function tableDir(hdbDir: string, date: string, table: string): string {
  return join(partitionDir(hdbDir, date), assertName('table', table));
}

/** The default staging dir: `<hdb>.staging` beside the HDB (same file system as a rule). */
export function stagingDirFor(hdbDir: string, stagingDir?: string): string {
  return stagingDir ?? join(dirname(resolve(hdbDir)), `${basename(resolve(hdbDir))}${STAGING_SUFFIX}`);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** fsync a file or directory so a rename or a write survives a power cut, not just a crash. */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Staging dirs of writes in flight in this process: recovery leaves them alone. */
export const activeWrites = new Set<string>();

export interface Recovered {
  removed: string[];
  restored: string[];
}

/**
 * Cleans the staging dir after crashed writes: restores a table whose old version was moved aside
 * but whose new version never landed, then deletes the leftovers. Writes still in flight (this
 * process, or another live process) are left alone.
 */
export async function recoverStaging(hdbDir: string, stagingDir?: string): Promise<Recovered> {
  const root = stagingDirFor(hdbDir, stagingDir);
  const out: Recovered = { removed: [], restored: [] };
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return out;
  }
  for (const id of entries) {
    const dir = join(root, id);
    if (activeWrites.has(dir)) continue;
    let intent: Intent | undefined;
    try {
      intent = JSON.parse(await readFile(join(dir, INTENT_FILE), 'utf8')) as Intent;
    } catch {
      intent = undefined;
    }
    if (intent && intent.pid !== process.pid && alive(intent.pid)) continue;
    const old = join(dir, 'old');
    if (intent && (await exists(old)) && !(await exists(intent.target))) {
      await mkdir(dirname(intent.target), { recursive: true });
      await rename(old, intent.target);
      await fsyncPath(dirname(intent.target));
      out.restored.push(intent.target);
    }
    await rm(dir, { recursive: true, force: true });
    out.removed.push(dir);
  }
  return out;
}

/**
 * Starts an atomic write of one table's partition: cleans staging left by crashed writes, makes a
 * work dir with the intent file (so a crash is recoverable) and `new/<table>` to write into, and
 * marks it active (this process's recoverStaging leaves it alone). The caller removes it from
 * `activeWrites` when done.
 */
export async function beginStagedWrite(
  hdbDir: string,
  date: string,
  table: string,
  label: string,
  stagingDir?: string,
): Promise<{ target: string; work: string; newDir: string }> {
  const target = tableDir(hdbDir, date, table);
  await recoverStaging(hdbDir, stagingDir);
  const work = join(stagingDirFor(hdbDir, stagingDir), `${date}-${table}-${label}${randomUUID().slice(0, 8)}`);
  activeWrites.add(work);
  const newDir = join(work, 'new', table);
  await mkdir(newDir, { recursive: true });
  const intent: Intent = { pid: process.pid, date, table, target, startedAt: new Date().toISOString() };
  await writeFile(join(work, INTENT_FILE), JSON.stringify(intent));
  return { target, work, newDir };
}
