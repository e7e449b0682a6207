// Deterministic trade and quote days for the storage tests: every column type, ties in time
// (the tickerplant stamps a whole batch with one time), float nulls (NaN), a few rows out of time
// order, and symbol columns sharing one SymbolTable like the RDB's.
import type { Batch } from '../../storage/batch.ts';
import { defineTable, type TableSchema } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import type { QueryResult, ResultColumn } from '../../storage/query/result.ts';

export const tradeSchema: TableSchema = defineTable('trade', {
  time: 'timestamp',
  sym: 'symbol',
  price: 'float',
  size: 'long',
  side: 'symbol',
  venue: 'string',
  lot: 'int',
  odd: 'bool',
  settle: 'date',
  latency: 'timespan',
});

export const quoteSchema: TableSchema = defineTable('quote', {
  time: 'timestamp',
  sym: 'symbol',
  bid: 'float',
  ask: 'float',
  bsize: 'long',
  asize: 'long',
});

/** Midnight UTC of a date, in epoch nanoseconds. */
export function dayNs(date: string): bigint {
  return BigInt(Date.parse(`${date}T00:00:00Z`)) * 1_000_000n;
}

// A deterministic PRNG (the demo feed's mulberry32): tests must not depend on Math.random.
export { prng } from '../../actors/feed/effects.ts';
import { prng } from '../../actors/feed/effects.ts';

export const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG', 'AMZN', 'BRK.A', 'A', 'ZZ9'];

export interface Day {
  date: string;
  syms: SymbolTable;
  trade: MemTable;
  quote: MemTable;
  tradeBatches: Batch[];
}

/** One day of trades and quotes in batches of `batchRows`, times from 09:30 UTC. */
export function makeDay(date: string, tradeRows: number, seed: number, syms = new SymbolTable(), batchRows = 37): Day {
  const rnd = prng(seed);
  const trade = new MemTable(tradeSchema, syms);
  const quote = new MemTable(quoteSchema, syms);
  const tradeBatches: Batch[] = [];
  const open = dayNs(date) + 34_200_000_000_000n;
  let clock = open;
  for (let off = 0; off < tradeRows; off += batchRows) {
    const n = Math.min(batchRows, tradeRows - off);
    clock += BigInt(1 + Math.floor(rnd() * 2_000_000_000));
    const time = new BigInt64Array(n);
    const sym = new Uint32Array(n);
    const price = new Float64Array(n);
    const size = new BigInt64Array(n);
    const side = new Uint32Array(n);
    const venue = new Array<string>(n);
    const lot = new Int32Array(n);
    const odd = new Uint8Array(n);
    const settle = new Int32Array(n);
    const latency = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      // Half the batch shares the batch's stamp (ties); a few rows run late (out of order).
      time[i] = i % 2 === 0 ? clock : clock + BigInt(i * 1000) - (rnd() < 0.03 ? 1_500_000_000n : 0n);
      sym[i] = Math.floor(rnd() * SYMS.length);
      price[i] = rnd() < 0.02 ? NaN : Math.round((50 + sym[i]! * 25 + rnd() * 10) * 100) / 100;
      size[i] = BigInt(100 * (1 + Math.floor(rnd() * 50)));
      side[i] = rnd() < 0.5 ? 0 : 1;
      venue[i] = ['XNYS', 'XNAS', 'BATS', 'IEX*'][Math.floor(rnd() * 4)]!;
      lot[i] = Math.floor(rnd() * 9) - 4;
      odd[i] = rnd() < 0.1 ? 1 : 0;
      settle[i] = Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000) + 2;
      latency[i] = BigInt(Math.floor(rnd() * 5_000_000));
    }
    const b: Batch = {
      table: 'trade',
      n,
      cols: { time, sym: { dict: SYMS, codes: sym }, price, size, side: { dict: ['buy', 'sell'], codes: side }, venue, lot, odd, settle, latency },
    };
    trade.append(b);
    tradeBatches.push(b);
    // Quotes: a few per trade batch, stamped a little before it.
    const qn = 3;
    const qtime = new BigInt64Array(qn).fill(clock - 500n);
    const qsym = Uint32Array.from({ length: qn }, () => Math.floor(rnd() * SYMS.length));
    const bid = Float64Array.from(qsym, (s) => Math.round((50 + s * 25 + rnd() * 10) * 100) / 100);
    const ask = Float64Array.from(bid, (x) => x + 0.05);
    const bsize = BigInt64Array.from(qsym, () => BigInt(100 * (1 + Math.floor(rnd() * 9))));
    const asize = BigInt64Array.from(qsym, () => BigInt(100 * (1 + Math.floor(rnd() * 9))));
    quote.append({ table: 'quote', n: qn, cols: { time: qtime, sym: { dict: SYMS, codes: qsym }, bid, ask, bsize, asize } });
  }
  return { date, syms, trade, quote, tradeBatches };
}

