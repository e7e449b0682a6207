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

/** One sym's running aggregates (NaN: nothing seen yet). */
export interface SymAgg {
  trdvol: number;
  maxpx: number;
  minpx: number;
  maxbpx: number;
  minapx: number;
}

export type AggregateState = Map<string, SymAgg>;

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

const max = (a: number, b: number) => (Number.isNaN(a) || b > a ? b : a);
const min = (a: number, b: number) => (Number.isNaN(a) || b < a ? b : a);

export default defineProcessor<AggregateState>({
  init: () => new Map(),
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
    // One state lookup per distinct sym of the batch, then a walk over the rows.
    const aggs: SymAgg[] = sym.dict.map((s) => {
      let a = state.get(s);
      if (!a) state.set(s, (a = { trdvol: 0, maxpx: NaN, minpx: NaN, maxbpx: NaN, minapx: NaN }));
      return a;
    });
    const touched = new Uint8Array(sym.dict.length);
    const codes = sym.codes;
    if (isTrade) {
      const price = batch.cols.price as Float64Array;
      const size = batch.cols.size as BigInt64Array;
      for (let i = 0; i < batch.n; i++) {
        const c = codes[i]!;
        const a = aggs[c]!;
        const px = price[i]!;
        a.trdvol += px * Number(size[i]!);
        a.maxpx = max(a.maxpx, px);
        a.minpx = min(a.minpx, px);
        touched[c] = 1;
      }
    } else {
      const bid = batch.cols.bid as Float64Array;
      const ask = batch.cols.ask as Float64Array;
      for (let i = 0; i < batch.n; i++) {
        const c = codes[i]!;
        const a = aggs[c]!;
        a.maxbpx = max(a.maxbpx, bid[i]!);
        a.minapx = min(a.minapx, ask[i]!);
        touched[c] = 1;
      }
    }
    const time = batch.cols.time as BigInt64Array;
    let latest = time[0]!;
    for (let i = 1; i < batch.n; i++) if (time[i]! > latest) latest = time[i]!;
    const syms: string[] = [];
    for (let c = 0; c < touched.length; c++) if (touched[c]) syms.push(sym.dict[c]!);
    const n = syms.length;
    if (n === 0) return;
    const cols = {
      time: new BigInt64Array(n).fill(latest),
      sym: syms,
      trdvol: new Float64Array(n),
      maxpx: new Float64Array(n),
      minpx: new Float64Array(n),
      maxbpx: new Float64Array(n),
      minapx: new Float64Array(n),
      baspread: new Float64Array(n),
    };
    for (let j = 0; j < n; j++) {
      const a = state.get(syms[j]!)!;
      cols.trdvol[j] = a.trdvol;
      cols.maxpx[j] = a.maxpx;
      cols.minpx[j] = a.minpx;
      cols.maxbpx[j] = a.maxbpx;
      cols.minapx[j] = a.minapx;
      cols.baspread[j] = a.maxbpx - a.minapx;
    }
    ctx.publish(out, cols);
  },
});
