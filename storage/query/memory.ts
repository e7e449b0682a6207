// The RDB engine: runs a Plan (storage/query/request.ts) over MemTable chunks. It walks 64k-row
// chunks column at a time with monomorphic loops over typed arrays: no object per row, int64s
// read as int32 pairs (reading a BigInt64Array element allocates a BigInt), symbols compared as
// codes through per-query masks and ranks. Aggregations produce the same parts as the HDB's SQL
// and finish through the shared storage/query/finalize.ts.
import { CHUNK_ROWS, type MemTable, type SymbolTable } from '../table.ts';
import type { ColumnType } from '../schema.ts';
import { finishAgg, applyRename, type Parts } from './finalize.ts';
import { FusedScan, type KernelPart } from './kernel.ts';
import { likeToRegExp } from './like.ts';
import {
  bad,
  partName,
  planAsof,
  planQuery,
  ROWS_PART,
  type AsofPlan,
  type Plan,
  type PlanAgg,
  type PlanFilter,
  type PlanKey,
  type Selection,
} from './request.ts';
import {
  allocColumn,
  NULL_INT,
  NULL_LONG,
  QUERY_ROWS_MAX,
  RESULT_TYPE,
  sortIndex,
  takeColumn,
  type QueryResult,
  type ResultColumn,
} from './result.ts';

const CHUNK_SHIFT = 16;
const CHUNK_MASK = CHUNK_ROWS - 1;
if (1 << CHUNK_SHIFT !== CHUNK_ROWS) throw new Error('memory engine assumes CHUNK_ROWS = 2^16');
const TWO32 = 4294967296;
/** Fold int64 partial sums into BigInts every this many chunks: 16 x 2^16 rows x 2^32 < 2^53. */
const SUM_FOLD_CHUNKS = 16;
/** Bound on groups one query may build (keys are combined in a 2^26 x 2^27 space). */
export const GROUPS_MAX = 1 << 26;

type Tables = ReadonlyMap<string, MemTable>;

function lookupFor(tables: Tables) {
  return (name: string) => tables.get(name)?.schema;
}

/** Validates a request against the RDB's tables (the gateway uses the plan to merge parts). */
export function planFor(tables: Tables, request: unknown): Plan {
  return planQuery(request, lookupFor(tables), () => [...tables.keys()]);
}

export interface RunOptions {
  /** Use (and build) the per-chunk summaries for `... by sym` aggregates; default true. */
  summaries?: boolean;
  /** Run count/sum/min/max as one compiled loop per chunk (storage/query/kernel.ts); default true. false: one loop per aggregation (the reference the kernels are tested against). */
  fused?: boolean;
}

/** Runs a getdata request over in-memory tables. */
export function runQuery(tables: Tables, request: unknown, options: RunOptions = {}): QueryResult {
  const plan = planFor(tables, request);
  return runPlan(tables.get(plan.table)!, plan, options);
}

export function runPlan(t: MemTable, plan: Plan, options: RunOptions = {}): QueryResult {
  if (plan.kind === 'raw') return runRaw(t, plan);
  return finishAgg(plan, aggregate(t, plan, options));
}

// ---------------------------------------------------------------------------------------------
// Per-chunk time statistics. A full chunk never changes again (MemTable only appends; this and
// the chunk summaries below rely on rows below `n` never being rewritten), so its
// min/max/sortedness is computed once and cached; this is what lets a whole-day query skip the
// per-row time test, and a sorted chunk answer a time range with two binary searches.

interface TimeStats {
  minHi: number;
  minLo: number;
  maxHi: number;
  maxLo: number;
  sorted: boolean;
}
const statsCache = new WeakMap<BigInt64Array, TimeStats>();

function timeStats(chunk: BigInt64Array, len: number): TimeStats {
  if (len === CHUNK_ROWS) {
    const hit = statsCache.get(chunk);
    if (hit) return hit;
  }
  const p = new Int32Array(chunk.buffer, chunk.byteOffset, len * 2);
  let minHi = p[1]!;
  let minLo = p[0]! >>> 0;
  let maxHi = minHi;
  let maxLo = minLo;
  let prevHi = minHi;
  let prevLo = minLo;
  let sorted = true;
  for (let i = 1; i < len; i++) {
    const hi = p[2 * i + 1]!;
    const lo = p[2 * i]! >>> 0;
    if (hi < prevHi || (hi === prevHi && lo < prevLo)) sorted = false;
    if (hi < minHi || (hi === minHi && lo < minLo)) {
      minHi = hi;
      minLo = lo;
    }
    if (hi > maxHi || (hi === maxHi && lo > maxLo)) {
      maxHi = hi;
      maxLo = lo;
    }
    prevHi = hi;
    prevLo = lo;
  }
  const s = { minHi, minLo, maxHi, maxLo, sorted };
  if (len === CHUNK_ROWS) statsCache.set(chunk, s);
  return s;
}

function split64(v: bigint): [hi: number, lo: number] {
  const u = BigInt.asUintN(64, v);
  return [Number(BigInt.asIntN(32, u >> 32n)), Number(u & 0xffffffffn)];
}

