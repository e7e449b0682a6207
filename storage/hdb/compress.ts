// Recompressing HDB partitions in place (TorQ's compression process, on Parquet): each file of a
// `<hdb>/date=D/<table>/` dir is copied by DuckDB with the planned codec, keeping its name, its row
// order, its row-group sizes and its key-value metadata (the tickbus schema the HDB reads), plus
// `tickbus_compression` = {codec, level} (Parquet records the codec, not the zstd level). Each new
// file is verified against the old (rows, column names and types, row groups, metadata, the codec,
// and per column an order-sensitive checksum, sum(hash(row number, value))) before the table dir
// is swapped in through the HDB writer's staged-write protocol (layout.ts, writer.ts swapIn): a
// failed check or a crash leaves the original in place, or restorable by recoverStaging.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { ident, sqlString } from './duck.ts';
import { activeWrites, beginStagedWrite, fsyncPath, PARTITION_PREFIX, assertDate } from './layout.ts';
import { SCHEMA_KV_KEY, swapIn } from './writer.ts';

export type Codec = 'uncompressed' | 'snappy' | 'gzip' | 'lz4' | 'zstd';

/** A Parquet codec and, for zstd only (the one level DuckDB can set), its level. */
export interface CodecSpec {
  codec: Codec;
  level?: number;
}

/** Key-value metadata key recording the codec and level a file was rewritten with. */
export const COMPRESSION_KV_KEY = 'tickbus_compression';
/** The zstd level of a file without COMPRESSION_KV_KEY: DuckDB's default, which the HDB writer uses. */
export const DEFAULT_ZSTD_LEVEL = 3;

const PARQUET_CODECS: Record<string, Codec> = { UNCOMPRESSED: 'uncompressed', SNAPPY: 'snappy', GZIP: 'gzip', LZ4_RAW: 'lz4', LZ4: 'lz4', ZSTD: 'zstd' };

export function showCodec(s: CodecSpec | undefined): string {
  if (!s) return 'mixed';
  return s.codec === 'zstd' ? `zstd(${s.level ?? DEFAULT_ZSTD_LEVEL})` : s.codec;
}

export function sameCodec(a: CodecSpec | undefined, b: CodecSpec | undefined): boolean {
  if (!a || !b || a.codec !== b.codec) return false;
  return a.codec !== 'zstd' || (a.level ?? DEFAULT_ZSTD_LEVEL) === (b.level ?? DEFAULT_ZSTD_LEVEL);
}

export interface FileInfo {
  path: string;
  name: string;
  bytes: number;
  rows: number;
  rowGroups: number[];
  /** Undefined when the column chunks use different codecs or one DuckDB does not write. */
  spec?: CodecSpec;
  kv: [string, string][];
}

export interface PartitionInfo {
  date: string;
  table: string;
  dir: string;
  files: FileInfo[];
  columns: string[];
  rows: number;
  bytes: number;
  /** The codec every file has; undefined when they differ (or any is mixed). */
  current?: CodecSpec;
}

/** A DuckDB instance bounded as every other the project opens (duck.ts duckdbLimits). */
export async function openDuck(threads: number, memoryLimit: string): Promise<{ db: DuckDBInstance; con: DuckDBConnection }> {
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads), memory_limit: memoryLimit });
  return { db, con: await db.connect() };
}

async function rowsOf(con: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await con.runAndReadAll(sql)).getRowsJS() as unknown[][];
}

