// Accumulators for count, sum, min and max: per-group state in typed arrays, each with a fused
// kernel statement (storage/query/kernel.ts) and a plain loop (the `fused: false` reference).
import { type ColumnType } from '../../schema.ts';
import { CHUNK_ROWS, type MemTable } from '../../table.ts';
import { type KernelPart } from '../kernel.ts';
import { partName, type PlanAgg } from '../request.ts';
import { allocColumn, NULL_INT, NULL_LONG, type ResultColumn } from '../result.ts';
import { forSel } from './accs_more.ts';
import { TWO32, SUM_FOLD_CHUNKS } from './chunks.ts';
import { type ChunkSummary } from './summaries.ts';

// Accumulators: per-group state in typed arrays, grown as groups appear; one tight loop per
// kind and column type.

export interface Acc {
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

export function grow<T extends Float64Array | Int32Array>(a: T, n: number, fill: number): T {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(n, a.length * 2));
  b.fill(fill);
  b.set(a);
  return b;
}

export class RowsAcc implements Acc {
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
export class FloatView {
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

export class SumFloatAcc implements Acc {
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
export class SumInt64Acc implements Acc {
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

export class MinMaxAcc implements Acc {
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