function lt(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** First index in [0, len) of a sorted time chunk whose value is >= (hi, lo). */
function lowerBound(p: Int32Array, len: number, hi: number, lo: number, strict: boolean): number {
  let a = 0;
  let b = len;
  while (a < b) {
    const m = (a + b) >>> 1;
    const mh = p[2 * m + 1]!;
    const ml = p[2 * m]! >>> 0;
    const before = strict ? !lt(hi, lo, mh, ml) : lt(mh, ml, hi, lo);
    if (before) a = m + 1;
    else b = m;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Row selection: per chunk, the offsets of the rows that pass every predicate. `null` means all
// rows [0, len), which the hot loops take without an index indirection.

type RowTest = (r: number) => boolean;

interface Predicate {
  /** Binds the predicate to chunk k; returns a row test, or 'all'/'none' when the chunk decides. */
  bind(k: number, len: number): RowTest | 'all' | 'none' | { mask: Uint8Array; codes: Int32Array };
}

function symMaskFor(syms: SymbolTable, test: (name: string) => boolean): Uint8Array {
  const names = syms.names;
  const mask = new Uint8Array(names.length + 1);
  for (let c = 0; c < names.length; c++) if (test(names[c]!)) mask[c] = 1;
  return mask;
}

function scalarTest(f: PlanFilter): (x: number | string) => boolean {
  const v = f.values;
  const base = ((): ((x: number | string) => boolean) => {
    switch (f.op) {
      case '=':
        return (x) => x === v[0];
      case '<':
        return (x) => x < v[0]!;
      case '>':
        return (x) => x > v[0]!;
      case '<=':
        return (x) => x <= v[0]!;
      case '>=':
        return (x) => x >= v[0]!;
      case 'in': {
        const set = new Set(v);
        return (x) => set.has(x);
      }
      case 'within':
        return (x) => x >= v[0]! && x <= v[1]!;
      case 'like': {
        const re = likeToRegExp(v[0] as string);
        return (x) => re.test(x as string);
      }
    }
  })();
  return f.negate ? (x) => !base(x) : base;
}

/** int64 comparisons on (hi, lo) pairs against bigint bounds. */
function int64Test(f: PlanFilter): (hi: number, lo: number) => boolean {
  const b = f.values.map((x) => split64(x as bigint));
  const cmp = (hi: number, lo: number, k: number) => {
    const [bh, bl] = b[k]!;
    return hi < bh ? -1 : hi > bh ? 1 : lo < bl ? -1 : lo > bl ? 1 : 0;
  };
  const base = ((): ((hi: number, lo: number) => boolean) => {
    switch (f.op) {
      case '=':
        return (hi, lo) => cmp(hi, lo, 0) === 0;
      case '<':
        return (hi, lo) => cmp(hi, lo, 0) < 0;
      case '>':
        return (hi, lo) => cmp(hi, lo, 0) > 0;
      case '<=':
        return (hi, lo) => cmp(hi, lo, 0) <= 0;
      case '>=':
        return (hi, lo) => cmp(hi, lo, 0) >= 0;
      case 'within':
        return (hi, lo) => cmp(hi, lo, 0) >= 0 && cmp(hi, lo, 1) <= 0;
      case 'in': {
        const set = new Set(f.values.map((x) => BigInt.asIntN(64, x as bigint)));
        return (hi, lo) => set.has((BigInt(hi) << 32n) | BigInt(lo));
      }
      case 'like':
        throw bad('filters', 'like applies to symbol and string columns');
    }
  })();
  return f.negate ? (hi, lo) => !base(hi, lo) : base;
}

function filterPredicate(t: MemTable, f: PlanFilter): Predicate {
  const col = t.columns.get(f.column)!;
  switch (f.type) {
    case 'symbol': {
      const mask = symMaskFor(t.syms, scalarTest(f));
      return { bind: (k) => ({ mask, codes: col.chunks[k] as Int32Array }) };
    }
    case 'timestamp':
    case 'long':
    case 'timespan': {
      const test = int64Test(f);
      return {
        bind: (k, len) => {
          const c = col.chunks[k] as BigInt64Array;
          const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
          return (r) => test(p[2 * r + 1]!, p[2 * r]! >>> 0);
        },
      };
    }
    case 'float': {
      const test = scalarTest(f);
      // NaN is the float null: it fails every positive test and passes every negated one.
      return {
        bind: (k) => {
          const c = col.chunks[k] as Float64Array;
          return (r) => test(c[r]!);
        },
      };
    }
    default: {
      const test = scalarTest(f);
      return {
        bind: (k) => {
          const c = col.chunks[k] as Int32Array | Uint8Array | string[];
          return (r) => test(c[r]!);
        },
      };
    }
  }
}

function timePredicate(t: MemTable, startNs: bigint, endNs: bigint): (k: number, len: number, out: Int32Array) => number | 'all' | 'none' {
  const col = t.columns.get('time')!;
  const [sHi, sLo] = split64(startNs);
  const [eHi, eLo] = split64(endNs);
  return (k, len, out) => {
    const chunk = col.chunks[k] as BigInt64Array;
    const st = timeStats(chunk, len);
    if (lt(st.maxHi, st.maxLo, sHi, sLo) || lt(eHi, eLo, st.minHi, st.minLo)) return 'none';
    if (!lt(st.minHi, st.minLo, sHi, sLo) && !lt(eHi, eLo, st.maxHi, st.maxLo)) return 'all';
    const p = new Int32Array(chunk.buffer, chunk.byteOffset, len * 2);
    let n = 0;
    if (st.sorted) {
      const a = lowerBound(p, len, sHi, sLo, false);
      const b = lowerBound(p, len, eHi, eLo, true);
      for (let r = a; r < b; r++) out[n++] = r;
      return n;
    }
    for (let r = 0; r < len; r++) {
      const hi = p[2 * r + 1]!;
      const lo = p[2 * r]! >>> 0;
      if (!lt(hi, lo, sHi, sLo) && !lt(eHi, eLo, hi, lo)) out[n++] = r;
    }
    return n;
  };
}

/** Walks the chunks and calls `visit` with each chunk's selection (null = all rows). */
function scan(
  t: MemTable,
  sel: Selection,
  visit: (k: number, len: number, rows: Int32Array | null, n: number) => void,
  only?: (k: number) => boolean,
): void {
  const time = timePredicate(t, sel.startNs, sel.endNs);
  const preds: Predicate[] = [];
  if (sel.instruments !== undefined) {
    preds.push(filterPredicate(t, { column: 'sym', type: 'symbol', op: 'in', negate: false, values: sel.instruments }));
  }
  for (const f of sel.filters) preds.push(filterPredicate(t, f));
  const bufA = new Int32Array(CHUNK_ROWS);
  const bufB = new Int32Array(CHUNK_ROWS);
  const chunks = Math.ceil(t.n / CHUNK_ROWS);
  for (let k = 0; k < chunks; k++) {
    if (only && !only(k)) continue;
    const len = Math.min(CHUNK_ROWS, t.n - k * CHUNK_ROWS);
    const tr = time(k, len, bufA);
    if (tr === 'none') continue;
    let rows: Int32Array | null = tr === 'all' ? null : bufA;
    let n = tr === 'all' ? len : tr;
    for (const p of preds) {
      if (n === 0) break;
      const b = p.bind(k, len);
      if (b === 'all') continue;
      if (b === 'none') {
        n = 0;
        break;
      }
      const out = rows === bufA ? bufB : bufA;
      let m = 0;
      if (typeof b === 'function') {
        if (rows === null) for (let r = 0; r < len; r++) b(r) && (out[m++] = r);
        else for (let j = 0; j < n; j++) b(rows[j]!) && (out[m++] = rows[j]!);
      } else {
        const { mask, codes } = b;
        if (rows === null) for (let r = 0; r < len; r++) mask[codes[r]!] && (out[m++] = r);
        else
          for (let j = 0; j < n; j++) {
            const r = rows[j]!;
            if (mask[codes[r]!]) out[m++] = r;
          }
      }
      rows = out;
      n = m;
    }
    if (n > 0) visit(k, len, rows, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Raw selects.

class RowList {
  rows = new Uint32Array(1 << 12);
  n = 0;
  push(r: number): void {
    if (this.n === this.rows.length) {
      const bigger = new Uint32Array(this.rows.length * 2);
      bigger.set(this.rows);
      this.rows = bigger;
    }
    this.rows[this.n++] = r;
  }
  view(): Uint32Array {
    return this.rows.subarray(0, this.n);
  }
}

function selectRows(t: MemTable, sel: Selection): Uint32Array {
  const out = new RowList();
  scan(t, sel, (k, len, rows, n) => {
    const base = k * CHUNK_ROWS;
    if (rows === null) for (let r = 0; r < len; r++) out.push(base + r);
    else for (let j = 0; j < n; j++) out.push(base + rows[j]!);
  });
  return out.view();
}

const rankCache = new WeakMap<SymbolTable, Int32Array>();

/** Alphabetical rank of every symbol code (symbols order by name on both engines). */
export function symRanks(syms: SymbolTable): Int32Array {
  const hit = rankCache.get(syms);
  if (hit && hit.length === syms.names.length) return hit;
  const names = syms.names;
  const order = Array.from(names.keys()).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  const rank = new Int32Array(names.length);
  order.forEach((code, i) => (rank[code] = i));
  rankCache.set(syms, rank);
  return rank;
}

/** Reads rows' time as (hi, lo) pairs and sym ranks, for ordering by (time, sym, arrival). */
function timeSymKeys(t: MemTable, rows: Uint32Array): { hi: Int32Array; lo: Float64Array; rank: Int32Array } {
  const n = rows.length;
  const hi = new Int32Array(n);
  const lo = new Float64Array(n);
  const rank = new Int32Array(n);
  const ranks = symRanks(t.syms);
  const time = t.columns.get('time')!.chunks as BigInt64Array[];
  const sym = t.columns.get('sym')!.chunks as Int32Array[];
  const views = time.map((c) => new Int32Array(c.buffer, c.byteOffset, c.length * 2));
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    const p = views[r >>> CHUNK_SHIFT]!;
    const o = (r & CHUNK_MASK) * 2;
    hi[i] = p[o + 1]!;
    lo[i] = p[o]! >>> 0;
    rank[i] = ranks[sym[r >>> CHUNK_SHIFT]![r & CHUNK_MASK]!]!;
  }
  return { hi, lo, rank };
}

/** Sorts selected rows by (time, sym name, arrival): the default order of raw rows on both engines. */
export function orderByTimeSym(t: MemTable, rows: Uint32Array): Uint32Array {
  const { hi, lo, rank } = timeSymKeys(t, rows);
  const n = rows.length;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) {
    if (hi[i]! < hi[i - 1]! || (hi[i] === hi[i - 1] && (lo[i]! < lo[i - 1]! || (lo[i] === lo[i - 1] && rank[i]! < rank[i - 1]!)))) sorted = false;
  }
  if (sorted) return rows;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || rank[a]! - rank[b]! || a - b);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = rows[idx[i]!]!;
  return out;
}

/** Values of `rows` (global row numbers) of one column, as a result column. */
export function gatherColumn(t: MemTable, name: string, rows: ArrayLike<number>): ResultColumn {
  const col = t.columns.get(name)!;
  const n = rows.length;
  switch (col.type) {
    case 'symbol': {
      const names = t.syms.names;
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        out[i] = r < 0 ? '' : names[(col.chunks[r >>> CHUNK_SHIFT] as Int32Array)[r & CHUNK_MASK]!]!;
      }
      return out;
    }
    case 'string': {
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        out[i] = r < 0 ? '' : (col.chunks[r >>> CHUNK_SHIFT] as string[])[r & CHUNK_MASK]!;
      }
      return out;
    }
    case 'timestamp':
    case 'long':
    case 'timespan': {
      const out = new BigInt64Array(n);
      const d = new Int32Array(out.buffer);
      const views = (col.chunks as BigInt64Array[]).map((c) => new Int32Array(c.buffer, c.byteOffset, c.length * 2));
      const [nh, nl] = split64(NULL_LONG);
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        if (r < 0) {
          d[2 * i] = nl;
          d[2 * i + 1] = nh;
          continue;
        }
        const p = views[r >>> CHUNK_SHIFT]!;
        const o = (r & CHUNK_MASK) * 2;
        d[2 * i] = p[o]!;
        d[2 * i + 1] = p[o + 1]!;
      }
      return out;
    }
    default: {
      const out = allocColumn(col.type, n) as Float64Array | Int32Array | Uint8Array;
      const nullValue = col.type === 'float' ? NaN : col.type === 'bool' ? 0 : NULL_INT;
      const chunks = col.chunks as (Float64Array | Int32Array | Uint8Array)[];
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        out[i] = r < 0 ? nullValue : chunks[r >>> CHUNK_SHIFT]![r & CHUNK_MASK]!;
      }
      return out;
    }
  }
}

