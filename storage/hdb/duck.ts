// DuckDB plumbing shared by the HDB writer and reader: SQL literal quoting, typed parameters, and
// reading result chunks straight into typed arrays (fixed-width vectors are copied as bytes; only
// strings and exotic types go value by value).
import {
  BIGINT,
  BOOLEAN,
  DATE,
  DOUBLE,
  DuckDBTypeId,
  INTEGER,
  TIMESTAMP_NS,
  VARCHAR,
  dateValue,
  timestampNanosValue,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBResult,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
// The raw C-API bindings (copy_data_to_vector, vector_get_data) ship with @duckdb/node-api as its
// own pinned dependency; they are what makes filling and reading vectors a memcpy.
import duckdb from '@duckdb/node-bindings';
import { availableParallelism, totalmem } from 'node:os';
import type { ColumnType } from '../schema.ts';
import { NULL_INT, NULL_LONG, type ResultColumn } from '../query/result.ts';
import type { Scalar } from '../query/request.ts';

export { duckdb };

/**
 * Resource bounds for every DuckDB instance the project opens (HDB reader, writers, merges),
 * sized for a host shared with a tickerplant, RDBs and a gateway: DuckDB's own defaults (80% of
 * RAM, every core) let one runaway statement take the machine. Memory: 15% of RAM, at least
 * 256 MB, at most 4 GB (past it DuckDB spills to its temp dir or fails the statement with an
 * out-of-memory error); threads: half the cores, at least 1, at most 4. Overridable per process
 * (`memoryLimit`, `threads` settings) or for all with TICKBUS_DUCKDB_MEMORY_LIMIT / TICKBUS_DUCKDB_THREADS.
 */
export function duckdbLimits(env: Record<string, string | undefined> = process.env): { memoryLimit: string; threads: number } {
  const mib = Math.floor(totalmem() / 2 ** 20);
  const memoryLimit = env.TICKBUS_DUCKDB_MEMORY_LIMIT || `${Math.max(256, Math.min(4096, Math.floor(mib * 0.15)))}MB`;
  const fromEnv = Number(env.TICKBUS_DUCKDB_THREADS);
  const threads = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));
  return { memoryLimit, threads };
}

/** True for DuckDB's out-of-memory failure (the statement hit memory_limit). */
export function isOutOfMemory(e: unknown): boolean {
  return /out of memory/i.test((e as Error)?.message ?? '');
}

/** A SQL string literal. Used only for paths this process listed itself and for schema JSON. */
export function sqlString(s: string): string {
  if (s.includes('\0')) throw new Error('NUL in a SQL literal');
  return `'${s.replaceAll("'", "''")}'`;
}

/** A quoted identifier (names are validated against the schema before they get here). */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function duckTypeOf(t: ColumnType): DuckDBType {
  switch (t) {
    case 'timestamp':
      return TIMESTAMP_NS;
    case 'long':
    case 'timespan':
      return BIGINT;
    case 'int':
      return INTEGER;
    case 'date':
      return DATE;
    case 'float':
      return DOUBLE;
    case 'bool':
      return BOOLEAN;
    case 'symbol':
    case 'string':
      return VARCHAR;
  }
}

/** The SQL type name a column of our type is stored as in Parquet. */
export function sqlTypeOf(t: ColumnType): string {
  return duckTypeOf(t).toString();
}

/** Bound parameters: values and their DuckDB types, numbered $1, $2, ... in order of `add`. */
export class Params {
  readonly values: DuckDBValue[] = [];
  readonly types: DuckDBType[] = [];
  add(type: ColumnType, v: Scalar): string {
    let value: DuckDBValue;
    switch (type) {
      case 'timestamp':
        value = timestampNanosValue(v as bigint);
        break;
      case 'date':
        value = dateValue(v as number);
        break;
      case 'bool':
        value = v === 1;
        break;
      default:
        value = v;
    }
    this.values.push(value);
    this.types.push(duckTypeOf(type));
    return `$${this.values.length}`;
  }
}

const WIDTH: Partial<Record<ColumnType, number>> = { timestamp: 8, long: 8, timespan: 8, float: 8, int: 4, date: 4, bool: 1 };
const EXPECTED_ID: Record<ColumnType, DuckDBTypeId> = {
  timestamp: DuckDBTypeId.TIMESTAMP_NS,
  long: DuckDBTypeId.BIGINT,
  timespan: DuckDBTypeId.BIGINT,
  float: DuckDBTypeId.DOUBLE,
  int: DuckDBTypeId.INTEGER,
  date: DuckDBTypeId.DATE,
  bool: DuckDBTypeId.BOOLEAN,
  symbol: DuckDBTypeId.VARCHAR,
  string: DuckDBTypeId.VARCHAR,
};

/** Our column type for a DuckDB result column of an arbitrary (SQL) query. */
export function columnTypeOfDuck(id: DuckDBTypeId): ColumnType {
  switch (id) {
    case DuckDBTypeId.BOOLEAN:
      return 'bool';
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
      return 'int';
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return 'long';
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
      return 'float';
    case DuckDBTypeId.DATE:
      return 'date';
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 'timestamp';
    case DuckDBTypeId.ENUM:
      return 'symbol';
    default:
      return 'string';
  }
}

