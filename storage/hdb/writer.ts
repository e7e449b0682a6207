// End-of-day write: one table's day -> a sorted, zstd Parquet partition, appearing atomically.
//
// Measured on this machine (2 cores, 10M trade rows, ~50 syms; see docs/storage.md): the sort is a
// stable counting sort by sym in JS (~0.15 s) plus a scatter of each column (~0.4 s, sequential
// reads, one write stream per sym); DuckDB then pulls 2048-row vectors from a JS table function
// whose callback is a memcpy per column (copy_data_to_vector, ~60 ms in all) and writes Parquet,
// one file per core in parallel (~1.1 s). No DuckDB table is materialised (an appender + COPY took
// ~1.0 s + ~1.1 s). Syms go in as ENUM codes (the dictionary is the day's sorted sym list) and are
// cast to VARCHAR in the COPY: written as ENUM, the row-group statistics cover the whole
// dictionary and a sym filter could prune nothing.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  DuckDBInstance,
  DuckDBTableFunction,
  DuckDBTypeId,
  ENUM,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBType,
} from '@duckdb/node-api';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Batch } from '../batch.ts';
import type { ColumnType, TableSchema } from '../schema.ts';
import { CHUNK_ROWS, MemTable, SymbolTable } from '../table.ts';
import { duckdb, duckdbLimits, duckTypeOf, ident, sqlString } from './duck.ts';
import { activeWrites, beginStagedWrite, exists, fsyncPath } from './layout.ts';
import { defaultSortConfig, sortColumnsFor, type SortConfig } from './sort_config.ts';

/** Writer settings: typed defaults, one line each. */
export interface WriteOptions {
  /** Per-table sort columns (TorQ sort.csv); default sym (parted) then time. */
  sort: SortConfig;
  /** Where work in progress lives; default `<hdb>.staging` beside the HDB. */
  stagingDir?: string;
  /** Rows per Parquet row group: small enough that a sym's rows span few groups. */
  rowGroupRows: number;
  /** Files written in parallel (one DuckDB thread each). */
  writeThreads: number;
  compression: 'zstd' | 'snappy' | 'uncompressed';
  /** Required when the source is a list of batches. */
  schema?: TableSchema;
}

export const defaultWriteOptions: WriteOptions = {
  sort: defaultSortConfig,
  rowGroupRows: 65_536,
  writeThreads: 2,
  compression: 'zstd',
};

/** Rows DuckDB pulls per table-function call (its vector size). */
const VECTOR_ROWS = 2048;
/** The Parquet key-value metadata key holding the tickbus schema (the HDB reads types from it). */
export const SCHEMA_KV_KEY = 'tickbus_schema';

export interface WriteReport {
  hdbDir: string;
  date: string;
  table: string;
  rows: number;
  files: string[];
  bytes: number;
  /** True when an existing partition of this table was replaced. */
  replaced: boolean;
  ms: { sort: number; write: number; verify: number; total: number };
}

export type PartitionSource = MemTable | readonly Batch[];

/** A column in write order: contiguous and sorted. */
type SortedColumn = BigInt64Array | Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array | string[];

interface Prepared {
  n: number;
  names: string[];
  types: ColumnType[];
  cols: SortedColumn[];
  /** Per symbol column: the ENUM dictionary (sorted); codes in `cols` index it. */
  dicts: (string[] | undefined)[];
  /** Row boundaries of runs of the first sort key (sym), for splitting files at a sym change. */
  runStarts: number[];
  /** Least and greatest `time` (epoch ns), recorded in the metadata so readers can skip filters. */
  timeRange?: [bigint, bigint];
}

function memTableOf(source: PartitionSource, schema: TableSchema | undefined): MemTable {
  if (source instanceof MemTable) return source;
  if (!schema) throw new TickbusError(ErrorCode.BAD_CONFIG, 'writePartition: a list of batches needs options.schema', {});
  const t = new MemTable(schema, new SymbolTable());
  for (const b of source) t.append(b);
  return t;
}

/**
 * Writes one table's day as `<hdb>/date=<date>/<table>/part-<k>.parquet`, sorted per the sort
 * config, verified by reading the row count back, and swapped in atomically (replacing an
 * existing partition of the table). Resolves only when the partition is durable and in place.
 */