function limitRows(rows: Uint32Array, limit: number | undefined): Uint32Array {
  if (limit === undefined) return rows;
  return limit >= 0 ? rows.subarray(0, limit) : rows.subarray(Math.max(0, rows.length + limit));
}

function runRaw(t: MemTable, plan: Plan): QueryResult {
  let rows = orderByTimeSym(t, selectRows(t, plan));
  if (plan.ordering.length > 0) {
    // Order by the user's keys; ties stay in the default (time, sym, arrival) order.
    const keys = plan.ordering.map((o) => gatherColumn(t, o.column, rows));
    const idx = sortIndex(
      keys,
      plan.ordering.map((o) => o.desc),
      rows.length,
    );
    const out = new Uint32Array(rows.length);
    for (let i = 0; i < out.length; i++) out[i] = rows[idx[i]!]!;
    rows = out;
  }
  rows = limitRows(rows, plan.limit);
  if (rows.length > QUERY_ROWS_MAX) throw bad('limit', `the result has ${rows.length} rows; at most ${QUERY_ROWS_MAX} per reply`, { rows: rows.length });
  const cols: Record<string, ResultColumn> = {};
  for (const c of plan.columns) cols[c] = gatherColumn(t, c, rows);
  const r: QueryResult = { type: RESULT_TYPE, table: plan.table, n: rows.length, columns: plan.columns.slice(), types: plan.outTypes.slice(), cols };
  return applyRename(r, plan.rename);
}

// ---------------------------------------------------------------------------------------------
// Grouping: each selected row gets a group id. One symbol key uses the symbol code itself (the
// hot path: `by sym`); no key uses group 0; anything else combines per-key dense ids.

interface Grouper {
  /** Group ids for chunk k, indexed by row offset; valid at the selected offsets. */
  gids(k: number, len: number, rows: Int32Array | null, n: number): Int32Array;
  /** Current number of group ids in use (an upper bound on ids + 1). */
  count(): number;
  /** Key columns for the given group ids. */
  keys(groups: Int32Array): Record<string, ResultColumn>;
}

function singleGrouper(): Grouper {
  const zero = new Int32Array(CHUNK_ROWS);
  return { gids: () => zero, count: () => 1, keys: () => ({}) };
}

function symGrouper(t: MemTable, key: PlanKey): Grouper {
  const col = t.columns.get(key.column)!;
  const names = t.syms.names;
  return {
    gids: (k) => col.chunks[k] as Int32Array,
    count: () => names.length,
    keys: (groups) => ({ [key.name]: Array.from(groups, (g) => names[g]!) }),
  };
}

/** Dense ids for one key column's values, plus the value of each id for the output. */
interface KeyEncoder {
  /** Writes local ids for the selected rows of chunk k into out (indexed by row offset). */
  encode(k: number, len: number, rows: Int32Array | null, n: number, out: Int32Array): void;
  size(): number;
  column(lids: Int32Array): ResultColumn;
}

function forRows(len: number, rows: Int32Array | null, n: number, fn: (r: number) => void): void {
  if (rows === null) for (let r = 0; r < len; r++) fn(r);
  else for (let j = 0; j < n; j++) fn(rows[j]!);
}

function symbolEncoder(t: MemTable, column: string): KeyEncoder {
  const col = t.columns.get(column)!;
  const names = t.syms.names;
  const lidOf = new Int32Array(names.length).fill(-1);
  const codes: number[] = [];
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as Int32Array;
      forRows(len, rows, n, (r) => {
        const code = c[r]!;
        let lid = lidOf[code]!;
        if (lid < 0) {
          lid = lidOf[code] = codes.length;
          codes.push(code);
        }
        out[r] = lid;
      });
    },
    size: () => codes.length,
    column: (lids) => Array.from(lids, (l) => names[codes[l]!]!),
  };
}

function valueEncoder(t: MemTable, column: string, type: ColumnType): KeyEncoder {
  const col = t.columns.get(column)!;
  const ids = new Map<number | string, number>();
  const values: (number | string)[] = [];
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as Int32Array | Uint8Array | string[];
      forRows(len, rows, n, (r) => {
        const v = c[r]!;
        let lid = ids.get(v);
        if (lid === undefined) {
          lid = values.length;
          ids.set(v, lid);
          values.push(v);
        }
        out[r] = lid;
      });
    },
    size: () => values.length,
    column: (lids) => {
      const out = allocColumn(type, lids.length);
      for (let i = 0; i < lids.length; i++) (out as (number | string)[])[i] = values[lids[i]!]!;
      return out;
    },
  };
}

/** int64 keys (long, timespan, timestamp, and timebars over timestamps) keyed by (hi, lo). */
function int64Encoder(t: MemTable, column: string, barNs: bigint | undefined): KeyEncoder {
  const col = t.columns.get(column)!;
  const ids = new Map<number, Map<number, number>>();
  const values: bigint[] = [];
  const lidFor = (v: bigint): number => {
    const [hi, lo] = split64(v);
    let inner = ids.get(hi);
    if (!inner) ids.set(hi, (inner = new Map()));
    let lid = inner.get(lo);
    if (lid === undefined) {
      lid = values.length;
      inner.set(lo, lid);
      values.push(v);
    }
    return lid;
  };
  // Rows mostly arrive in time order: remember the current bar's bounds and id, so a row inside
  // it costs two int32 comparisons and no BigInt.
  let curLid = -1;
  let bHi = 0;
  let bLo = 0;
  let eHi = 0;
  let eLo = 0;
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as BigInt64Array;
      const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
      forRows(len, rows, n, (r) => {
        const hi = p[2 * r + 1]!;
        const lo = p[2 * r]! >>> 0;
        if (barNs === undefined) {
          let inner = ids.get(hi);
          let lid = inner?.get(lo);
          if (lid === undefined) lid = lidFor(c[r]!);
          out[r] = lid;
          return;
        }
        if (curLid >= 0 && !lt(hi, lo, bHi, bLo) && lt(hi, lo, eHi, eLo)) {
          out[r] = curLid;
          return;
        }
        const v = c[r]!;
        const start = v - (((v % barNs) + barNs) % barNs);
        curLid = lidFor(start);
        [bHi, bLo] = split64(start);
        [eHi, eLo] = split64(start + barNs);
        out[r] = curLid;
      });
    },
    size: () => values.length,
    column: (lids) => BigInt64Array.from(lids, (l) => values[l]!),
  };
}