/** The `(date, table)` partitions of an HDB, oldest first; directories that are not partitions are skipped; none when the HDB dir does not exist. */
export async function listPartitions(hdbDir: string): Promise<{ date: string; table: string; dir: string }[]> {
  const out: { date: string; table: string; dir: string }[] = [];
  let dates: string[];
  try {
    dates = (await readdir(hdbDir)).filter((d) => d.startsWith(PARTITION_PREFIX)).sort();
  } catch (e) {
    // No HDB yet (a new system before its first end of day): nothing to do.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read the HDB directory ${hdbDir}: ${(e as Error).message}`, { hdbDir });
  }
  for (const d of dates) {
    const date = d.slice(PARTITION_PREFIX.length);
    try {
      assertDate(date);
    } catch {
      continue;
    }
    const tables = await readdir(join(hdbDir, d), { withFileTypes: true });
    for (const t of tables.filter((e) => e.isDirectory()).map((e) => e.name).sort()) out.push({ date, table: t, dir: join(hdbDir, d, t) });
  }
  return out;
}

async function inspectFile(con: DuckDBConnection, path: string, name: string): Promise<FileInfo> {
  const f = sqlString(path);
  const groups = (await rowsOf(con, `SELECT row_group_id, any_value(row_group_num_rows)::BIGINT FROM parquet_metadata(${f}) GROUP BY 1 ORDER BY 1`)) as [bigint, bigint][];
  const codecs = (await rowsOf(con, `SELECT DISTINCT compression FROM parquet_metadata(${f})`)).map((r) => String(r[0]));
  const kv = (await rowsOf(con, `SELECT decode(key), decode(value) FROM parquet_kv_metadata(${f}) ORDER BY 1`)) as [string, string][];
  const codec = codecs.length === 1 ? PARQUET_CODECS[codecs[0]!] : undefined;
  let spec: CodecSpec | undefined;
  if (codec === 'zstd') {
    const recorded = kv.find(([k]) => k === COMPRESSION_KV_KEY);
    const level = recorded ? (JSON.parse(recorded[1]) as CodecSpec).level : DEFAULT_ZSTD_LEVEL;
    spec = { codec, level: level ?? DEFAULT_ZSTD_LEVEL };
  } else if (codec) spec = { codec };
  const rowGroups = groups.map((g) => Number(g[1]));
  return { path, name, bytes: (await stat(path)).size, rows: rowGroups.reduce((a, b) => a + b, 0), rowGroups, spec, kv };
}

/** Sizes, rows, row groups and codecs of one partition's files, from the Parquet footers. */
export async function inspectPartition(con: DuckDBConnection, p: { date: string; table: string; dir: string }): Promise<PartitionInfo> {
  const names = (await readdir(p.dir)).filter((n) => n.endsWith('.parquet')).sort();
  const files: FileInfo[] = [];
  for (const n of names) files.push(await inspectFile(con, join(p.dir, n), n));
  const columns = files.length ? ((await rowsOf(con, `DESCRIBE SELECT * FROM read_parquet(${sqlString(files[0]!.path)}, hive_partitioning = false)`)).map((r) => String(r[0]))) : [];
  const first = files[0]?.spec;
  const current = files.length && files.every((f) => sameCodec(f.spec, first)) ? first : undefined;
  return { ...p, files, columns, rows: files.reduce((a, f) => a + f.rows, 0), bytes: files.reduce((a, f) => a + f.bytes, 0), current };
}