export async function writePartition(
  hdbDir: string,
  date: string,
  table: string,
  source: PartitionSource,
  options: Partial<WriteOptions> = {},
): Promise<WriteReport> {
  const o: WriteOptions = { ...defaultWriteOptions, ...options };
  const t0 = performance.now();
  const mem = memTableOf(source, o.schema);
  const { target, work, newDir } = await beginStagedWrite(hdbDir, date, table, '', o.stagingDir);
  try {
    const w = await writeSortedFiles(mem, newDir, o, `partition ${date}/${table}`);
    const files = w.files.map((f) => f.path);
    const replaced = await swapIn(newDir, target, join(work, 'old'));
    let bytes = 0;
    const finalFiles = files.map((f) => join(target, f.slice(newDir.length + 1)));
    for (const f of finalFiles) bytes += (await stat(f)).size;
    await rm(work, { recursive: true, force: true });
    return {
      hdbDir,
      date,
      table,
      rows: w.rows,
      files: finalFiles,
      bytes,
      replaced,
      ms: { ...w.ms, total: performance.now() - t0 },
    };
  } finally {
    activeWrites.delete(work);
  }
}

export interface SortedFile {
  path: string;
  rows: number;
  /** filePerRun: the value of the first sort column (the parted one) the file holds. */
  attr?: string;
}

export interface SortedFilesReport {
  files: SortedFile[];
  rows: number;
  /** Least and greatest `time` (epoch ns) over the files; absent for no rows. */
  timeRange?: [bigint, bigint];
  ms: { sort: number; write: number; verify: number };
}

/**
 * Writes a table's rows sorted per the sort config as Parquet files in `dir` (created by the
 * caller, typically a staging dir), fsynced and verified by reading the row count back; the
 * caller moves them into place. `filePerRun` writes one file per value of the first sort column
 * (partbyattr); otherwise up to writeThreads files cut at run boundaries. The files carry the
 * tickbus schema metadata the HDB reader uses.
 */
export async function writeSortedFiles(source: PartitionSource, dir: string, options: Partial<WriteOptions> & { filePerRun?: boolean } = {}, what = 'write'): Promise<SortedFilesReport> {
  const o: WriteOptions = { ...defaultWriteOptions, ...options };
  const t0 = performance.now();
  const mem = memTableOf(source, o.schema);
  const sortCols = sortColumnsFor(o.sort, mem.schema.name).map((s) => s.column);
  const prepared = prepare(mem, sortCols);
  const t1 = performance.now();
  const instance = await DuckDBInstance.create(':memory:', { threads: String(o.writeThreads), memory_limit: duckdbLimits().memoryLimit });
  let files: SortedFile[];
  let t2: number;
  try {
    files = await writeFiles(instance, prepared, dir, o, mem.schema, options.filePerRun ? sortCols[0] : undefined);
    for (const f of files) await fsyncPath(f.path);
    await fsyncPath(dir);
    t2 = performance.now();
    const con = await instance.connect();
    try {
      const written = files.length ? Number((await con.runAndReadAll(`SELECT count(*)::BIGINT FROM read_parquet([${files.map((f) => sqlString(f.path)).join(', ')}])`)).getRows()[0]![0] as bigint) : 0;
      if (written !== prepared.n) {
        throw new TickbusError(ErrorCode.INTERNAL, `${what}: wrote ${written} rows, expected ${prepared.n}`, { written, expected: prepared.n });
      }
    } finally {
      con.closeSync();
    }
  } finally {
    instance.closeSync();
  }
  return { files, rows: prepared.n, timeRange: prepared.timeRange, ms: { sort: t1 - t0, write: t2 - t1, verify: performance.now() - t2 } };
}

/** Old table dir aside, new one in, date dir fsynced, old deleted. Returns whether one existed. */
export async function swapIn(newDir: string, target: string, aside: string): Promise<boolean> {
  await mkdir(dirname(target), { recursive: true });
  const replaced = await exists(target);
  if (replaced) await rename(target, aside);
  await rename(newDir, target);
  await fsyncPath(dirname(target));
  if (replaced) await rm(aside, { recursive: true, force: true });
  return replaced;
}

// ---------------------------------------------------------------------------------------------
// Sorting: a stable counting sort by the first key when it is a symbol (the usual `sym, time`),
// checking each sym's run for the remaining keys and sorting only the runs that need it.