function generalGrouper(t: MemTable, keys: PlanKey[]): Grouper {
  const encoders = keys.map((key): KeyEncoder => {
    if (key.barNs !== undefined) return int64Encoder(t, key.column, key.barNs);
    switch (key.type) {
      case 'symbol':
        return symbolEncoder(t, key.column);
      case 'timestamp':
      case 'long':
      case 'timespan':
        return int64Encoder(t, key.column, undefined);
      default:
        return valueEncoder(t, key.column, key.type);
    }
  });
  const lidBufs = keys.map(() => new Int32Array(CHUNK_ROWS));
  const out = new Int32Array(CHUNK_ROWS);
  // Group id -> local id of each key; (previous group id, local id) -> next level's group id.
  const levelMaps = keys.slice(1).map(() => new Map<number, number>());
  const lidsOf: number[][] = keys.map(() => []);
  let groups = 0;
  const combine = (r: number): number => {
    let g = lidBufs[0]![r]!;
    for (let d = 1; d < keys.length; d++) {
      const lid = lidBufs[d]![r]!;
      const key = g * GROUPS_MAX + lid;
      let next = levelMaps[d - 1]!.get(key);
      if (next === undefined) {
        next = levelMaps[d - 1]!.size;
        if (next >= GROUPS_MAX) throw bad('grouping', `more than ${GROUPS_MAX} groups`);
        levelMaps[d - 1]!.set(key, next);
      }
      g = next;
    }
    return g;
  };
  // The last level's ids are the group ids; remember each group's key local ids as they appear.
  const remember = (g: number, r: number) => {
    while (groups <= g) {
      for (let d = 0; d < keys.length; d++) lidsOf[d]!.push(-1);
      groups++;
    }
    for (let d = 0; d < keys.length; d++) lidsOf[d]![g] = lidBufs[d]![r]!;
  };
  return {
    gids(k, len, rows, n) {
      encoders.forEach((e, d) => e.encode(k, len, rows, n, lidBufs[d]!));
      forRows(len, rows, n, (r) => {
        const g = keys.length === 1 ? lidBufs[0]![r]! : combine(r);
        if (lidsOf[0]![g] === undefined || lidsOf[0]![g] === -1) remember(g, r);
        out[r] = g;
      });
      return out;
    },
    count: () => groups,
    keys(gs) {
      const cols: Record<string, ResultColumn> = {};
      keys.forEach((key, d) => {
        const lids = Int32Array.from(gs, (g) => lidsOf[d]![g]!);
        cols[key.name] = encoders[d]!.column(lids);
      });
      return cols;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Accumulators: per-group state in typed arrays, grown as groups appear; one tight loop per
// kind and column type.

interface Acc {
  ensure(groups: number): void;
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array): void;
  /** Its per-row work as a fused-kernel statement (storage/query/kernel.ts), when it has one; add() then is not called. */
  kernelPart?(): KernelPart | undefined;
  /** Folds a full chunk's cached per-sym summary in (summary slot i goes to group gids[i]; -1 skips). */
  absorb?(s: ChunkSummary, gids: Int32Array): void;
  /** After the last chunk. */
  done?(): void;
  emit(groups: Int32Array, rowCounts: Float64Array, out: Record<string, ResultColumn>): void;
}

function grow<T extends Float64Array | Int32Array>(a: T, n: number, fill: number): T {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(n, a.length * 2));
  b.fill(fill);
  b.set(a);
  return b;
}

class RowsAcc implements Acc {
  counts = new Float64Array(0);
  /** One group (no keys): count by adding n, not by incrementing one slot n times in a chain. */
  constructor(private readonly single: boolean) {}
  ensure(groups: number) {
    this.counts = grow(this.counts, groups, 0);
  }
  add(_k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const c = this.counts;
    if (this.single) {
      c[0]! += n;
      return;
    }
    if (rows === null) for (let r = 0; r < len; r++) c[g[r]!]!++;
    else for (let j = 0; j < n; j++) c[g[rows[j]!]!]!++;
  }
  kernelPart(): KernelPart | undefined {
    if (this.single) return undefined;
    return { row: '/* count f64 */ $0[g]++;', bind: () => [this.counts] };
  }
  absorb(s: ChunkSummary, gids: Int32Array) {
    for (let i = 0; i < gids.length; i++) if (gids[i]! >= 0) this.counts[gids[i]!]! += s.rows[i]!;
  }
  emit() {}
}

/** A column's chunk as float64 values (int and long converted once per chunk, NaN = null). */
class FloatView {
  private buf = new Float64Array(CHUNK_ROWS);
  private k = -1;
  constructor(
    private readonly t: MemTable,
    private readonly column: string,
    private readonly type: ColumnType,
  ) {}
  get(k: number, len: number): Float64Array {
    const chunk = this.t.columns.get(this.column)!.chunks[k]!;
    if (this.type === 'float') return chunk as Float64Array;
    if (this.k === k) return this.buf;
    this.k = k;
    const b = this.buf;
    if (this.type === 'int') {
      const c = chunk as Int32Array;
      for (let r = 0; r < len; r++) b[r] = c[r]!;
    } else {
      const c = chunk as BigInt64Array;
      const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
      // hi * 2^32 is exact and the one addition rounds once: the same double as Number(bigint).
      for (let r = 0; r < len; r++) b[r] = p[2 * r + 1]! * TWO32 + (p[2 * r]! >>> 0);
    }
    return b;
  }
}

class SumFloatAcc implements Acc {
  sum = new Float64Array(0);
  nn = new Float64Array(0);
  constructor(
    private readonly view: FloatView,
    private readonly agg: PlanAgg,
    private readonly part: string,
    private readonly countPart?: string,
  ) {}
  ensure(groups: number) {
    this.sum = grow(this.sum, groups, 0);
    this.nn = grow(this.nn, groups, 0);
  }
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const v = this.view.get(k, len);
    const s = this.sum;
    const c = this.nn;
    if (rows === null)
      for (let r = 0; r < len; r++) {
        const x = v[r]!;
        if (x === x) {
          s[g[r]!]! += x;
          c[g[r]!]!++;
        }
      }
    else
      for (let j = 0; j < n; j++) {
        const r = rows[j]!;
        const x = v[r]!;
        if (x === x) {
          s[g[r]!]! += x;
          c[g[r]!]!++;
        }
      }
  }
  kernelPart(): KernelPart {
    // The same additions in the same (row) order as add(): the sums are bit-identical.
    return {
      row: '/* sumFloat f64 f64 f64 */ const x = $2[r]; if (x === x) { $0[g] += x; $1[g]++; }',
      bind: (k, len) => [this.sum, this.nn, this.view.get(k, len)],
    };
  }
  absorb(s: ChunkSummary, gids: Int32Array) {
    const c = s.cols.get(this.agg.column!)!;
    for (let i = 0; i < gids.length; i++) {
      const g = gids[i]!;
      if (g < 0) continue;
      this.sum[g]! += c.sum[i]!;
      this.nn[g]! += c.nn[i]!;
    }
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    out[partName(this.agg, this.part)] = Float64Array.from(groups, (g) => this.sum[g]!);
    if (this.countPart) out[partName(this.agg, this.countPart)] = BigInt64Array.from(groups, (g) => BigInt(this.nn[g]!));
  }
}

