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
    // One slot lookup per distinct sym of the batch, then a walk over the rows.
    const slotOf = Int32Array.from(sym.dict, (s) => state.slot(s));
    const touched = new Uint8Array(sym.dict.length);
    const codes = sym.codes;
    const n = batch.n;
    if (isTrade) {
      const price = batch.cols.price as Float64Array;
      const size = batch.cols.size as BigInt64Array;
      // The sizes as two 32-bit halves (little-endian): exact below 2^53 and without a BigInt
      // conversion per row, which costs more than the rest of the loop.
      const half = new Int32Array(size.buffer, size.byteOffset, size.length * 2);
      const { trdvol, maxpx, minpx } = state;
      for (let i = 0; i < n; i++) {
        const c = codes[i]!;
        const k = slotOf[c]!;
        const px = price[i]!;
        trdvol[k] += px * (half[2 * i + 1]! * 4294967296 + (half[2 * i]! >>> 0));
        if (!(px <= maxpx[k]!)) maxpx[k] = px; // NaN (nothing yet) or higher
        if (!(px >= minpx[k]!)) minpx[k] = px;
        touched[c] = 1;
      }
    } else {
      const bid = batch.cols.bid as Float64Array;
      const ask = batch.cols.ask as Float64Array;
      const { maxbpx, minapx } = state;
      for (let i = 0; i < n; i++) {
        const c = codes[i]!;
        const k = slotOf[c]!;
        if (!(bid[i]! <= maxbpx[k]!)) maxbpx[k] = bid[i]!;
        if (!(ask[i]! >= minapx[k]!)) minapx[k] = ask[i]!;
        touched[c] = 1;
      }
    }
    // The latest time, compared as (high, low) 32-bit halves: reading a BigInt64Array element
    // allocates a bigint, per row.
    const time = batch.cols.time as BigInt64Array;
    const t32 = new Int32Array(time.buffer, time.byteOffset, n * 2);
    let at = 0;
    for (let i = 1; i < n; i++) {
      const hi = t32[2 * i + 1]!;
      const bhi = t32[2 * at + 1]!;
      if (hi > bhi || (hi === bhi && t32[2 * i]! >>> 0 > t32[2 * at]! >>> 0)) at = i;
    }
    const latest = time[at]!;
    const syms: string[] = [];
    const ks: number[] = [];
    for (let c = 0; c < touched.length; c++) {
      if (!touched[c]) continue;
      syms.push(sym.dict[c]!);
      ks.push(slotOf[c]!);
    }
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