/** Reads a MemTable column into one contiguous typed array (int64 copied as int32 pairs). */
function contiguous(t: MemTable, name: string): SortedColumn {
  const col = t.columns.get(name)!;
  const n = t.n;
  if (col.type === 'string') {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = (col.chunks[i >>> 16] as string[])[i & 0xffff]!;
    return out;
  }
  const first = col.chunks[0];
  const Ctor = (first?.constructor ?? Int32Array) as new (n: number) => Float64Array;
  const out = new Ctor(n) as unknown as Float64Array;
  for (let k = 0; k * CHUNK_ROWS < n; k++) {
    const len = Math.min(CHUNK_ROWS, n - k * CHUNK_ROWS);
    out.set((col.chunks[k] as Float64Array).subarray(0, len), k * CHUNK_ROWS);
  }
  return out;
}

/** Sorted used names of a symbol column and each code's rank among them (-1: unused). */
function symDictionary(t: MemTable, name: string): { dict: string[]; rank: Int32Array } {
  const names = t.syms.names;
  const used = new Uint8Array(names.length);
  t.forEachChunk(name, (chunk, len) => {
    const c = chunk as Int32Array;
    for (let i = 0; i < len; i++) used[c[i]!] = 1;
  });
  const codes: number[] = [];
  for (let c = 0; c < names.length; c++) if (used[c]) codes.push(c);
  codes.sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  const rank = new Int32Array(names.length).fill(-1);
  codes.forEach((c, i) => (rank[c] = i));
  return { dict: codes.map((c) => names[c]!), rank };
}