/** Column equality with floats compared to a relative tolerance (summation order differs). */
export function diffResults(a: QueryResult, b: QueryResult, tolerance = 1e-9): string | undefined {
  if (a.columns.join(',') !== b.columns.join(',')) return `columns ${a.columns} vs ${b.columns}`;
  if (a.types.join(',') !== b.types.join(',')) return `types ${a.types} vs ${b.types}`;
  if (a.n !== b.n) return `n ${a.n} vs ${b.n}`;
  for (const c of a.columns) {
    const x = a.cols[c] as ResultColumn;
    const y = b.cols[c] as ResultColumn;
    if (x.length !== a.n || y.length !== b.n) return `${c}: length ${x.length}/${y.length} for n ${a.n}`;
    for (let i = 0; i < a.n; i++) {
      const u = x[i]!;
      const v = y[i]!;
      if (typeof u === 'number' && typeof v === 'number') {
        if (Number.isNaN(u) && Number.isNaN(v)) continue;
        if (u === v) continue;
        if (Math.abs(u - v) <= tolerance * Math.max(1, Math.abs(u), Math.abs(v))) continue;
        return `${c}[${i}]: ${u} vs ${v}`;
      }
      if (u !== v) return `${c}[${i}]: ${String(u)} vs ${String(v)}`;
    }
  }
  return undefined;
}

const S = '2024-03-04T00:00:00Z';
const E = '2024-03-04T23:59:59.999999999Z';

