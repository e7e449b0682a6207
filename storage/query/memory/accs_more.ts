// Accumulators that run their own loop: weighted sums, moments, medians, first/last.
import { CHUNK_ROWS, type MemTable } from '../../table.ts';
import { partName, type PlanAgg } from '../request.ts';
import { type ResultColumn } from '../result.ts';
import { type KernelPart } from '../kernel.ts';
import { type Acc, grow, FloatView } from './accs.ts';
import { symRanks, gatherColumn } from './raw.ts';

/** A loop over the selected rows; the callers' closures are monomorphic per call site. */
export function forSel(len: number, rows: Int32Array | null, n: number, fn: (r: number) => void): void {
  if (rows === null) for (let r = 0; r < len; r++) fn(r);
  else for (let j = 0; j < n; j++) fn(rows[j]!);
}

export class WeightedAcc implements Acc {
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
  kernelPart(): KernelPart {
    // The same additions in the same (row) order as add(): the sums are bit-identical.
    return {
      row: '/* wsum f64 f64 f64 f64 */ const a = $2[r]; const b = $3[r]; if (a === a && b === b) { $0[g] += a * b; $1[g] += a; }',
      bind: (k, len) => [this.wv, this.w, this.weight.get(k, len), this.value.get(k, len)],
    };
  }
  emit(groups: Int32Array, _rows: Float64Array, out: Record<string, ResultColumn>) {
    out[partName(this.agg, 'wv')] = Float64Array.from(groups, (g) => this.wv[g]!);
    if (this.agg.op === 'wavg') out[partName(this.agg, 'w')] = Float64Array.from(groups, (g) => this.w[g]!);
  }
}

/** Population moments by Welford's update (numerically stable; the parts merge by Chan's formula). */
export class MomentsAcc implements Acc {
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
export class MedianAcc implements Acc {
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
export class FirstLastAcc implements Acc {
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
