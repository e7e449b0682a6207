// Columnar batches: the unit of work on the tick path. Columns are typed arrays; symbols are
// dictionary-coded per batch ({dict, codes}); strings stay string arrays. Nothing here builds an
// object per row: row-form input is turned into columns in one pass.
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import type { ColumnSchema, ColumnType, TableSchema } from './schema.ts';

export interface SymColumn {
  dict: string[];
  codes: Uint32Array;
}
export type Column = BigInt64Array | Float64Array | Int32Array | Uint8Array | SymColumn | string[];

export interface Batch {
  table: string;
  n: number;
  /** Columns in schema order. */
  cols: Record<string, Column>;
}

export const NS_PER_MS = 1_000_000n;
const DAY_MS = 86_400_000;

export function isSymColumn(c: unknown): c is SymColumn {
  return typeof c === 'object' && c !== null && !ArrayBuffer.isView(c) && !Array.isArray(c) && 'codes' in c && 'dict' in c;
}

export function columnLength(c: Column): number {
  return isSymColumn(c) ? c.codes.length : c.length;
}

function badType(table: string, col: ColumnSchema, detail: Record<string, unknown>): TickbusError {
  return new TickbusError(
    ErrorCode.BAD_COLUMN_TYPE,
    `table ${table}: column ${col.name} must be ${col.type}${'row' in detail ? ` (row ${detail.row}: ${describe(detail.value)})` : ` (got ${String(detail.got)})`}`,
    { table, column: col.name, expected: col.type, ...detail, value: 'value' in detail ? describe(detail.value) : undefined },
  );
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'bigint') return `integer ${v}`;
  if (typeof v === 'number') return `number ${v}`;
  if (Array.isArray(v)) return 'array';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

function containerName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

/** ISO-8601 timestamp (up to nanoseconds, Z or offset) -> epoch nanoseconds. */
export function parseIsoNs(s: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[6] ?? 'Z'}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = BigInt((m[5] ?? '').padEnd(9, '0'));
  return BigInt(ms) * NS_PER_MS + frac;
}

/** Epoch nanoseconds -> ISO-8601 with nine fractional digits. */
export function formatIsoNs(ns: bigint): string {
  let sec = ns / 1_000_000_000n;
  let sub = ns - sec * 1_000_000_000n;
  if (sub < 0n) {
    sub += 1_000_000_000n;
    sec -= 1n;
  }
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  return `${base}.${sub.toString().padStart(9, '0')}Z`;
}

export function dateToDays(s: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return undefined;
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isNaN(ms) ? undefined : ms / DAY_MS;
}

export function daysToDate(d: number): string {
  return new Date(d * DAY_MS).toISOString().slice(0, 10);
}

function toInt64(v: unknown, kind: 'timestamp' | 'long' | 'timespan'): bigint | undefined {
  if (typeof v === 'bigint') return v >= -(2n ** 63n) && v < 2n ** 63n ? v : undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string') {
    if (/^-?\d{1,19}$/.test(v)) return BigInt(v);
    if (kind === 'timestamp') return parseIsoNs(v);
  }
  return undefined;
}