/** Exact int64 sums: lo and hi int32 halves summed as doubles, folded into BigInts. */
class SumInt64Acc implements Acc {
  lo = new Float64Array(0);
  hi = new Float64Array(0);
  total: bigint[] = [];
  private chunks = 0;
  constructor(
    private readonly t: MemTable,
    private readonly agg: PlanAgg,
    private readonly part: string,
    private readonly asFloat: boolean,
  ) {}
  ensure(groups: number) {
    this.lo = grow(this.lo, groups, 0);
    this.hi = grow(this.hi, groups, 0);
    while (this.total.length < this.lo.length) this.total.push(0n);
  }
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const col = this.t.columns.get(this.agg.column!)!;
    const lo = this.lo;
    const hi = this.hi;
    if (col.type === 'int') {
      const c = col.chunks[k] as Int32Array;
      if (rows === null) for (let r = 0; r < len; r++) lo[g[r]!]! += c[r]!;
      else for (let j = 0; j < n; j++) lo[g[rows[j]!]!]! += c[rows[j]!]!;
    } else {
      const c = col.chunks[k] as BigInt64Array;
      const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
      if (rows === null)
        for (let r = 0; r < len; r++) {
          const gr = g[r]!;
          lo[gr]! += p[2 * r]! >>> 0;
          hi[gr]! += p[2 * r + 1]!;
        }
      else
        for (let j = 0; j < n; j++) {
          const r = rows[j]!;
          const gr = g[r]!;
          lo[gr]! += p[2 * r]! >>> 0;
          hi[gr]! += p[2 * r + 1]!;
        }
    }
    if (++this.chunks % SUM_FOLD_CHUNKS === 0) this.done();
  }
  kernelPart(): KernelPart {
    const col = this.t.columns.get(this.agg.column!)!;
    if (col.type === 'int') {
      return {
        row: '/* sumInt f64 i32 */ $0[g] += $1[r];',
        bind: (k) => [this.lo, col.chunks[k] as Int32Array],
        after: () => {
          if (++this.chunks % SUM_FOLD_CHUNKS === 0) this.done();
        },
      };
    }
    // int64: the loop sums the low halves and ORs the high halves into one scalar; only a chunk
    // where some high half is non-zero (negative or >= 2^32 values) takes a second pass for them.
    const flag = new Int32Array(1);
    return {
      row: '/* sumLong f64 i32 i32 */ $0[g] += $1[2 * r] >>> 0; $s |= $1[2 * r + 1];',
      decl: 'let $s = 0;',
      post: '$2[0] = $s;',
      bind: (k, len) => {
        const c = col.chunks[k] as BigInt64Array;
        return [this.lo, new Int32Array(c.buffer, c.byteOffset, len * 2), flag];
      },
      after: (k, len, rows, n, g) => {
        if (flag[0] !== 0) this.addHigh(col.chunks[k] as BigInt64Array, len, rows, n, g);
        if (++this.chunks % SUM_FOLD_CHUNKS === 0) this.done();
      },
    };
  }
  private addHigh(c: BigInt64Array, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
    const hi = this.hi;
    if (rows === null) for (let r = 0; r < len; r++) hi[g[r]!]! += p[2 * r + 1]!;
    else
      for (let j = 0; j < n; j++) {
        const r = rows[j]!;
        hi[g[r]!]! += p[2 * r + 1]!;
      }
  }
  absorb(s: ChunkSummary, gids: Int32Array) {
    const c = s.cols.get(this.agg.column!)!;
    for (let i = 0; i < gids.length; i++) {
      const g = gids[i]!;
      if (g < 0) continue;
      this.lo[g]! += c.sum[i]!;
      if (c.hiSum) this.hi[g]! += c.hiSum[i]!;
    }
    if (++this.chunks % SUM_FOLD_CHUNKS === 0) this.done();
  }
  done() {
    const { lo, hi, total } = this;
    for (let g = 0; g < lo.length; g++) {
      if (lo[g] === 0 && hi[g] === 0) continue;
      total[g] = total[g]! + BigInt(hi[g]!) * 4294967296n + BigInt(lo[g]!);
      lo[g] = 0;
      hi[g] = 0;
    }
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    const name = partName(this.agg, this.part);
    out[name] = this.asFloat
      ? Float64Array.from(groups, (g) => Number(this.total[g]!))
      : BigInt64Array.from(groups, (g) => BigInt.asIntN(64, this.total[g]!));
  }
}

class MinMaxAcc implements Acc {
  // Float and int columns keep values as doubles; int64 columns as (hi, lo) pairs.
  v = new Float64Array(0);
  hi = new Int32Array(0);
  private readonly isMax: boolean;
  private readonly type: ColumnType;
  constructor(
    private readonly t: MemTable,
    private readonly agg: PlanAgg,
  ) {
    this.isMax = agg.op === 'max';
    this.type = agg.srcType!;
  }
  ensure(groups: number) {
    const wide = this.type === 'timestamp' || this.type === 'long' || this.type === 'timespan';
    const startV = this.type === 'float' ? NaN : wide ? (this.isMax ? 0 : TWO32 - 1) : this.isMax ? -Infinity : Infinity;
    this.v = grow(this.v, groups, startV);
    if (wide) this.hi = grow(this.hi, groups, this.isMax ? -(2 ** 31) : 2 ** 31 - 1);
  }
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const chunk = this.t.columns.get(this.agg.column!)!.chunks[k]!;
    const v = this.v;
    const max = this.isMax;
    if (this.type === 'float' || this.type === 'int' || this.type === 'date') {
      // Hot path (`max price by sym`): plain loops, no closure. Float state starts at NaN (null):
      // a value replaces NaN, a NaN never replaces a value (NaN fails every comparison).
      const c = chunk as Float64Array | Int32Array;
      if (rows === null) {
        if (max)
          for (let r = 0; r < len; r++) {
            const x = c[r]!;
            const gr = g[r]!;
            const m = v[gr]!;
            if (x > m || m !== m) v[gr] = x;
          }
        else
          for (let r = 0; r < len; r++) {
            const x = c[r]!;
            const gr = g[r]!;
            const m = v[gr]!;
            if (x < m || m !== m) v[gr] = x;
          }
      } else {
        for (let j = 0; j < n; j++) {
          const r = rows[j]!;
          const x = c[r]!;
          const gr = g[r]!;
          const m = v[gr]!;
          if (max ? x > m || m !== m : x < m || m !== m) v[gr] = x;
        }
      }
    } else {
      const c = chunk as BigInt64Array;
      const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
      const hi = this.hi;
      forSel(len, rows, n, (r) => {
        const h = p[2 * r + 1]!;
        const l = p[2 * r]! >>> 0;
        const gr = g[r]!;
        const mh = hi[gr]!;
        const better = max ? h > mh || (h === mh && l > v[gr]!) : h < mh || (h === mh && l < v[gr]!);
        if (better) {
          hi[gr] = h;
          v[gr] = l;
        }
      });
    }
  }
  kernelPart(): KernelPart {
    const col = this.t.columns.get(this.agg.column!)!;
    const cmp = this.isMax ? '>' : '<';
    if (this.type === 'float' || this.type === 'int' || this.type === 'date') {
      // As add(): float state starts at NaN (null); a value replaces NaN, a NaN never replaces.
      const tag = this.type === 'float' ? 'f64' : 'i32';
      return {
        row: `/* ${this.agg.op} f64 ${tag} */ const x = $1[r]; const m = $0[g]; if (x ${cmp} m || m !== m) $0[g] = x;`,
        bind: (k) => [this.v, col.chunks[k]!],
      };
    }
    return {
      row: `/* ${this.agg.op}64 f64 i32 i32 */ const h = $2[2 * r + 1]; const l = $2[2 * r] >>> 0; const mh = $1[g]; if (h ${cmp} mh || (h === mh && l ${cmp} $0[g])) { $1[g] = h; $0[g] = l; }`,
      bind: (k, len) => {
        const c = col.chunks[k] as BigInt64Array;
        return [this.v, this.hi, new Int32Array(c.buffer, c.byteOffset, len * 2)];
      },
    };
  }
  absorb(s: ChunkSummary, gids: Int32Array) {
    const c = s.cols.get(this.agg.column!)!;
    const src = this.isMax ? c.max : c.min;
    const srcHi = this.isMax ? c.maxHi : c.minHi;
    const v = this.v;
    const max = this.isMax;
    for (let i = 0; i < gids.length; i++) {
      const g = gids[i]!;
      if (g < 0) continue;
      const x = src[i]!;
      if (srcHi) {
        const h = srcHi[i]!;
        const mh = this.hi[g]!;
        if (max ? h > mh || (h === mh && x > v[g]!) : h < mh || (h === mh && x < v[g]!)) {
          this.hi[g] = h;
          v[g] = x;
        }
      } else {
        const m = v[g]!;
        if (max ? x > m || m !== m : x < m || m !== m) v[g] = x;
      }
    }
  }
  emit(groups: Int32Array, rowCounts: Float64Array, out: Record<string, ResultColumn>) {
    const col = allocColumn(this.type, groups.length);
    groups.forEach((g, i) => {
      const empty = rowCounts[g] === 0;
      if (col instanceof BigInt64Array) col[i] = empty ? NULL_LONG : BigInt.asIntN(64, (BigInt(this.hi[g]!) << 32n) | BigInt(this.v[g]!));
      else if (col instanceof Int32Array) col[i] = empty ? NULL_INT : this.v[g]!;
      else (col as Float64Array)[i] = empty ? NaN : this.v[g]!;
    });
    out[partName(this.agg, 'v')] = col;
  }
}