function copyOptions(spec: CodecSpec, rowGroupRows: number, kv: [string, string][]): string {
  const meta = [...kv.filter(([k]) => k !== COMPRESSION_KV_KEY), [COMPRESSION_KV_KEY, JSON.stringify(spec)] as [string, string]];
  const level = spec.codec === 'zstd' ? `, COMPRESSION_LEVEL ${spec.level ?? DEFAULT_ZSTD_LEVEL}` : '';
  const kvSql = meta.map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`).join(', ');
  return `FORMAT parquet, COMPRESSION ${spec.codec}${level}, ROW_GROUP_SIZE ${Math.max(1, Math.trunc(rowGroupRows))}, KV_METADATA {${kvSql}}`;
}

/** Copies one file with `spec`; row groups as large as the old file's largest (so the same cuts). */
async function copyFile(con: DuckDBConnection, from: FileInfo, to: string, spec: CodecSpec, limitRows?: number): Promise<void> {
  const rg = Math.max(1, ...from.rowGroups);
  const limit = limitRows === undefined ? '' : ` LIMIT ${Math.trunc(limitRows)}`;
  await con.run(`COPY (SELECT * FROM read_parquet(${sqlString(from.path)}, hive_partitioning = false)${limit}) TO ${sqlString(to)} (${copyOptions(spec, rg, from.kv)})`);
}

interface Digest {
  rows: bigint;
  types: string[];
  sums: string[];
}

/** Rows, column names:types, and per column sum(hash(row number, value)) (order-sensitive). */
async function digest(con: DuckDBConnection, path: string): Promise<Digest> {
  const src = `read_parquet(${sqlString(path)}, hive_partitioning = false, file_row_number = true)`;
  const desc = await rowsOf(con, `DESCRIBE SELECT * EXCLUDE (file_row_number) FROM ${src}`);
  const cols = desc.map((r) => String(r[0]));
  const sums = cols.map((c) => `sum(hash(file_row_number, ${ident(c)})::HUGEINT)::VARCHAR`);
  const r = (await rowsOf(con, `SELECT count(*)::BIGINT${sums.length ? ', ' + sums.join(', ') : ''} FROM ${src}`))[0]!;
  return { rows: r[0] as bigint, types: desc.map((d) => `${d[0]}:${d[1]}`), sums: r.slice(1).map((x) => String(x)) };
}

function verifyFailed(p: PartitionInfo, file: string, check: string, detail: Record<string, unknown>): TickbusError {
  return new TickbusError(ErrorCode.INTERNAL, `compression of ${p.date}/${p.table}: ${file} failed verification (${check}); the original is kept`, {
    date: p.date,
    table: p.table,
    file,
    check,
    ...detail,
  });
}

/** Checks a rewritten file against its original; throws (INTERNAL, detail.check) on the first difference. */
async function verifyFile(con: DuckDBConnection, p: PartitionInfo, old: FileInfo, path: string, spec: CodecSpec): Promise<FileInfo> {
  const neu = await inspectFile(con, path, old.name);
  if (neu.rows !== old.rows) throw verifyFailed(p, old.name, 'row count', { old: old.rows, new: neu.rows });
  if (JSON.stringify(neu.rowGroups) !== JSON.stringify(old.rowGroups)) throw verifyFailed(p, old.name, 'row groups', { old: old.rowGroups, new: neu.rowGroups });
  if (!sameCodec(neu.spec, spec)) throw verifyFailed(p, old.name, 'codec', { planned: showCodec(spec), written: showCodec(neu.spec) });
  const kvOf = (f: FileInfo) => f.kv.find(([k]) => k === SCHEMA_KV_KEY)?.[1];
  if (kvOf(neu) !== kvOf(old)) throw verifyFailed(p, old.name, `${SCHEMA_KV_KEY} metadata`, {});
  const [a, b] = [await digest(con, old.path), await digest(con, path)];
  if (a.rows !== b.rows) throw verifyFailed(p, old.name, 'row count', { old: a.rows, new: b.rows });
  if (JSON.stringify(a.types) !== JSON.stringify(b.types)) throw verifyFailed(p, old.name, 'column types', { old: a.types, new: b.types });
  a.sums.forEach((s, i) => {
    if (s !== b.sums[i]) throw verifyFailed(p, old.name, `checksum of column ${a.types[i]!.split(':')[0]}`, { column: a.types[i] });
  });
  return neu;
}

/** Names, sizes and mtimes of a dir's files: a writer that replaced the table meanwhile changes it. */
async function snapshot(dir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  const parts: string[] = [];
  for (const n of names) {
    const s = await stat(join(dir, n));
    parts.push(`${n}:${s.size}:${s.mtimeMs}`);
  }
  return parts.join('|');
}

/** Test hooks: what a test corrupts or crashes at. */
export interface CompressHooks {
  /** After the new files are written and fsynced, before they are verified. */
  beforeVerify?(newDir: string): Promise<void> | void;
  /** After the old table dir is moved aside, before the new one is moved in. */
  midSwap?(): Promise<void> | void;
}

export interface RewriteOptions {
  stagingDir?: string;
  hooks?: CompressHooks;
}

export interface RewriteResult {
  date: string;
  table: string;
  rows: number;
  files: number;
  from: string;
  to: string;
  bytesBefore: number;
  bytesAfter: number;
  ms: { write: number; verify: number; total: number };
}

/**
 * Rewrites one partition with `spec`, file by file (one DuckDB statement at a time, within the
 * connection's memory limit), verifies every file, and swaps the table dir in atomically. On a
 * failed check the staged files are removed and the original stays; the error says which check.
 */
export async function rewritePartition(con: DuckDBConnection, hdbDir: string, p: PartitionInfo, spec: CodecSpec, o: RewriteOptions = {}): Promise<RewriteResult> {
  const t0 = performance.now();
  const before = await snapshot(p.dir);
  const { target, work, newDir } = await beginStagedWrite(hdbDir, p.date, p.table, 'cmp-', o.stagingDir);
  let swapped = false;
  try {
    for (const f of p.files) {
      await copyFile(con, f, join(newDir, f.name), spec);
      await fsyncPath(join(newDir, f.name));
    }
    await fsyncPath(newDir);
    const t1 = performance.now();
    await o.hooks?.beforeVerify?.(newDir);
    let bytesAfter = 0;
    for (const f of p.files) bytesAfter += (await verifyFile(con, p, f, join(newDir, f.name), spec)).bytes;
    const extra = (await readdir(newDir)).filter((n) => !p.files.some((f) => f.name === n));
    if (extra.length) throw verifyFailed(p, extra[0]!, 'unexpected file', { extra });
    const t2 = performance.now();
    if ((await snapshot(target)) !== before) {
      throw new TickbusError(ErrorCode.INTERNAL, `compression of ${p.date}/${p.table}: the partition changed while it was rewritten (another writer); the new one is kept`, { date: p.date, table: p.table });
    }
    swapped = true;
    await swapIn(newDir, target, join(work, 'old'), o.hooks?.midSwap);
    await rm(work, { recursive: true, force: true });
    return {
      date: p.date,
      table: p.table,
      rows: p.rows,
      files: p.files.length,
      from: showCodec(p.current),
      to: showCodec(spec),
      bytesBefore: p.bytes,
      bytesAfter,
      ms: { write: t1 - t0, verify: t2 - t1, total: performance.now() - t0 },
    };
  } catch (e) {
    // Before the swap nothing in the HDB was touched: drop the staged copy. A failure during the
    // swap leaves the work dir with its intent for recoverStaging.
    if (!swapped) await rm(work, { recursive: true, force: true });
    throw e;
  } finally {
    activeWrites.delete(work);
  }
}

/**
 * Estimated size of a partition under `spec`: the first `sampleRows` rows of its first file are
 * written with the current codec and with `spec` (in a temp dir, outside the HDB), and the
 * partition's bytes scaled by the ratio. Exact for a partition of one file under sampleRows rows.
 */
export async function estimateBytes(con: DuckDBConnection, p: PartitionInfo, spec: CodecSpec, sampleRows: number): Promise<number> {
  const first = p.files[0];
  if (!first || p.rows === 0) return p.bytes;
  const dir = await mkdtemp(join(tmpdir(), 'tickbus-compress-estimate-'));
  try {
    const now = join(dir, 'current.parquet');
    const planned = join(dir, 'planned.parquet');
    await copyFile(con, first, now, first.spec ?? { codec: 'zstd' }, sampleRows);
    await copyFile(con, first, planned, spec, sampleRows);
    const ratio = (await stat(planned)).size / Math.max(1, (await stat(now)).size);
    return Math.round(p.bytes * ratio);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
