// The RDB's simple query (columns, time range, sym list, limit, count) over in-memory tables.
// The full data-access query API (grouping, aggregations, time bars) builds on this shape.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseIsoNs } from '../batch.ts';
import { resultToJson as engineResultToJson, type QueryResult as EngineResult } from './result.ts';
import type { ColumnType } from '../schema.ts';
import type { MemTable } from '../table.ts';

export const QUERY_TYPE = 'tickbus.v1.query';
export const RESULT_TYPE = 'tickbus.v1.result';

export interface SimpleQuery {
  type?: string;
  table: string;
  columns?: string[];
  /** Inclusive bounds on `time`: ISO-8601 strings or epoch nanoseconds. */
  start?: string | number | bigint;
  end?: string | number | bigint;
  syms?: string[];
  /** At most this many rows: the first ones, or the last ones when negative. */
  limit?: number;
  /** Only count the matching rows. */
  count?: boolean;
}

export interface QueryResult {
  type: typeof RESULT_TYPE;
  table: string;
  n: number;
  columns: string[];
  types: ColumnType[];
  cols: Record<string, unknown>;
}

/** Bound on rows one reply may hold (page with limit); a reply bigger than one NATS message goes in chunks (bus/reply.ts). */
export const QUERY_ROWS_MAX = 5_000_000;

function bad(param: string, message: string, detail: Record<string, unknown> = {}): TickbusError {
  return new TickbusError(ErrorCode.BAD_QUERY, `${param}: ${message}`, { param, ...detail });
}

export function parseTimeBound(param: string, v: unknown): bigint | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (typeof v === 'string') {
    if (/^-?\d+$/.test(v)) return BigInt(v);
    const ns = parseIsoNs(v) ?? (/^\d{4}-\d{2}-\d{2}$/.test(v) ? parseIsoNs(`${v}T00:00:00Z`) : undefined);
    if (ns !== undefined) return ns;
  }
  throw bad(param, 'must be an ISO-8601 timestamp or epoch nanoseconds', { value: String(v) });
}

export function runSimpleQuery(tables: ReadonlyMap<string, MemTable>, q: SimpleQuery): QueryResult {
  if (typeof q !== 'object' || q === null) throw bad('query', 'must be an object');
  if (typeof q.table !== 'string') throw bad('table', 'is required');
  const t = tables.get(q.table);
  if (!t) throw bad('table', `unknown table ${q.table}`, { table: q.table, tables: [...tables.keys()] });
  const names = q.columns ?? t.schema.columns.map((c) => c.name);
  if (!Array.isArray(names) || names.length === 0) throw bad('columns', 'must be a non-empty array of column names');
  for (const c of names) if (!t.columns.has(c)) throw bad('columns', `unknown column ${c}`, { column: c, columns: [...t.columns.keys()] });
  const start = parseTimeBound('start', q.start);
  const end = parseTimeBound('end', q.end);
  if (start !== undefined && end !== undefined && start > end) throw bad('start', 'is after end');
  if (q.limit !== undefined && !Number.isInteger(q.limit)) throw bad('limit', 'must be an integer');
  let symMask: Uint8Array | undefined;
  if (q.syms !== undefined) {
    if (!Array.isArray(q.syms)) throw bad('syms', 'must be an array of symbols');
    symMask = new Uint8Array(t.syms.names.length + 1);
    for (const s of q.syms) {
      const c = t.syms.lookup(String(s));
      if (c !== undefined) symMask[c] = 1;
    }
  }
  const sel = select(t, start, end, symMask);
  let rows = sel;
  if (q.limit !== undefined) rows = q.limit >= 0 ? sel.subarray(0, q.limit) : sel.subarray(Math.max(0, sel.length + q.limit));
  const types = names.map((c) => t.columns.get(c)!.type);
  if (q.count) return { type: RESULT_TYPE, table: q.table, n: rows.length, columns: [], types: [], cols: {} };
  if (rows.length > QUERY_ROWS_MAX) throw bad('limit', `the result has ${rows.length} rows; at most ${QUERY_ROWS_MAX} per reply`, { rows: rows.length });
  const cols: Record<string, unknown> = {};
  for (const c of names) cols[c] = gather(t, c, rows);
  return { type: RESULT_TYPE, table: q.table, n: rows.length, columns: names, types, cols };
}

/** Row numbers matching the time bounds and sym mask, in order. */
function select(t: MemTable, start: bigint | undefined, end: bigint | undefined, symMask: Uint8Array | undefined): Uint32Array {
  let out = new Uint32Array(Math.min(t.n, 1 << 16));
  let k = 0;
  const push = (r: number) => {
    if (k === out.length) {
      const bigger = new Uint32Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    out[k++] = r;
  };
  const times = t.columns.get('time')!.chunks as BigInt64Array[];
  const syms = t.columns.get('sym')!.chunks as Int32Array[];
  t.forEachChunk('time', (_c, len, base) => {
    const ci = base / 65_536;
    const tc = times[ci]!;
    const sc = syms[ci]!;
    for (let i = 0; i < len; i++) {
      if (start !== undefined && tc[i]! < start) continue;
      if (end !== undefined && tc[i]! > end) continue;
      if (symMask && !symMask[sc[i]!]) continue;
      push(base + i);
    }
  });
  return out.subarray(0, k);
}

/** The typed array of each numeric column type (as storage/table.ts allocates its chunks). */
const ARRAY_OF = {
  timestamp: BigInt64Array,
  timespan: BigInt64Array,
  long: BigInt64Array,
  float: Float64Array,
  int: Int32Array,
  date: Int32Array,
  bool: Uint8Array,
} as const;

function gather(t: MemTable, name: string, rows: Uint32Array): unknown {
  const col = t.columns.get(name)!;
  const n = rows.length;
  const chunkOf = (r: number) => col.chunks[r >>> 16]!;
  switch (col.type) {
    case 'symbol': {
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = t.syms.names[(chunkOf(rows[i]!) as Int32Array)[rows[i]! & 0xffff]!]!;
      return out;
    }
    case 'string': {
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = (chunkOf(rows[i]!) as string[])[rows[i]! & 0xffff]!;
      return out;
    }
    default: {
      // By the column's type, not its first chunk: a table with no rows yet has no chunk.
      const proto = ARRAY_OF[col.type as keyof typeof ARRAY_OF];
      const out = new proto(n);
      for (let i = 0; i < n; i++) (out as Float64Array)[i] = (chunkOf(rows[i]!) as Float64Array)[rows[i]! & 0xffff]!;
      return out;
    }
  }
}

/** The JSON form of a result: the query engine's conversion (ISO timestamps, nulls, dates). */
export function resultToJson(r: QueryResult): QueryResult {
  return engineResultToJson(r as unknown as EngineResult) as unknown as QueryResult;
}