/** A comparator of two rows of one column (int64s compared as int32 pairs, no BigInt). */
function comparator(c: SortedColumn, type: ColumnType): (a: number, b: number) => number {
  if (type === 'timestamp' || type === 'long' || type === 'timespan') {
    const p = new Int32Array((c as BigInt64Array).buffer, (c as BigInt64Array).byteOffset, c.length * 2);
    return (a, b) => p[2 * a + 1]! - p[2 * b + 1]! || (p[2 * a]! >>> 0) - (p[2 * b]! >>> 0);
  }
  const v = c as Float64Array;
  return (a, b) => {
    const x = v[a]!;
    const y = v[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

function prepare(t: MemTable, sortCols: readonly string[]): Prepared {
  const schema = t.schema;
  for (const c of sortCols) {
    if (!schema.index.has(c)) throw new TickbusError(ErrorCode.BAD_CONFIG, `sort config names column ${c}, which table ${schema.name} lacks`, { table: schema.name, column: c });
  }
  const n = t.n;
  const names = schema.columns.map((c) => c.name);
  const types = schema.columns.map((c) => c.type);
  const dicts = schema.columns.map((c) => (c.type === 'symbol' ? symDictionary(t, c.name) : undefined));
  // Raw columns with symbols replaced by their dictionary ranks (the ENUM codes).
  const raw: SortedColumn[] = schema.columns.map((c, i) => {
    const col = contiguous(t, c.name);
    if (c.type !== 'symbol') return col;
    const { dict, rank } = dicts[i]!;
    const codes = dict.length <= 0xff ? new Uint8Array(n) : dict.length <= 0xffff ? new Uint16Array(n) : new Uint32Array(n);
    const src = col as Int32Array;
    for (let r = 0; r < n; r++) codes[r] = rank[src[r]!]!;
    return codes;
  });
  const keyIdx = sortCols.map((c) => schema.index.get(c)!);
  const firstIsSym = keyIdx.length > 0 && types[keyIdx[0]!] === 'symbol';
  let cols: SortedColumn[];
  let runStarts: number[] = [0];
  if (keyIdx.length === 0) cols = raw;
  else if (firstIsSym) {
    const keyCodes = raw[keyIdx[0]!] as Uint8Array | Uint16Array | Uint32Array;
    const nsym = dicts[keyIdx[0]!]!.dict.length;
    const start = new Int32Array(nsym + 1);
    for (let r = 0; r < n; r++) start[keyCodes[r]! + 1]!++;
    for (let s = 0; s < nsym; s++) start[s + 1]! += start[s]!;
    // Scatter each column: sequential reads, one write cursor per sym; stable by construction.
    cols = raw.map((src) => scatter(src, keyCodes, start, nsym, n));
    runStarts = Array.from(start.subarray(0, nsym));
    const rest = keyIdx.slice(1);
    if (rest.length) fixRuns(cols, types, rest, start, nsym);
  } else {
    const perm = Uint32Array.from({ length: n }, (_, i) => i);
    const cmps = keyIdx.map((k) => comparator(raw[k]!, types[k]!));
    perm.sort((a, b) => {
      for (const cmp of cmps) {
        const d = cmp(a, b);
        if (d !== 0) return d;
      }
      return a - b;
    });
    cols = raw.map((c) => permute(c, perm, 0, n));
  }
  const ti = schema.index.get('time');
  const timeRange = ti !== undefined && n > 0 && types[ti] === 'timestamp' ? int64Range(cols[ti] as BigInt64Array) : undefined;
  return { n, names, types, cols, dicts: dicts.map((d) => d?.dict), runStarts, timeRange };
}

function int64Range(c: BigInt64Array): [bigint, bigint] {
  const p = new Int32Array(c.buffer, c.byteOffset, c.length * 2);
  let lo = 0;
  let hi = 0;
  for (let i = 1; i < c.length; i++) {
    const h = p[2 * i + 1]!;
    const l = p[2 * i]! >>> 0;
    if (h < p[2 * lo + 1]! || (h === p[2 * lo + 1]! && l < p[2 * lo]! >>> 0)) lo = i;
    if (h > p[2 * hi + 1]! || (h === p[2 * hi + 1]! && l > p[2 * hi]! >>> 0)) hi = i;
  }
  return [c[lo]!, c[hi]!];
}

function scatter(src: SortedColumn, keys: ArrayLike<number>, start: Int32Array, nsym: number, n: number): SortedColumn {
  const pos = start.slice(0, nsym);
  if (Array.isArray(src)) {
    const out = new Array<string>(n);
    for (let r = 0; r < n; r++) out[pos[keys[r]!]!++] = src[r]!;
    return out;
  }
  if (src instanceof BigInt64Array) {
    const out = new BigInt64Array(n);
    const s = new Int32Array(src.buffer, src.byteOffset, n * 2);
    const d = new Int32Array(out.buffer);
    for (let r = 0; r < n; r++) {
      const p = pos[keys[r]!]!++;
      d[2 * p] = s[2 * r]!;
      d[2 * p + 1] = s[2 * r + 1]!;
    }
    return out;
  }
  const out = new (src.constructor as new (n: number) => Float64Array)(n);
  const s = src as Float64Array;
  for (let r = 0; r < n; r++) out[pos[keys[r]!]!++] = s[r]!;
  return out;
}

/** Rows [from, to) of a column, reordered by `perm` (indices relative to from). */
function permute(c: SortedColumn, perm: Uint32Array, from: number, to: number): SortedColumn {
  if (Array.isArray(c)) {
    const seg = c.slice(from, to);
    const out = from === 0 && to === c.length ? new Array<string>(to) : c;
    for (let i = 0; i < perm.length; i++) out[from + i] = seg[perm[i]!]!;
    return out;
  }
  if (c instanceof BigInt64Array) {
    const seg = new Int32Array(c.slice(from, to).buffer);
    const out = from === 0 && to === c.length ? new BigInt64Array(to) : c;
    const d = new Int32Array(out.buffer, out.byteOffset, out.length * 2);
    for (let i = 0; i < perm.length; i++) {
      d[2 * (from + i)] = seg[2 * perm[i]!]!;
      d[2 * (from + i) + 1] = seg[2 * perm[i]! + 1]!;
    }
    return out;
  }
  const seg = (c as Float64Array).slice(from, to);
  const out = from === 0 && to === c.length ? new (c.constructor as new (n: number) => Float64Array)(to) : (c as Float64Array);
  for (let i = 0; i < perm.length; i++) out[from + i] = seg[perm[i]!]!;
  return out;
}

/** Within each sym's run, sorts by the remaining keys where arrival order did not already. */
function fixRuns(cols: SortedColumn[], types: ColumnType[], rest: number[], start: Int32Array, nsym: number): void {
  // Comparators are rebuilt after a permute, which may replace a column array.
  let cmps = rest.map((k) => comparator(cols[k]!, types[k]!));
  const cmp = (a: number, b: number) => {
    for (const c of cmps) {
      const d = c(a, b);
      if (d !== 0) return d;
    }
    return a - b;
  };
  for (let s = 0; s < nsym; s++) {
    const from = start[s]!;
    const to = start[s + 1]!;
    let sorted = true;
    for (let r = from + 1; r < to && sorted; r++) if (cmp(r - 1, r) > 0) sorted = false;
    if (sorted) continue;
    const perm = Uint32Array.from({ length: to - from }, (_, i) => i);
    perm.sort((a, b) => cmp(from + a, from + b));
    for (let c = 0; c < cols.length; c++) cols[c] = permute(cols[c]!, perm, from, to);
    cmps = rest.map((k) => comparator(cols[k]!, types[k]!));
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: each file is `COPY (SELECT ... FROM <table function>) TO ...`, the table function
// handing DuckDB 2048-row slices of the sorted columns.

function splitPoints(p: Prepared, files: number): number[] {
  const n = p.n;
  if (n === 0) return [0, 0];
  const cuts = [0];
  for (let k = 1; k < files; k++) {
    const want = Math.floor((n * k) / files);
    // Cut at the sym boundary nearest the even split, so no sym straddles two files.
    let best = want;
    let bestD = Infinity;
    for (const s of p.runStarts) {
      const d = Math.abs(s - want);
      if (d < bestD) {
        bestD = d;
        best = s;
      }
    }
    if (p.runStarts.length <= 1) best = want;
    if (best > cuts[cuts.length - 1]! && best < n) cuts.push(best);
  }
  cuts.push(n);
  return cuts;
}

async function writeFiles(instance: DuckDBInstance, p: Prepared, dir: string, o: WriteOptions, schema: TableSchema, runColumn?: string): Promise<SortedFile[]> {
  // One file per run of the first sort column (partbyattr), or cut at run boundaries into up to writeThreads files.
  const runCol = runColumn === undefined ? undefined : p.names.indexOf(runColumn);
  const perRun = runCol !== undefined && runCol >= 0 && p.types[runCol] === 'symbol' && p.n > 0;
  const cuts = perRun ? [...p.runStarts.filter((s, i, a) => i === 0 || s > a[i - 1]!), p.n] : splitPoints(p, Math.max(1, o.writeThreads));
  const enumTypes = p.dicts.map((d) => (d && d.length > 0 ? ENUM(d) : undefined));
  const kv = JSON.stringify({
    table: schema.name,
    columns: schema.columns.map((c) => ({ name: c.name, type: c.type })),
    sort: o.sort,
    rows: p.n,
    timeRange: p.timeRange?.map(String),
  });
  const out: SortedFile[] = [];
  // At most writeThreads files in flight (partbyattr can mean one file per sym).
  const limit = Math.max(1, o.writeThreads);
  for (let k0 = 0; k0 + 1 < cuts.length; k0 += limit) {
    const jobs: Promise<SortedFile>[] = [];
    for (let k = k0; k < Math.min(k0 + limit, cuts.length - 1); k++) {
      const file = join(dir, `part-${String(k).padStart(3, '0')}.parquet`);
      const [from, to] = [cuts[k]!, cuts[k + 1]!];
      const attr = perRun ? p.dicts[runCol!]![(p.cols[runCol!] as Uint32Array)[from]!] : undefined;
      jobs.push(writeOne(instance, p, enumTypes, from, to, file, o, kv, k).then((path) => ({ path, rows: to - from, ...(attr !== undefined ? { attr } : {}) })));
    }
    out.push(...(await Promise.all(jobs)));
  }
  return out;
}

function typeFor(p: Prepared, enumTypes: (DuckDBType | undefined)[], i: number): DuckDBType {
  if (p.types[i] === 'symbol') return enumTypes[i] ?? VARCHAR;
  return duckTypeOf(p.types[i]!);
}

const ENUM_BYTES: Partial<Record<DuckDBTypeId, number>> = {
  [DuckDBTypeId.UTINYINT]: 1,
  [DuckDBTypeId.USMALLINT]: 2,
  [DuckDBTypeId.UINTEGER]: 4,
};

async function writeOne(
  instance: DuckDBInstance,
  p: Prepared,
  enumTypes: (ReturnType<typeof ENUM> | undefined)[],
  from: number,
  to: number,
  file: string,
  o: WriteOptions,
  kv: string,
  k: number,
): Promise<string> {
  const con: DuckDBConnection = await instance.connect();
  try {
    const fn = `tickbus_part_${k}`;
    let at = from;
    const ncols = p.names.length;
    for (let i = 0; i < ncols; i++) {
      const e = enumTypes[i];
      if (e && ENUM_BYTES[e.internalTypeId] !== (p.cols[i] as Uint8Array).BYTES_PER_ELEMENT) {
        throw new TickbusError(ErrorCode.INTERNAL, `enum width mismatch for ${p.names[i]}`, {});
      }
    }
    const tf = DuckDBTableFunction.create({
      name: fn,
      bindFunction: (bind) => {
        for (let i = 0; i < ncols; i++) bind.addResultColumn(p.names[i]!, typeFor(p, enumTypes, i));
        bind.setCardinality(to - from, true);
      },
      // One thread: DuckDB keeps the order of a single-threaded source, so the file stays sorted.
      initFunction: (init) => init.setMaxThreads(1),
      mainFunction: (_info, chunk) => {
        const n = Math.min(VECTOR_ROWS, to - at);
        fillChunk(chunk, p, at, n, enumTypes);
        at += n;
      },
    });
    con.registerTableFunction(tf);
    const select = p.names.map((name, i) => (p.types[i] === 'symbol' && enumTypes[i] ? `${ident(name)}::VARCHAR AS ${ident(name)}` : ident(name))).join(', ');
    await con.run(
      `COPY (SELECT ${select} FROM ${fn}()) TO ${sqlString(file)} ` +
        `(FORMAT parquet, COMPRESSION ${o.compression}, ROW_GROUP_SIZE ${Math.trunc(o.rowGroupRows)}, KV_METADATA {${SCHEMA_KV_KEY}: ${sqlString(kv)}})`,
    );
    return file;
  } finally {
    con.closeSync();
  }
}

function fillChunk(chunk: DuckDBDataChunk, p: Prepared, at: number, n: number, enumTypes: (DuckDBType | undefined)[]): void {
  const raw = chunk.chunk;
  duckdb.data_chunk_reset(raw);
  duckdb.data_chunk_set_size(raw, n);
  if (n === 0) return;
  for (let i = 0; i < p.cols.length; i++) {
    const c = p.cols[i]!;
    if (Array.isArray(c)) {
      // Strings (and symbols of an empty day) go value by value: there is no bulk path for them.
      const vec = chunk.getColumnVector(i);
      for (let r = 0; r < n; r++) vec.setItem(r, c[at + r]!);
      vec.flush();
      continue;
    }
    const vec = duckdb.data_chunk_get_vector(raw, i);
    const w = c.BYTES_PER_ELEMENT;
    duckdb.copy_data_to_vector(vec, 0, c.buffer as ArrayBuffer, c.byteOffset + at * w, n * w);
    if (c instanceof Float64Array) markNulls(vec, c, at, n);
    else if (p.types[i] === 'symbol' && !enumTypes[i]) throw new TickbusError(ErrorCode.INTERNAL, 'symbol column without a dictionary', {});
  }
}

/** NaN is the float null in memory; in Parquet it becomes NULL (what DuckDB's aggregates skip). */
function markNulls(vec: ReturnType<typeof duckdb.data_chunk_get_vector>, c: Float64Array, at: number, n: number): void {
  let mask: Uint8Array | undefined;
  for (let r = 0; r < n; r++) {
    if (c[at + r] === c[at + r]) continue;
    // The validity mask is one bit per row, set = valid; it is built here and copied in whole
    // (vector_get_validity hands back a copy, so setting bits on it would be lost).
    if (!mask) mask = new Uint8Array(Math.ceil(VECTOR_ROWS / 64) * 8).fill(0xff);
    mask[r >> 3]! &= ~(1 << (r & 7));
  }
  if (!mask) return;
  duckdb.vector_ensure_validity_writable(vec);
  duckdb.copy_data_to_vector_validity(vec, 0, mask.buffer as ArrayBuffer, 0, mask.byteLength);
}