/** Every BAD_QUERY of the getdata API: the request, the parameter named, and the reason's words. */
export const badQueries: { name: string; request: unknown; param: string; reason: RegExp }[] = [
  { name: 'not an object', request: 'trade', param: 'query', reason: /must be an object/ },
  { name: 'missing table', request: { start: S, end: E }, param: 'table', reason: /missing required parameter/ },
  { name: 'unknown table', request: { table: 'nope', start: S, end: E }, param: 'table', reason: /unknown table nope/ },
  { name: 'missing start', request: { table: 'trade', end: E }, param: 'start', reason: /missing required parameter/ },
  { name: 'missing end', request: { table: 'trade', start: S }, param: 'end', reason: /missing required parameter/ },
  { name: 'bad start', request: { table: 'trade', start: 'yesterday', end: E }, param: 'start', reason: /ISO-8601/ },
  { name: 'start after end', request: { table: 'trade', start: E, end: S }, param: 'start', reason: /after end/ },
  { name: 'unknown parameter', request: { table: 'trade', start: S, end: E, colums: ['sym'] }, param: 'colums', reason: /unknown parameter/ },
  { name: 'bad type', request: { type: 'tickbus.v1.nope', table: 'trade', start: S, end: E }, param: 'type', reason: /must be tickbus.v1.getdata/ },
  { name: 'unknown column', request: { table: 'trade', start: S, end: E, columns: ['sym', 'px'] }, param: 'columns', reason: /unknown column px/ },
  { name: 'empty columns', request: { table: 'trade', start: S, end: E, columns: [] }, param: 'columns', reason: /empty/ },
  { name: 'instruments not strings', request: { table: 'trade', start: S, end: E, instruments: [1] }, param: 'instruments', reason: /list of strings/ },
  { name: 'filter unknown column', request: { table: 'trade', start: S, end: E, filters: [{ column: 'px', op: '=', value: 1 }] }, param: 'filters', reason: /unknown column px/ },
  { name: 'filter unknown operator', request: { table: 'trade', start: S, end: E, filters: [{ column: 'price', op: '~', value: 1 }] }, param: 'filters', reason: /unknown operator "~"/ },
  { name: 'in needs a list', request: { table: 'trade', start: S, end: E, filters: [{ column: 'sym', op: 'in', value: 'IBM' }] }, param: 'filters', reason: /non-empty list/ },
  { name: 'within needs two', request: { table: 'trade', start: S, end: E, filters: [{ column: 'price', op: 'within', value: [1, 2, 3] }] }, param: 'filters', reason: /\[low, high\]/ },
  { name: 'like on a float', request: { table: 'trade', start: S, end: E, filters: [{ column: 'price', op: 'like', value: '1*' }] }, param: 'filters', reason: /symbol and string/ },
  { name: 'unclosed like set', request: { table: 'trade', start: S, end: E, filters: [{ column: 'sym', op: 'like', value: 'A[B' }] }, param: 'filters', reason: /unclosed/ },
  { name: 'filter value of the wrong type', request: { table: 'trade', start: S, end: E, filters: [{ column: 'price', op: '>', value: 'high' }] }, param: 'filters', reason: /must be a number/ },
  { name: 'aggregation on a non-numeric column', request: { table: 'trade', start: S, end: E, aggregations: [{ op: 'sum', column: 'sym' }] }, param: 'aggregations', reason: /sum needs a numeric column; sym is symbol/ },
  { name: 'avg on a string', request: { table: 'trade', start: S, end: E, aggregations: { avg: ['venue'] } }, param: 'aggregations', reason: /numeric column; venue is string/ },
  { name: 'unknown aggregation', request: { table: 'trade', start: S, end: E, aggregations: [{ op: 'mode', column: 'price' }] }, param: 'aggregations', reason: /unknown aggregation "mode"/ },
  { name: 'wavg needs two columns', request: { table: 'trade', start: S, end: E, aggregations: [{ op: 'wavg', column: 'price' }] }, param: 'aggregations', reason: /weightColumn, valueColumn/ },
  { name: 'aggregation unknown column', request: { table: 'trade', start: S, end: E, aggregations: [{ op: 'max', column: 'px' }] }, param: 'aggregations', reason: /unknown column px/ },
  { name: 'duplicate output', request: { table: 'trade', start: S, end: E, aggregations: [{ op: 'max', column: 'price' }, { op: 'max', column: 'price' }] }, param: 'aggregations', reason: /appears twice/ },
  { name: 'grouping without aggregations', request: { table: 'trade', start: S, end: E, grouping: ['sym'] }, param: 'grouping', reason: /needs aggregations/ },
  { name: 'grouping unknown column', request: { table: 'trade', start: S, end: E, grouping: ['px'], aggregations: [{ op: 'count' }] }, param: 'grouping', reason: /unknown column px/ },
  { name: 'grouping by a float', request: { table: 'trade', start: S, end: E, grouping: ['price'], aggregations: [{ op: 'count' }] }, param: 'grouping', reason: /float/ },
  { name: 'columns with aggregations', request: { table: 'trade', start: S, end: E, columns: ['sym'], aggregations: [{ op: 'count' }] }, param: 'columns', reason: /cannot be combined/ },
  { name: 'bad timebar unit', request: { table: 'trade', start: S, end: E, timebar: { size: 5, unit: 'minutes' }, aggregations: [{ op: 'count' }] }, param: 'timebar', reason: /bad unit "minutes"/ },
  { name: 'timebar size zero', request: { table: 'trade', start: S, end: E, timebar: { size: 0, unit: 'm' }, aggregations: [{ op: 'count' }] }, param: 'timebar', reason: /positive integer/ },
  { name: 'timebar on a non-timestamp', request: { table: 'trade', start: S, end: E, timebar: { size: 1, unit: 'm', column: 'latency' }, aggregations: [{ op: 'count' }] }, param: 'timebar', reason: /not a timestamp/ },
  { name: 'timebar without aggregations', request: { table: 'trade', start: S, end: E, timebar: { size: 1, unit: 'm' } }, param: 'timebar', reason: /needs aggregations/ },
  { name: 'ordering unknown column', request: { table: 'trade', start: S, end: E, ordering: [{ column: 'px' }] }, param: 'ordering', reason: /unknown output column px/ },
  { name: 'ordering bad dir', request: { table: 'trade', start: S, end: E, ordering: [{ column: 'price', dir: 'up' }] }, param: 'ordering', reason: /asc or desc/ },
  { name: 'limit not an integer', request: { table: 'trade', start: S, end: E, limit: 1.5 }, param: 'limit', reason: /integer/ },
  { name: 'limit too large', request: { table: 'trade', start: S, end: E, limit: 10_000_000 }, param: 'limit', reason: /at most/ },
  { name: 'rename unknown column', request: { table: 'trade', start: S, end: E, rename: { px: 'p' } }, param: 'rename', reason: /no output column px/ },
  { name: 'rename clash', request: { table: 'trade', start: S, end: E, rename: { price: 'size' } }, param: 'rename', reason: /clashes/ },
  { name: 'partial with med', request: { table: 'trade', start: S, end: E, aggregations: { med: ['price'] }, partial: true }, param: 'partial', reason: /med cannot be merged/ },
  { name: 'partial without aggregations', request: { table: 'trade', start: S, end: E, partial: true }, param: 'partial', reason: /applies to aggregations/ },
];

/** BAD_QUERY cases of the as-of join. */
export const badAsofs: { name: string; request: unknown; param: string; reason: RegExp }[] = [
  { name: 'missing right', request: { table: 'trade', start: S, end: E }, param: 'right', reason: /missing required parameter/ },
  { name: 'unknown right table', request: { table: 'trade', start: S, end: E, right: { table: 'nope' } }, param: 'right.table', reason: /unknown table/ },
  { name: 'column on both sides', request: { table: 'trade', start: S, end: E, columns: ['sym', 'price'], right: { table: 'quote', columns: ['price'] } }, param: 'right.columns', reason: /unknown column price/ },
  { name: 'right column clashes with a left one', request: { table: 'trade', start: S, end: E, columns: ['time', 'sym', 'price'], right: { table: 'quote', columns: ['time'] } }, param: 'right.columns', reason: /also a left column/ },
  { name: 'equality column not a symbol', request: { table: 'trade', start: S, end: E, on: ['price', 'time'], right: { table: 'quote' } }, param: 'on', reason: /must be a symbol/ },
  { name: 'as-of column not a timestamp', request: { table: 'trade', start: S, end: E, on: ['sym', 'sym'], right: { table: 'quote' } }, param: 'on', reason: /must be a timestamp/ },
];