/** Converts one DuckDB value (slow path) to our representation. */
function convertValue(type: ColumnType, v: DuckDBValue): number | bigint | string {
  if (v === null) return type === 'float' ? NaN : type === 'int' || type === 'date' ? NULL_INT : type === 'bool' ? 0 : WIDTH[type] === 8 ? NULL_LONG : '';
  switch (type) {
    case 'bool':
      return v === true ? 1 : 0;
    case 'int':
      return Number(v);
    case 'long':
    case 'timespan':
      return BigInt.asIntN(64, BigInt(v as bigint | number));
    case 'float':
      return typeof v === 'number' ? v : Number(typeof v === 'bigint' ? v : (v as { toDouble(): number }).toDouble());
    case 'date':
      return (v as { days: number }).days;
    case 'timestamp': {
      const o = v as { nanos?: bigint; micros?: bigint; millis?: bigint; seconds?: bigint };
      if (o.nanos !== undefined) return o.nanos;
      if (o.micros !== undefined) return o.micros * 1000n;
      if (o.millis !== undefined) return o.millis * 1_000_000n;
      return (o.seconds ?? 0n) * 1_000_000_000n;
    }
    default:
      return typeof v === 'string' ? v : String(v);
  }
}

class ColumnBuilder {
  parts: ResultColumn[] = [];
  n = 0;
  constructor(readonly type: ColumnType) {}
  add(c: ResultColumn): void {
    this.parts.push(c);
    this.n += c.length;
  }
  build(): ResultColumn {
    if (this.parts.length === 1) return this.parts[0]!;
    if (this.type === 'symbol' || this.type === 'string') return (this.parts as string[][]).flat();
    const Ctor = (this.parts[0]?.constructor ?? Float64Array) as new (n: number) => Float64Array;
    const out = new Ctor(this.n);
    let at = 0;
    for (const p of this.parts) {
      out.set(p as Float64Array, at);
      at += p.length;
    }
    return out as unknown as ResultColumn;
  }
}

function readChunkColumn(chunk: DuckDBDataChunk, i: number, type: ColumnType, id: DuckDBTypeId): ResultColumn {
  const n = chunk.rowCount;
  const width = WIDTH[type];
  if (width !== undefined && id === EXPECTED_ID[type]) {
    const vec = duckdb.data_chunk_get_vector(chunk.chunk, i);
    const bytes = duckdb.vector_get_data(vec, n * width);
    const copy = new Uint8Array(n * width);
    copy.set(bytes);
    const out: ResultColumn =
      width === 8
        ? type === 'float'
          ? new Float64Array(copy.buffer)
          : new BigInt64Array(copy.buffer)
        : width === 4
          ? new Int32Array(copy.buffer)
          : copy;
    const validity = duckdb.vector_get_validity(vec, Math.ceil(n / 64) * 8);
    if (validity) {
      for (let r = 0; r < n; r++) {
        if ((validity[r >> 3]! >> (r & 7)) & 1) continue;
        if (out instanceof Float64Array) out[r] = NaN;
        else if (out instanceof BigInt64Array) out[r] = NULL_LONG;
        else if (out instanceof Int32Array) out[r] = NULL_INT;
        else out[r] = 0;
      }
    }
    return out;
  }
  const vector = chunk.getColumnVector(i);
  const col = (width === undefined ? new Array<string>(n) : width === 8 ? (type === 'float' ? new Float64Array(n) : new BigInt64Array(n)) : width === 4 ? new Int32Array(n) : new Uint8Array(n)) as ResultColumn;
  for (let r = 0; r < n; r++) (col as unknown as (number | bigint | string)[])[r] = convertValue(type, vector.getItem(r));
  return col;
}

export interface ReadOptions {
  /** Our type for each column; default: derived from the DuckDB types. */
  types?: ColumnType[];
  /** Stop with an error past this many rows. */
  rowsMax: number;
  onTooMany: (rows: number) => Error;
}

/** Reads a whole result into columns. */
export async function readResult(result: DuckDBResult, opts: ReadOptions): Promise<{ n: number; names: string[]; types: ColumnType[]; cols: ResultColumn[] }> {
  const count = result.columnCount;
  const ids = Array.from({ length: count }, (_, i) => result.columnTypeId(i));
  const types = opts.types ?? ids.map(columnTypeOfDuck);
  const names = result.columnNames();
  const builders = types.map((t) => new ColumnBuilder(t));
  let n = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    n += chunk.rowCount;
    if (n > opts.rowsMax) throw opts.onTooMany(n);
    for (let i = 0; i < count; i++) builders[i]!.add(readChunkColumn(chunk, i, types[i]!, ids[i]!));
  }
  return { n, names, types, cols: builders.map((b) => (b.n === 0 ? emptyOf(b.type) : b.build())) };
}

function emptyOf(type: ColumnType): ResultColumn {
  const w = WIDTH[type];
  if (w === undefined) return [];
  return w === 8 ? (type === 'float' ? new Float64Array(0) : new BigInt64Array(0)) : w === 4 ? new Int32Array(0) : new Uint8Array(0);
}

/** Runs a statement with typed parameters and returns its streaming result. */
export async function stream(con: DuckDBConnection, sql: string, params?: Params): Promise<DuckDBResult> {
  return params && params.values.length ? con.stream(sql, params.values, params.types) : con.stream(sql);
}
