// Raw selects: selected rows in (time, sym, arrival) order, gathered into result columns.
import { CHUNK_ROWS, type MemTable, type SymbolTable } from '../../table.ts';
import { applyRename } from '../finalize.ts';
import { bad, type Plan, type Selection } from '../request.ts';
import { allocColumn, NULL_INT, NULL_LONG, QUERY_ROWS_MAX, RESULT_TYPE, sortIndex, type QueryResult, type ResultColumn } from '../result.ts';
import { CHUNK_SHIFT, CHUNK_MASK, split64 } from './chunks.ts';
import { scan } from './select.ts';

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

export function selectRows(t: MemTable, sel: Selection): Uint32Array {
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

export function limitRows(rows: Uint32Array, limit: number | undefined): Uint32Array {
  if (limit === undefined) return rows;
  return limit >= 0 ? rows.subarray(0, limit) : rows.subarray(Math.max(0, rows.length + limit));
}

export function runRaw(t: MemTable, plan: Plan): QueryResult {
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
