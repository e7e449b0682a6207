// End-of-day write, the Parquet files: each file is `COPY (SELECT ... FROM <table function>) TO ...`,
// the table function handing DuckDB 2048-row slices of the sorted columns (a memcpy per column;
// NaN floats marked NULL), syms as ENUM codes cast to VARCHAR so the row-group statistics cover
// only the file's syms. One file per run of the first sort column (partbyattr), or cut at sym
// boundaries into up to writeThreads files; at most writeThreads in flight. Split from writer.ts.
import { join } from 'node:path';
import { DuckDBTableFunction, DuckDBTypeId, ENUM, VARCHAR, type DuckDBConnection, type DuckDBDataChunk, type DuckDBInstance, type DuckDBType } from '@duckdb/node-api';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { TableSchema } from '../schema.ts';
import { duckdb, duckTypeOf, ident, sqlString } from './duck.ts';
import type { WriteOptions, SortedFile } from './writer.ts';
import type { Prepared } from './write_sort.ts';

/** Rows DuckDB pulls per table-function call (its vector size). */
const VECTOR_ROWS = 2048;
/** The Parquet key-value metadata key holding the tickbus schema (the HDB reads types from it). */
export const SCHEMA_KV_KEY = 'tickbus_schema';

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

/** Writes the prepared rows as Parquet files in `dir`: their paths, rows and (one file per run) the run's value. */
export async function writeFiles(instance: DuckDBInstance, p: Prepared, dir: string, o: WriteOptions, schema: TableSchema, runColumn?: string): Promise<SortedFile[]> {
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
