// The one result shape every engine returns (RDB memory, HDB DuckDB, as-of join, SQL): columnar,
// typed arrays for numbers and times, string arrays for symbols and strings. Nulls travel as kdb+'s
// sentinels inside the typed arrays (no per-value objects): NaN for floats, the minimum int64 for
// long/timestamp/timespan, the minimum int32 for int/date, '' for symbols and strings.
import { daysToDate, formatIsoNs } from '../batch.ts';
import type { ColumnType } from '../schema.ts';
import { RESULT_TYPE } from './simple.ts';

export { RESULT_TYPE };

/** kdb+'s 0N (long), 0Np (timestamp) and 0Nn (timespan). */
export const NULL_LONG = -(2n ** 63n);
/** kdb+'s 0Ni (int) and 0Nd (date). */
export const NULL_INT = -(2 ** 31);

export type ResultColumn = BigInt64Array | Float64Array | Int32Array | Uint8Array | string[];

export interface QueryResult {
  type: typeof RESULT_TYPE;
  table: string;
  n: number;
  columns: string[];
  types: ColumnType[];
  cols: Record<string, ResultColumn>;
  /** Set on a partial-aggregate result: the parts a gateway merges with `mergePartials`. */
  partial?: true;
}

/** Bound on rows one reply may hold: a reply must fit one NATS message; page with `limit`. */
export { QUERY_ROWS_MAX } from './simple.ts';

export function allocColumn(type: ColumnType, n: number): ResultColumn {
  switch (type) {
    case 'timestamp':
    case 'timespan':
    case 'long':
      return new BigInt64Array(n);
    case 'float':
      return new Float64Array(n);
    case 'int':
    case 'date':
      return new Int32Array(n);
    case 'bool':
      return new Uint8Array(n);
    case 'symbol':
    case 'string':
      return new Array<string>(n).fill('');
  }
}

/** Fills a fresh column with the type's null. */
export function nullColumn(type: ColumnType, n: number): ResultColumn {
  const c = allocColumn(type, n);
  if (c instanceof BigInt64Array) c.fill(NULL_LONG);
  else if (c instanceof Float64Array) c.fill(NaN);
  else if (c instanceof Int32Array) c.fill(NULL_INT);
  return c;
}

/** Rows `idx` of a column, in that order. */
export function takeColumn(c: ResultColumn, idx: ArrayLike<number>): ResultColumn {
  const n = idx.length;
  if (Array.isArray(c)) {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = c[idx[i]!]!;
    return out;
  }
  if (c instanceof BigInt64Array) {
    // Copy int64s as int32 pairs: reading a BigInt64Array element allocates a BigInt.
    const out = new BigInt64Array(n);
    const s = new Int32Array(c.buffer, c.byteOffset, c.length * 2);
    const d = new Int32Array(out.buffer);
    for (let i = 0; i < n; i++) {
      const k = idx[i]! * 2;
      d[2 * i] = s[k]!;
      d[2 * i + 1] = s[k + 1]!;
    }
    return out;
  }
  const out = new (c.constructor as new (n: number) => Float64Array)(n);
  for (let i = 0; i < n; i++) out[i] = (c as Float64Array)[idx[i]!]!;
  return out;
}

export function emptyResult(table: string, columns: string[], types: ColumnType[]): QueryResult {
  const cols: Record<string, ResultColumn> = {};
  columns.forEach((c, i) => (cols[c] = allocColumn(types[i]!, 0)));
  return { type: RESULT_TYPE, table, n: 0, columns, types, cols };
}

/** Compares row a with row b of one column; nulls sort first (kdb+'s `asc`). */
export function compareCells(c: ResultColumn, a: number, b: number): number {
  if (Array.isArray(c)) {
    const x = c[a]!;
    const y = c[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = c[a]!;
  const y = c[b]!;
  if (typeof x === 'number' && typeof y === 'number' && (x !== x || y !== y)) return x !== x ? (y !== y ? 0 : -1) : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Row order of a result by the given keys (desc flips a key, nulls then sort last), ties kept in
 * row order: the sort is stable.
 */
export function sortIndex(cols: readonly ResultColumn[], desc: readonly boolean[], n: number): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  if (cols.length === 0) return idx;
  return idx.sort((a, b) => {
    for (let k = 0; k < cols.length; k++) {
      const d = compareCells(cols[k]!, a, b);
      if (d !== 0) return desc[k] ? -d : d;
    }
    return a - b;
  });
}

/** Applies a row selection to every column of a result. */
export function takeRows(r: QueryResult, idx: ArrayLike<number>): QueryResult {
  const cols: Record<string, ResultColumn> = {};
  for (const c of r.columns) cols[c] = takeColumn(r.cols[c]!, idx);
  return { ...r, n: idx.length, cols };
}

function int64ToJson(x: bigint): number | string | null {
  if (x === NULL_LONG) return null;
  return x >= -(2n ** 53n) && x <= 2n ** 53n ? Number(x) : x.toString();
}

/**
 * JSON has no int64 or typed arrays: timestamps become ISO strings, dates YYYY-MM-DD, bools
 * true/false, longs numbers (strings beyond 2^53), timespans nanoseconds; nulls become null.
 */
export function resultToJson(r: QueryResult): Omit<QueryResult, 'cols'> & { cols: Record<string, unknown[]> } {
  const cols: Record<string, unknown[]> = {};
  r.columns.forEach((c, i) => {
    const v = r.cols[c]!;
    switch (r.types[i]) {
      case 'timestamp':
        cols[c] = Array.from(v as BigInt64Array, (x) => (x === NULL_LONG ? null : formatIsoNs(x)));
        break;
      case 'long':
      case 'timespan':
        cols[c] = Array.from(v as BigInt64Array, int64ToJson);
        break;
      case 'date':
        cols[c] = Array.from(v as Int32Array, (x) => (x === NULL_INT ? null : daysToDate(x)));
        break;
      case 'int':
        cols[c] = Array.from(v as Int32Array, (x) => (x === NULL_INT ? null : x));
        break;
      case 'bool':
        cols[c] = Array.from(v as Uint8Array, (x) => x === 1);
        break;
      case 'float':
        cols[c] = Array.from(v as Float64Array, (x) => (Number.isNaN(x) ? null : x));
        break;
      default:
        cols[c] = v as string[];
    }
  });
  return { ...r, cols };
}