/** Converts one feed column (typed array or plain array) to the schema's column representation. */
export function toColumn(table: string, col: ColumnSchema, v: unknown, n: number): Column {
  const len = isSymColumn(v) ? (v as SymColumn).codes?.length : (v as { length?: unknown })?.length;
  if (typeof len !== 'number') throw badType(table, col, { got: containerName(v) });
  if (len !== n) {
    throw new TickbusError(ErrorCode.RAGGED_COLUMNS, `table ${table}: column ${col.name} has ${len} values, expected ${n}`, {
      table,
      column: col.name,
      length: len,
      expected: n,
    });
  }
  switch (col.type) {
    case 'timestamp':
    case 'timespan':
    case 'long': {
      if (v instanceof BigInt64Array) return v;
      if (!Array.isArray(v)) throw badType(table, col, { got: containerName(v) });
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const x = toInt64(v[i], col.type);
        if (x === undefined) throw badType(table, col, { row: i, value: v[i] });
        out[i] = x;
      }
      return out;
    }
    case 'float': {
      if (v instanceof Float64Array) return v;
      if (v instanceof Float32Array) return Float64Array.from(v);
      if (!Array.isArray(v)) throw badType(table, col, { got: containerName(v) });
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const x = v[i];
        if (typeof x === 'number') out[i] = x;
        else if (x === null) out[i] = NaN;
        else throw badType(table, col, { row: i, value: x });
      }
      return out;
    }
    case 'int':
    case 'date': {
      if (v instanceof Int32Array) return v;
      if (!Array.isArray(v)) throw badType(table, col, { got: containerName(v) });
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const x = v[i];
        let y: number | undefined;
        if (typeof x === 'number' && Number.isInteger(x) && x >= -2147483648 && x <= 2147483647) y = x;
        else if (col.type === 'date' && typeof x === 'string') y = dateToDays(x);
        if (y === undefined) throw badType(table, col, { row: i, value: x });
        out[i] = y;
      }
      return out;
    }
    case 'bool': {
      if (v instanceof Uint8Array) {
        for (let i = 0; i < n; i++) if (v[i]! > 1) throw badType(table, col, { row: i, value: v[i] });
        return v;
      }
      if (!Array.isArray(v)) throw badType(table, col, { got: containerName(v) });
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const x = v[i];
        if (x === true || x === 1) out[i] = 1;
        else if (x !== false && x !== 0) throw badType(table, col, { row: i, value: x });
      }
      return out;
    }
    case 'symbol': {
      if (isSymColumn(v)) return checkSymColumn(table, col, v);
      if (!Array.isArray(v)) throw badType(table, col, { got: containerName(v) });
      return internSyms(table, col, v);
    }
    case 'string': {
      if (!Array.isArray(v)) throw badType(table, col, { got: containerName(v) });
      for (let i = 0; i < n; i++) {
        if (typeof v[i] !== 'string') {
          if (v[i] === null) v[i] = '';
          else throw badType(table, col, { row: i, value: v[i] });
        }
      }
      return v as string[];
    }
  }
}

function checkSymColumn(table: string, col: ColumnSchema, v: SymColumn): SymColumn {
  const { dict } = v;
  let codes: unknown = v.codes;
  if (!Array.isArray(dict)) throw badType(table, col, { got: 'symbol dict that is not an array' });
  for (let i = 0; i < dict.length; i++) if (typeof dict[i] !== 'string') throw badType(table, col, { got: `dict entry ${i}: ${describe(dict[i])}` });
  if (Array.isArray(codes)) codes = Uint32Array.from(codes as number[]);
  if (!(codes instanceof Uint32Array || codes instanceof Uint16Array || codes instanceof Uint8Array || codes instanceof Int32Array)) {
    throw badType(table, col, { got: `symbol codes of type ${containerName(codes)}` });
  }
  const c = codes as Uint32Array;
  const max = dict.length;
  for (let i = 0; i < c.length; i++) {
    const x = c[i]!;
    if (!(x >= 0 && x < max)) {
      throw badType(table, col, { row: i, value: `code ${x} outside the dict of ${max}` });
    }
  }
  return { dict, codes: c instanceof Uint32Array ? c : Uint32Array.from(c) };
}

function internSyms(table: string, col: ColumnSchema, v: unknown[]): SymColumn {
  const map = new Map<string, number>();
  const dict: string[] = [];
  const codes = new Uint32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    let s = v[i];
    if (s === null) s = '';
    if (typeof s !== 'string') throw badType(table, col, { row: i, value: s });
    let c = map.get(s);
    if (c === undefined) {
      c = dict.length;
      dict.push(s);
      map.set(s, c);
    }
    codes[i] = c;
  }
  return { dict, codes };
}

export interface FeedTableData {
  cols?: Record<string, unknown>;
  rows?: unknown[][];
}