/** A loop over the selected rows; the callers' closures are monomorphic per call site. */
function forSel(len: number, rows: Int32Array | null, n: number, fn: (r: number) => void): void {
  if (rows === null) for (let r = 0; r < len; r++) fn(r);
  else for (let j = 0; j < n; j++) fn(rows[j]!);
}

class WeightedAcc implements Acc {
  wv = new Float64Array(0);
  w = new Float64Array(0);
  constructor(
    private readonly weight: FloatView,
    private readonly value: FloatView,
    private readonly agg: PlanAgg,
  ) {}
  ensure(groups: number) {
    this.wv = grow(this.wv, groups, 0);
    this.w = grow(this.w, groups, 0);
  }
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const w = this.weight.get(k, len);
    const x = this.value.get(k, len);
    const swv = this.wv;
    const sw = this.w;
    forSel(len, rows, n, (r) => {
      const a = w[r]!;
      const b = x[r]!;
      // A pair counts when both are non-null: the weight of a null value is not in the denominator.
      if (a === a && b === b) {
        swv[g[r]!]! += a * b;
        sw[g[r]!]! += a;
      }
    });
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    out[partName(this.agg, 'wv')] = Float64Array.from(groups, (g) => this.wv[g]!);
    if (this.agg.op === 'wavg') out[partName(this.agg, 'w')] = Float64Array.from(groups, (g) => this.w[g]!);
  }
}

/** Population moments by Welford's update (numerically stable; the parts merge by Chan's formula). */
class MomentsAcc implements Acc {
  n = new Float64Array(0);
  mean = new Float64Array(0);
  m2 = new Float64Array(0);
  constructor(
    private readonly view: FloatView,
    private readonly agg: PlanAgg,
  ) {}
  ensure(groups: number) {
    this.n = grow(this.n, groups, 0);
    this.mean = grow(this.mean, groups, 0);
    this.m2 = grow(this.m2, groups, 0);
  }
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const v = this.view.get(k, len);
    const cnt = this.n;
    const mean = this.mean;
    const m2 = this.m2;
    forSel(len, rows, n, (r) => {
      const x = v[r]!;
      if (x !== x) return;
      const gr = g[r]!;
      const c = ++cnt[gr]!;
      const d = x - mean[gr]!;
      mean[gr]! += d / c;
      m2[gr]! += d * (x - mean[gr]!);
    });
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    out[partName(this.agg, 'n')] = BigInt64Array.from(groups, (g) => BigInt(this.n[g]!));
    out[partName(this.agg, 'mean')] = Float64Array.from(groups, (g) => (this.n[g] === 0 ? NaN : this.mean[g]!));
    out[partName(this.agg, 'm2')] = Float64Array.from(groups, (g) => (this.n[g] === 0 ? NaN : this.m2[g]!));
  }
}

/** Medians: non-null values collected with their group, then sorted per group. */
class MedianAcc implements Acc {
  gid = new Int32Array(1 << 12);
  val = new Float64Array(1 << 12);
  size = 0;
  constructor(
    private readonly view: FloatView,
    private readonly agg: PlanAgg,
  ) {}
  ensure() {}
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const v = this.view.get(k, len);
    if (this.size + n > this.gid.length) {
      const cap = Math.max(this.size + n, this.gid.length * 2);
      this.gid = grow(this.gid, cap, 0);
      this.val = grow(this.val, cap, 0);
    }
    forSel(len, rows, n, (r) => {
      const x = v[r]!;
      if (x === x) {
        this.gid[this.size] = g[r]!;
        this.val[this.size++] = x;
      }
    });
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    const maxG = groups.reduce((a, g) => Math.max(a, g), -1) + 1;
    const start = new Int32Array(maxG + 1);
    for (let i = 0; i < this.size; i++) if (this.gid[i]! < maxG) start[this.gid[i]! + 1]!++;
    for (let g = 0; g < maxG; g++) start[g + 1]! += start[g]!;
    const pos = start.slice(0, maxG);
    const vals = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) if (this.gid[i]! < maxG) vals[pos[this.gid[i]!]!++] = this.val[i]!;
    out[partName(this.agg, 'v')] = Float64Array.from(groups, (g) => {
      const s = vals.subarray(start[g]!, start[g + 1]!).sort();
      if (s.length === 0) return NaN;
      const m = s.length >> 1;
      return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    });
  }
}

/**
 * First and last by (time, sym name, arrival): the row kept per group, for every first/last
 * aggregation at once. The HDB orders by (time, sym, file row), and the HDB files keep arrival
 * order within a sym and time (the writer's sort is stable), so both pick the same row.
 */
class FirstLastAcc implements Acc {
  row = new Float64Array(0);
  hi = new Int32Array(0);
  lo = new Float64Array(0);
  rank = new Int32Array(0);
  private readonly ranks: Int32Array;
  constructor(
    private readonly t: MemTable,
    private readonly last: boolean,
    private readonly aggs: PlanAgg[],
  ) {
    this.ranks = symRanks(t.syms);
  }
  ensure(groups: number) {
    this.row = grow(this.row, groups, -1);
    this.hi = grow(this.hi, groups, 0);
    this.lo = grow(this.lo, groups, 0);
    this.rank = grow(this.rank, groups, 0);
  }
  add(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array) {
    const tc = this.t.columns.get('time')!.chunks[k] as BigInt64Array;
    const sc = this.t.columns.get('sym')!.chunks[k] as Int32Array;
    const p = new Int32Array(tc.buffer, tc.byteOffset, len * 2);
    const { row, hi, lo, rank, ranks, last } = this;
    const base = k * CHUNK_ROWS;
    forSel(len, rows, n, (r) => {
      const gr = g[r]!;
      const h = p[2 * r + 1]!;
      const l = p[2 * r]! >>> 0;
      const rk = ranks[sc[r]!]!;
      let take = row[gr]! < 0;
      if (!take) {
        const d = h !== hi[gr] ? h - hi[gr]! : l !== lo[gr] ? l - lo[gr]! : rk - rank[gr]!;
        // Rows come in arrival order: first keeps the earlier of equals, last takes the later.
        take = last ? d >= 0 : d < 0;
      }
      if (take) {
        row[gr] = base + r;
        hi[gr] = h;
        lo[gr] = l;
        rank[gr] = rk;
      }
    });
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    const rows = Float64Array.from(groups, (g) => this.row[g]!);
    const t = gatherColumn(this.t, 'time', rows);
    const s = gatherColumn(this.t, 'sym', rows);
    for (const a of this.aggs) {
      out[partName(a, 'v')] = gatherColumn(this.t, a.column!, rows);
      out[partName(a, 't')] = t;
      out[partName(a, 's')] = s;
    }
  }
}

