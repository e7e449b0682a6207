// PyKX's "aggregate" real-time processor (the Evolving System notebook) as a tickbus processor:
// from trade and quote, per sym, the day's trade value (trdvol = sum price*size), highest and
// lowest trade price (maxpx, minpx), highest bid (maxbpx), lowest ask (minapx) and
// baspread = maxbpx - minapx, published to the tickerplant's `aggregate` table. Unlike PyKX,
// which recomputes the whole day per message, it keeps per-sym running aggregates: each batch
// costs its own rows. It publishes one update per input batch, a row per sym the batch touched,
// stamped with the batch's latest time: the same input gives the same rows on any run.
//
// Settings (processorConfig): `table` (default "aggregate"), `trade` and `quote` (input table
// names, default "trade" and "quote"). Output schema (add it to `tables`):
//   aggregate: {time: timestamp, sym: symbol, trdvol: float, maxpx: float, minpx: float,
//               maxbpx: float, minapx: float, baspread: float}
import type { SymColumn } from '../../../storage/batch.ts';
import { defineProcessor } from '../processor.ts';

/** The running aggregates, columnar: a slot per sym (NaN: nothing seen yet), grown by doubling. */
export class AggregateState {
  readonly slots = new Map<string, number>();
  syms: string[] = [];
  trdvol = new Float64Array(64);
  maxpx = new Float64Array(64).fill(NaN);
  minpx = new Float64Array(64).fill(NaN);
  maxbpx = new Float64Array(64).fill(NaN);
  minapx = new Float64Array(64).fill(NaN);

  private sc: Scratch | undefined;

  /** Per-code figures of one batch (reused: no allocation per batch), for a dictionary of d syms. */
  scratch(d: number): Scratch {
    if (!this.sc || this.sc.a.length < d) this.sc = new Scratch(Math.max(64, d));
    return this.sc;
  }

  /** The slot of a sym, made on first sight. */
  slot(sym: string): number {
    let k = this.slots.get(sym);
    if (k !== undefined) return k;
    k = this.syms.length;
    if (k === this.trdvol.length) {
      const grow = (a: Float64Array, fill: number) => {
        const b = new Float64Array(a.length * 2).fill(fill);
        b.set(a);
        return b;
      };
      this.trdvol = grow(this.trdvol, 0);
      this.maxpx = grow(this.maxpx, NaN);
      this.minpx = grow(this.minpx, NaN);
      this.maxbpx = grow(this.maxbpx, NaN);
      this.minapx = grow(this.minapx, NaN);
    }
    this.slots.set(sym, k);
    this.syms.push(sym);
    return k;
  }
}

/** A batch's sum, high and low per symbol code; reset after each batch. */
class Scratch {
  readonly a: Float64Array;
  readonly hi: Float64Array;
  readonly lo: Float64Array;
  readonly touched: Uint8Array;
  constructor(n: number) {
    this.touched = new Uint8Array(n);
    this.a = new Float64Array(n);
    this.hi = new Float64Array(n).fill(-Infinity);
    this.lo = new Float64Array(n).fill(Infinity);
  }
  reset(d: number): void {
    this.a.fill(0, 0, d);
    this.hi.fill(-Infinity, 0, d);
    this.lo.fill(Infinity, 0, d);
    this.touched.fill(0, 0, d);
  }
}

export const aggregateTable = {
  time: 'timestamp',
  sym: 'symbol',
  trdvol: 'float',
  maxpx: 'float',
  minpx: 'float',
  maxbpx: 'float',
  minapx: 'float',
  baspread: 'float',
} as const;