/** Rows or columns from a feed -> a validated batch. `stampNs` fills `time` when it is absent. */
export function batchFromFeed(schema: TableSchema, data: FeedTableData, stampNs: bigint, maxRows: number): Batch {
  const table = schema.name;
  if (data.cols !== undefined && data.rows !== undefined) {
    throw new TickbusError(ErrorCode.BAD_TYPE, `table ${table}: send either cols or rows, not both`, { table });
  }
  if (data.rows !== undefined) return batchFromRows(schema, data.rows, stampNs, maxRows);
  const cols = data.cols;
  if (typeof cols !== 'object' || cols === null || Array.isArray(cols)) {
    throw new TickbusError(ErrorCode.BAD_TYPE, `table ${table}: the update needs cols (an object of columns) or rows (an array of row arrays)`, {
      table,
    });
  }
  for (const name of Object.keys(cols)) {
    if (!schema.index.has(name)) {
      throw new TickbusError(ErrorCode.EXTRA_COLUMN, `table ${table}: column ${name} is not in the schema`, {
        table,
        column: name,
        columns: schema.columns.map((c) => c.name),
      });
    }
  }
  const missing = schema.columns.filter((c) => c.name !== 'time' && !(c.name in cols)).map((c) => c.name);
  if (missing.length) {
    throw new TickbusError(ErrorCode.MISSING_COLUMN, `table ${table}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, {
      table,
      missing,
    });
  }
  const first = cols[schema.columns[1]!.name];
  const n = isSymColumn(first) ? (first as SymColumn).codes?.length : (first as { length?: number })?.length;
  if (typeof n !== 'number') throw badType(table, schema.columns[1]!, { got: containerName(first) });
  checkRowCount(table, n, maxRows);
  const out: Record<string, Column> = {};
  for (const c of schema.columns) {
    if (c.name === 'time' && cols.time === undefined) out.time = new BigInt64Array(n).fill(stampNs);
    else out[c.name] = toColumn(table, c, cols[c.name], n);
  }
  return { table, n, cols: out };
}

function checkRowCount(table: string, n: number, maxRows: number): void {
  if (n < 1 || n > maxRows) {
    throw new TickbusError(ErrorCode.BAD_ROW_COUNT, `table ${table}: an update holds 1 to ${maxRows} rows, got ${n}`, {
      table,
      rows: n,
      max: maxRows,
    });
  }
}

function batchFromRows(schema: TableSchema, rows: unknown, stampNs: bigint, maxRows: number): Batch {
  const table = schema.name;
  if (!Array.isArray(rows)) throw new TickbusError(ErrorCode.BAD_TYPE, `table ${table}: rows must be an array of row arrays`, { table });
  const n = rows.length;
  checkRowCount(table, n, maxRows);
  const ncols = schema.columns.length;
  const first = rows[0];
  if (!Array.isArray(first)) throw new TickbusError(ErrorCode.BAD_TYPE, `table ${table}: row 0 is not an array`, { table, row: 0 });
  // A row either carries every column in schema order, or every column but `time`.
  const withTime = first.length === ncols;
  const width = withTime ? ncols : ncols - 1;
  if (!withTime && first.length !== ncols - 1) {
    throw new TickbusError(
      first.length < ncols - 1 ? ErrorCode.MISSING_COLUMN : ErrorCode.EXTRA_COLUMN,
      `table ${table}: row 0 has ${first.length} values; expected ${ncols} (${schema.columns.map((c) => c.name).join(',')}) or ${ncols - 1} without time`,
      { table, row: 0, length: first.length, columns: schema.columns.map((c) => c.name) },
    );
  }
  const raw: unknown[][] = Array.from({ length: width }, () => new Array(n));
  for (let r = 0; r < n; r++) {
    const row = rows[r];
    if (!Array.isArray(row) || row.length !== width) {
      throw new TickbusError(ErrorCode.RAGGED_COLUMNS, `table ${table}: row ${r} has ${Array.isArray(row) ? row.length : 'no'} values, row 0 has ${width}`, {
        table,
        row: r,
        expected: width,
      });
    }
    for (let c = 0; c < width; c++) raw[c]![r] = row[c];
  }
  const cols: Record<string, Column> = {};
  const offset = withTime ? 0 : 1;
  if (!withTime) cols.time = new BigInt64Array(n).fill(stampNs);
  for (let c = 0; c < width; c++) {
    const cs = schema.columns[c + offset]!;
    cols[cs.name] = toColumn(table, cs, raw[c], n);
  }
  return { table, n, cols };
}

function emptyLike(type: ColumnType, n: number): Column {
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
      return { dict: [], codes: new Uint32Array(n) };
    case 'string':
      return new Array<string>(n);
  }
}

/** Concatenates batches of one table into one (symbol dicts merged, codes remapped). */
/**
 * Appends the sym columns `srcs`, in order, into one dictionary `dict` (which it extends) and
 * `codes` (at least as long as all of them): each distinct sym gets one code. A part whose
 * dictionary maps onto the merged one unchanged (a feed sending the same dict every time, the
 * usual case) has its codes copied as they are.
 */
export function mergeSyms(srcs: readonly SymColumn[], dict: string[], codes: Uint32Array): void {
  const index = new Map<string, number>(dict.map((s, i) => [s, i]));
  let at = 0;
  for (const src of srcs) {
    const remap = new Uint32Array(src.dict.length);
    let identity = true;
    for (let i = 0; i < src.dict.length; i++) {
      const s = src.dict[i]!;
      let code = index.get(s);
      if (code === undefined) {
        code = dict.length;
        dict.push(s);
        index.set(s, code);
      }
      remap[i] = code;
      if (code !== i) identity = false;
    }
    const sc = src.codes;
    if (identity) codes.set(sc, at);
    else for (let i = 0; i < sc.length; i++) codes[at + i] = remap[sc[i]!]!;
    at += sc.length;
  }
}

export function concatBatches(schema: TableSchema, parts: readonly Batch[]): Batch {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.n;
  const cols: Record<string, Column> = {};
  for (const c of schema.columns) {
    const out = emptyLike(c.type, n);
    if (isSymColumn(out)) {
      mergeSyms(parts.map((p) => p.cols[c.name] as SymColumn), out.dict, out.codes);
    } else if (Array.isArray(out)) {
      let at = 0;
      for (const p of parts) {
        const src = p.cols[c.name] as string[];
        for (let i = 0; i < src.length; i++) out[at + i] = src[i]!;
        at += src.length;
      }
    } else {
      let at = 0;
      for (const p of parts) {
        const src = p.cols[c.name] as typeof out;
        (out as BigInt64Array).set(src as BigInt64Array, at);
        at += src.length;
      }
    }
    cols[c.name] = out;
  }
  return { table: schema.name, n, cols };
}

/** Rows [from, to) of a batch, sharing memory where the column allows it. */
export function sliceBatch(b: Batch, from: number, to: number): Batch {
  const cols: Record<string, Column> = {};
  for (const [k, c] of Object.entries(b.cols)) {
    if (isSymColumn(c)) cols[k] = { dict: c.dict, codes: c.codes.subarray(from, to) };
    else if (Array.isArray(c)) cols[k] = c.slice(from, to);
    else cols[k] = c.subarray(from, to) as Column;
  }
  return { table: b.table, n: to - from, cols };
}

/** Rough encoded size, to keep log messages under the server's max_payload before encoding. */
export function estimateBytes(b: Batch): number {
  let bytes = 64;
  for (const c of Object.values(b.cols)) {
    if (isSymColumn(c)) {
      bytes += c.codes.byteLength + 8;
      for (const s of c.dict) bytes += s.length * 3 + 2;
    } else if (Array.isArray(c)) {
      for (const s of c) bytes += s.length * 3 + 2;
    } else bytes += c.byteLength + 8;
  }
  return bytes;
}

/** The rows at `idx` (ascending positions) of a batch, as a new batch. */
export function takeRows(b: Batch, idx: ArrayLike<number>): Batch {
  const n = idx.length;
  const cols: Record<string, Column> = {};
  for (const [k, c] of Object.entries(b.cols)) {
    if (isSymColumn(c)) cols[k] = { dict: c.dict, codes: Uint32Array.from({ length: n }, (_, j) => c.codes[idx[j]!]!) };
    else if (Array.isArray(c)) cols[k] = Array.from({ length: n }, (_, j) => c[idx[j]!]!);
    else {
      const out = new (c.constructor as { new (n: number): typeof c })(n);
      for (let j = 0; j < n; j++) (out as Float64Array)[j] = (c as Float64Array)[idx[j]!]!;
      cols[k] = out;
    }
  }
  return { table: b.table, n, cols };
}