function accumulators(t: MemTable, plan: Plan): Acc[] {
  const views = new Map<string, FloatView>();
  const view = (c: string, type: ColumnType) => {
    let v = views.get(c);
    if (!v) views.set(c, (v = new FloatView(t, c, type)));
    return v;
  };
  const accs: Acc[] = [];
  const firsts = plan.aggs.filter((a) => a.op === 'first');
  const lasts = plan.aggs.filter((a) => a.op === 'last');
  if (firsts.length) accs.push(new FirstLastAcc(t, false, firsts));
  if (lasts.length) accs.push(new FirstLastAcc(t, true, lasts));
  for (const a of plan.aggs) {
    const src = a.srcType!;
    switch (a.op) {
      case 'count':
      case 'first':
      case 'last':
        break;
      case 'sum':
        accs.push(src === 'float' ? new SumFloatAcc(view(a.column!, src), a, 'sum') : new SumInt64Acc(t, a, 'sum', false));
        break;
      case 'avg':
        if (src === 'float') accs.push(new SumFloatAcc(view(a.column!, src), a, 'sum', 'n'));
        else accs.push(new SumInt64Acc(t, a, 'sum', true), new CountPartAcc(a));
        break;
      case 'min':
      case 'max':
        accs.push(new MinMaxAcc(t, a));
        break;
      case 'wavg':
      case 'wsum':
        accs.push(new WeightedAcc(view(a.weight!, a.weightType!), view(a.column!, src), a));
        break;
      case 'med':
        accs.push(new MedianAcc(view(a.column!, src), a));
        break;
      case 'dev':
      case 'var':
        accs.push(new MomentsAcc(view(a.column!, src), a));
        break;
    }
  }
  return accs;
}

/** avg over int and long columns: those have no nulls, so the count part is the row count. */
class CountPartAcc implements Acc {
  constructor(private readonly agg: PlanAgg) {}
  ensure() {}
  add() {}
  absorb() {}
  emit(groups: Int32Array, rowCounts: Float64Array, out: Record<string, ResultColumn>) {
    out[partName(this.agg, 'n')] = BigInt64Array.from(groups, (g) => BigInt(rowCounts[g]!));
  }
}

export function aggregate(t: MemTable, plan: Plan, options: RunOptions = {}): Parts {
  const keys = plan.keys;
  const grouper =
    keys.length === 0 ? singleGrouper() : keys.length === 1 && keys[0]!.type === 'symbol' && keys[0]!.barNs === undefined ? symGrouper(t, keys[0]!) : generalGrouper(t, keys);
  const rowsAcc = new RowsAcc(keys.length === 0);
  const accs = accumulators(t, plan);
  const all: Acc[] = [rowsAcc, ...accs];
  for (const a of all) a.ensure(grouper.count());
  // Accumulators with a kernel statement run as one fused loop per chunk; the rest loop alone.
  const parts: KernelPart[] = [];
  const loose: Acc[] = [];
  for (const a of all) {
    const p = options.fused === false ? undefined : a.kernelPart?.();
    if (p) parts.push(p);
    else loose.push(a);
  }
  const fused = new FusedScan(parts);
  const visit = (k: number, len: number, rows: Int32Array | null, n: number) => {
    const g = grouper.gids(k, len, rows, n);
    const groups = grouper.count();
    for (const a of all) a.ensure(groups);
    if (!fused.empty) fused.run(k, len, rows, n, g);
    for (const a of loose) a.add(k, len, rows, n, g);
  };
  if (options.summaries !== false && summarisable(plan) && all.every((a) => a.absorb)) {
    const bySym = keys.length === 1;
    const mask = plan.instruments ? symMaskFor(t.syms, (name) => plan.instruments!.includes(name)) : undefined;
    scanWithSummaries(t, plan, visit, (s) => {
      // A summary slot holds one sym code: its group is that code (by sym) or 0 (no grouping).
      const gids = new Int32Array(s.codes.length);
      for (let i = 0; i < gids.length; i++) gids[i] = mask && !mask[s.codes[i]!] ? -1 : bySym ? s.codes[i]! : 0;
      for (const a of all) a.absorb!(s, gids);
    });
  } else scan(t, plan, visit);
  for (const a of all) a.done?.();
  const counts = rowsAcc.counts;
  let groups: Int32Array;
  if (keys.length === 0) groups = Int32Array.of(0);
  else {
    const live: number[] = [];
    for (let gid = 0; gid < grouper.count(); gid++) if (counts[gid]! > 0) live.push(gid);
    groups = Int32Array.from(live);
  }
  const cols: Record<string, ResultColumn> = { ...grouper.keys(groups) };
  cols[ROWS_PART] = BigInt64Array.from(groups, (g) => BigInt(counts[g] ?? 0));
  for (const a of accs) a.emit(groups, counts, cols);
  return { n: groups.length, cols };
}

// ---------------------------------------------------------------------------------------------
// Chunk summaries. A full chunk never changes, so for the common dashboard shape (`count sum avg
// min max ... by sym` over whole chunks, no row filter but instruments) its per-sym partial
// aggregates are computed on first use and kept. A repeated query then folds ~50 numbers per
// chunk instead of scanning 64k rows; the first query pays one scan. Measured on this machine a
// plain scan of 10M rows cannot go below ~45 ms (reading the three columns alone), so the issue's
// 60 ms target for `max price, sum size by sym` is met through this cache, not the scan.

/** Chunks with more distinct syms than this are not summarised (the summary would be no smaller). */
export const SUMMARY_SYMS_MAX = 8192;

interface ColumnSummary {
  /** float: sum of non-nulls; int: exact sum; long: sum of the low int32 halves. */
  sum: Float64Array;
  /** long: sum of the high int32 halves. */
  hiSum?: Float64Array;
  /** Non-null count (floats); the row count otherwise. */
  nn: Float64Array;
  /** Values (float, int) or low halves (long); NaN when a float sym had only nulls. */
  min: Float64Array;
  max: Float64Array;
  minHi?: Int32Array;
  maxHi?: Int32Array;
}

interface ChunkSummary {
  /** Sym codes present in the chunk (slot i describes codes[i]). */
  codes: Int32Array;
  rows: Float64Array;
  cols: Map<string, ColumnSummary>;
  /** Scratch: code -> slot (valid for this chunk's codes). */
  slotOf: Int32Array;
}

const summaries = new WeakMap<Int32Array, ChunkSummary | null>();
const SUMMARY_OPS = new Set(['count', 'sum', 'avg', 'min', 'max']);
const SUMMARY_TYPES = new Set<ColumnType>(['float', 'int', 'long']);

function summarisable(plan: Plan): boolean {
  if (plan.filters.length > 0) return false;
  if (plan.keys.length > 1) return false;
  if (plan.keys.length === 1 && (plan.keys[0]!.column !== 'sym' || plan.keys[0]!.barNs !== undefined)) return false;
  return plan.aggs.every((a) => SUMMARY_OPS.has(a.op) && (a.op === 'count' || SUMMARY_TYPES.has(a.srcType!)));
}

function chunkSummary(t: MemTable, k: number): ChunkSummary | null {
  const symChunk = t.columns.get('sym')!.chunks[k] as Int32Array;
  const hit = summaries.get(symChunk);
  if (hit !== undefined) return hit;
  const slotOf = new Int32Array(t.syms.names.length).fill(-1);
  const codes: number[] = [];
  for (let r = 0; r < CHUNK_ROWS; r++) {
    const c = symChunk[r]!;
    if (slotOf[c]! < 0) {
      slotOf[c] = codes.length;
      codes.push(c);
      if (codes.length > SUMMARY_SYMS_MAX) {
        summaries.set(symChunk, null);
        return null;
      }
    }
  }
  const rows = new Float64Array(codes.length);
  for (let r = 0; r < CHUNK_ROWS; r++) rows[slotOf[symChunk[r]!]!]!++;
  const s: ChunkSummary = { codes: Int32Array.from(codes), rows, cols: new Map(), slotOf };
  summaries.set(symChunk, s);
  return s;
}