export default defineProcessor<AggregateState>({
  init: () => new AggregateState(),
  // PyKX's example keeps only the tables it aggregates (its own output comes back from the log too).
  pre(table, batch, ctx) {
    const { trade = 'trade', quote = 'quote' } = ctx.config as { trade?: string; quote?: string };
    return table === trade || table === quote ? batch : null;
  },
  post(table, batch, state, ctx) {
    const { trade = 'trade', quote = 'quote', table: out = 'aggregate' } = ctx.config as { trade?: string; quote?: string; table?: string };
    const isTrade = table === trade;
    if (!isTrade && table !== quote) return;
    const sym = batch.cols.sym as SymColumn;
    const codes = sym.codes;
    const n = batch.n;
    // The batch's figures per symbol code first (the code indexes them directly: no slot lookup
    // per row), merged into the day's slots once per distinct sym after the loop. hi/lo start at
    // -/+Infinity (a null price is no high nor low); `touched` marks the codes the batch has.
    const d = sym.dict.length;
    const sc = state.scratch(d);
    const { a: sum, hi, lo, touched } = sc;
    // The latest time, compared as (high, low) 32-bit halves in the same pass: reading a
    // BigInt64Array element allocates a bigint, per row.
    const time = batch.cols.time as BigInt64Array;
    const t32 = new Int32Array(time.buffer, time.byteOffset, n * 2);
    let at = 0;
    let bhi = n > 0 ? t32[1]! : 0;
    let blo = n > 0 ? t32[0]! >>> 0 : 0;
    if (isTrade) {
      const price = batch.cols.price as Float64Array;
      const size = batch.cols.size as BigInt64Array;
      // The sizes as two 32-bit halves (little-endian): exact below 2^53 and without a BigInt
      // conversion per row, which costs more than the rest of the loop.
      const half = new Int32Array(size.buffer, size.byteOffset, size.length * 2);
      for (let i = 0; i < n; i++) {
        const c = codes[i]!;
        const px = price[i]!;
        sum[c] += px * (half[2 * i + 1]! * 4294967296 + (half[2 * i]! >>> 0));
        if (px > hi[c]!) hi[c] = px; // a null (NaN) price is no high nor low
        if (px < lo[c]!) lo[c] = px;
        touched[c] = 1;
        const th = t32[2 * i + 1]!;
        if (th >= bhi && (th > bhi || t32[2 * i]! >>> 0 > blo)) {
          bhi = th;
          blo = t32[2 * i]! >>> 0;
          at = i;
        }
      }
    } else {
      const bid = batch.cols.bid as Float64Array;
      const ask = batch.cols.ask as Float64Array;
      for (let i = 0; i < n; i++) {
        const c = codes[i]!;
        const b = bid[i]!;
        const a = ask[i]!;
        if (b > hi[c]!) hi[c] = b;
        if (a < lo[c]!) lo[c] = a;
        touched[c] = 1;
        const th = t32[2 * i + 1]!;
        if (th >= bhi && (th > bhi || t32[2 * i]! >>> 0 > blo)) {
          bhi = th;
          blo = t32[2 * i]! >>> 0;
          at = i;
        }
      }
    }
    const latest = n > 0 ? time[at]! : 0n;
    const syms: string[] = [];
    const ks: number[] = [];
    for (let c = 0; c < d; c++) {
      if (!touched[c]) continue;
      const k = state.slot(sym.dict[c]!);
      syms.push(sym.dict[c]!);
      ks.push(k);
      if (isTrade) {
        state.trdvol[k] += sum[c]!;
        if (hi[c]! > -Infinity && !(hi[c]! <= state.maxpx[k]!)) state.maxpx[k] = hi[c]!; // NaN (nothing yet) or higher
        if (lo[c]! < Infinity && !(lo[c]! >= state.minpx[k]!)) state.minpx[k] = lo[c]!;
      } else {
        if (hi[c]! > -Infinity && !(hi[c]! <= state.maxbpx[k]!)) state.maxbpx[k] = hi[c]!;
        if (lo[c]! < Infinity && !(lo[c]! >= state.minapx[k]!)) state.minapx[k] = lo[c]!;
      }
    }
    sc.reset(d);
    const m = syms.length;
    if (m === 0) return;
    const pick = (a: Float64Array) => Float64Array.from(ks, (k) => a[k]!);
    const maxbpx = pick(state.maxbpx);
    const minapx = pick(state.minapx);
    ctx.publish(out, {
      time: new BigInt64Array(m).fill(latest),
      sym: syms,
      trdvol: pick(state.trdvol),
      maxpx: pick(state.maxpx),
      minpx: pick(state.minpx),
      maxbpx,
      minapx,
      baspread: maxbpx.map((b, j) => b - minapx[j]!),
    });
  },
});