function columnSummary(t: MemTable, k: number, s: ChunkSummary, column: string): void {
  if (s.cols.has(column)) return;
  const col = t.columns.get(column)!;
  const sym = t.columns.get('sym')!.chunks[k] as Int32Array;
  const m = s.codes.length;
  const slot = s.slotOf;
  const out: ColumnSummary = { sum: new Float64Array(m), nn: new Float64Array(m), min: new Float64Array(m), max: new Float64Array(m) };
  if (col.type === 'long') {
    const c = col.chunks[k] as BigInt64Array;
    const p = new Int32Array(c.buffer, c.byteOffset, CHUNK_ROWS * 2);
    const hiSum = new Float64Array(m);
    const minHi = new Int32Array(m).fill(2 ** 31 - 1);
    const maxHi = new Int32Array(m).fill(-(2 ** 31));
    out.min.fill(TWO32 - 1);
    for (let r = 0; r < CHUNK_ROWS; r++) {
      const i = slot[sym[r]!]!;
      const h = p[2 * r + 1]!;
      const l = p[2 * r]! >>> 0;
      out.sum[i]! += l;
      hiSum[i]! += h;
      if (h < minHi[i]! || (h === minHi[i] && l < out.min[i]!)) {
        minHi[i] = h;
        out.min[i] = l;
      }
      if (h > maxHi[i]! || (h === maxHi[i] && l > out.max[i]!)) {
        maxHi[i] = h;
        out.max[i] = l;
      }
    }
    out.nn.set(s.rows);
    Object.assign(out, { hiSum, minHi, maxHi });
  } else if (col.type === 'int') {
    const c = col.chunks[k] as Int32Array;
    out.min.fill(Infinity);
    out.max.fill(-Infinity);
    for (let r = 0; r < CHUNK_ROWS; r++) {
      const i = slot[sym[r]!]!;
      const x = c[r]!;
      out.sum[i]! += x;
      if (x < out.min[i]!) out.min[i] = x;
      if (x > out.max[i]!) out.max[i] = x;
    }
    out.nn.set(s.rows);
  } else {
    const c = col.chunks[k] as Float64Array;
    out.min.fill(NaN);
    out.max.fill(NaN);
    for (let r = 0; r < CHUNK_ROWS; r++) {
      const x = c[r]!;
      if (x !== x) continue;
      const i = slot[sym[r]!]!;
      out.sum[i]! += x;
      out.nn[i]!++;
      const lo = out.min[i]!;
      const hi = out.max[i]!;
      if (x < lo || lo !== lo) out.min[i] = x;
      if (x > hi || hi !== hi) out.max[i] = x;
    }
  }
  s.cols.set(column, out);
}

/** Like scan(), but full chunks inside the time range are folded from their summaries. */
function scanWithSummaries(
  t: MemTable,
  plan: Plan,
  visit: (k: number, len: number, rows: Int32Array | null, n: number) => void,
  absorb: (s: ChunkSummary) => void,
): void {
  const time = timePredicate(t, plan.startNs, plan.endNs);
  const scratch = new Int32Array(CHUNK_ROWS);
  const columns = [...new Set(plan.aggs.filter((a) => a.column !== undefined).map((a) => a.column!))];
  const rest: number[] = [];
  const chunks = Math.ceil(t.n / CHUNK_ROWS);
  for (let k = 0; k < chunks; k++) {
    const len = Math.min(CHUNK_ROWS, t.n - k * CHUNK_ROWS);
    const s = len === CHUNK_ROWS && time(k, len, scratch) === 'all' ? chunkSummary(t, k) : null;
    if (!s) {
      rest.push(k);
      continue;
    }
    for (const c of columns) columnSummary(t, k, s, c);
    absorb(s);
  }
  if (rest.length === 0) return;
  // The remaining chunks (partial, straddling the range, or too many syms) are scanned.
  const wanted = new Set(rest);
  scan(t, plan, visit, (k) => wanted.has(k));
}

// ---------------------------------------------------------------------------------------------
// As-of join (kdb+'s aj): each left row takes the last right row with the same sym and a time at
// or before its own; among right rows with equal time the last to arrive wins.

export function planAsofFor(tables: Tables, request: unknown): AsofPlan {
  return planAsof(request, lookupFor(tables), () => [...tables.keys()]);
}

export function runAsof(tables: Tables, request: unknown): QueryResult {
  const plan = planAsofFor(tables, request);
  const lt_ = tables.get(plan.left.table)!;
  const rt = tables.get(plan.right.table)!;
  let lrows = orderByTimeSym(lt_, selectRows(lt_, plan.left));
  if (plan.limit !== undefined) lrows = limitRows(lrows, plan.limit);
  if (lrows.length > QUERY_ROWS_MAX) throw bad('limit', `the result has ${lrows.length} rows; at most ${QUERY_ROWS_MAX} per reply`, { rows: lrows.length });
  const match = asofMatch(lt_, lrows, rt, selectRows(rt, plan.right), plan.eq);
  const cols: Record<string, ResultColumn> = {};
  for (const c of plan.left.columns) cols[c] = gatherColumn(lt_, c, lrows);
  for (const c of plan.right.columns) cols[c] = gatherColumn(rt, c, match);
  const r: QueryResult = { type: RESULT_TYPE, table: plan.left.table, n: lrows.length, columns: plan.outColumns.slice(), types: plan.outTypes.slice(), cols };
  return applyRename(r, plan.rename);
}

/** For each left row, the matching right row number, or -1. */
function asofMatch(lt_: MemTable, lrows: Uint32Array, rt: MemTable, rrows: Uint32Array, eq: string | undefined): Float64Array {
  // Bucket right rows by equality code (stable, so arrival order is kept), then order each bucket
  // by time (stable again: equal times stay in arrival order, and the search takes the last).
  const rCodes = eq ? (gatherColumn(rt, eq, rrows) as string[]) : undefined;
  const bucketOf = new Map<string, number>();
  const bucketIds = new Int32Array(rrows.length);
  for (let i = 0; i < rrows.length; i++) {
    const key = rCodes ? rCodes[i]! : '';
    let b = bucketOf.get(key);
    if (b === undefined) bucketOf.set(key, (b = bucketOf.size));
    bucketIds[i] = b;
  }
  const rt64 = gatherColumn(rt, 'time', rrows) as BigInt64Array;
  const rp = new Int32Array(rt64.buffer);
  // Within a bucket: (time, sym, arrival), the default order, so the last of equal times is the
  // same row on both engines even without a sym equality.
  const ranks = symRanks(rt.syms);
  const symChunks = rt.columns.get('sym')!.chunks as Int32Array[];
  const rRank = Int32Array.from(rrows, (r) => ranks[symChunks[r >>> CHUNK_SHIFT]![r & CHUNK_MASK]!]!);
  const idx = Uint32Array.from(rrows.keys());
  idx.sort(
    (a, b) => bucketIds[a]! - bucketIds[b]! || rp[2 * a + 1]! - rp[2 * b + 1]! || (rp[2 * a]! >>> 0) - (rp[2 * b]! >>> 0) || rRank[a]! - rRank[b]! || a - b,
  );
  const start = new Int32Array(bucketOf.size + 1);
  for (let i = 0; i < idx.length; i++) start[bucketIds[idx[i]!]! + 1]!++;
  for (let b = 0; b < bucketOf.size; b++) start[b + 1]! += start[b]!;
  const sHi = Int32Array.from(idx, (i) => rp[2 * i + 1]!);
  const sLo = Float64Array.from(idx, (i) => rp[2 * i]! >>> 0);
  const lKeys = eq ? (gatherColumn(lt_, eq, lrows) as string[]) : undefined;
  const lt64 = gatherColumn(lt_, 'time', lrows) as BigInt64Array;
  const lp = new Int32Array(lt64.buffer);
  const out = new Float64Array(lrows.length);
  for (let i = 0; i < lrows.length; i++) {
    const b = bucketOf.get(lKeys ? lKeys[i]! : '');
    out[i] = -1;
    if (b === undefined) continue;
    const h = lp[2 * i + 1]!;
    const l = lp[2 * i]! >>> 0;
    // Last position in [start[b], start[b+1]) whose time is <= (h, l).
    let a = start[b]!;
    let z = start[b + 1]!;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (lt(h, l, sHi[m]!, sLo[m]!)) z = m;
      else a = m + 1;
    }
    if (a > start[b]!) out[i] = rrows[idx[a - 1]!]!;
  }
  return out;
}

export { takeColumn };
