// Proves the RDB's fused aggregation kernels (storage/query/kernel.ts) give exactly the answers of
// a straightforward row-at-a-time reference and of the engine's one-loop-per-aggregation path:
// random data over several chunks, float nulls (a sym with only nulls), -Infinity, negative and
// > 2^32 longs (the high-half pass), every group-index source (by sym, none, two keys), whole
// chunks and row selections (time sub-range, instruments, filters), time bars (a chunk inside one
// bar and chunks across many), and the pair-id table behind several keys. Pure: no NATS, no files.
import { describe, expect, it } from 'vitest';
import { kernelSource } from '../../storage/query/kernel.ts';
import { runQuery } from '../../storage/query/memory.ts';
import { PairIds } from '../../storage/query/memory/group.ts';
import { NULL_INT, NULL_LONG, type QueryResult } from '../../storage/query/result.ts';
import { defineTable } from '../../storage/schema.ts';
import { CHUNK_ROWS, MemTable, SymbolTable } from '../../storage/table.ts';
import { dayNs, diffResults, prng } from './storage_fixtures.ts';

const D = '2024-03-04';
const S = '2024-03-04T00:00:00Z';
const E = '2024-03-04T23:59:59.999999999Z';
const SYMS = ['AAPL', 'IBM', 'MSFT', 'NULLS', 'ZZ'];
const schema = defineTable('t', { time: 'timestamp', sym: 'symbol', side: 'symbol', price: 'float', size: 'long', lot: 'int', settle: 'date', lat: 'timespan' });

/** 2.5 chunks of random rows in batches; times mostly ascending with some out of order. */
function table(seed: number): MemTable {
  const rnd = prng(seed);
  const t = new MemTable(schema, new SymbolTable());
  const rows = Math.floor(CHUNK_ROWS * 2.5);
  let clock = dayNs(D) + 34_200_000_000_000n;
  for (let off = 0; off < rows; off += 7_777) {
    const n = Math.min(7_777, rows - off);
    const time = new BigInt64Array(n);
    const sym = new Uint32Array(n);
    const side = new Uint32Array(n);
    const price = new Float64Array(n);
    const size = new BigInt64Array(n);
    const lot = new Int32Array(n);
    const settle = new Int32Array(n);
    const lat = new BigInt64Array(n);
    // Batch kinds: small positive longs (no high halves), mixed sign and huge longs, negatives.
    const kind = Math.floor(rnd() * 3);
    for (let i = 0; i < n; i++) {
      clock += BigInt(Math.floor(rnd() * 1_000_000));
      time[i] = rnd() < 0.02 ? clock - 5_000_000_000n : clock;
      sym[i] = Math.floor(rnd() * SYMS.length);
      side[i] = rnd() < 0.5 ? 0 : 1;
      price[i] = SYMS[sym[i]!] === 'NULLS' || rnd() < 0.1 ? NaN : rnd() < 0.001 ? -Infinity : Math.round((rnd() - 0.3) * 1e7) / 100;
      size[i] =
        kind === 0 ? BigInt(Math.floor(rnd() * 10_000)) : kind === 1 ? BigInt(Math.floor((rnd() - 0.5) * 2 ** 40)) * 1000n + BigInt(Math.floor(rnd() * 1000)) : -BigInt(Math.floor(rnd() * 5000));
      lot[i] = Math.floor((rnd() - 0.5) * 2 ** 31);
      settle[i] = 19_700 + Math.floor(rnd() * 30);
      lat[i] = BigInt(Math.floor(rnd() * 2 ** 34)) - 1000n;
    }
    t.append({ table: 't', n, cols: { time, sym: { dict: SYMS, codes: sym }, side: { dict: ['buy', 'sell'], codes: side }, price, size, lot, settle, lat } });
  }
  return t;
}

type Row = { time: bigint; sym: string; side: string; price: number; size: bigint; lot: number; settle: number; lat: bigint };

const rowCache = new WeakMap<MemTable, Row[]>();
function rowsOf(t: MemTable): Row[] {
  let rows = rowCache.get(t);
  if (rows) return rows;
  rows = [];
  for (let i = 0; i < t.n; i++) {
    rows.push({
      time: t.get('time', i) as bigint,
      sym: t.syms.names[t.get('sym', i) as number]!,
      side: t.syms.names[t.get('side', i) as number]!,
      price: t.get('price', i) as number,
      size: t.get('size', i) as bigint,
      lot: t.get('lot', i) as number,
      settle: t.get('settle', i) as number,
      lat: t.get('lat', i) as bigint,
    });
  }
  rowCache.set(t, rows);
  return rows;
}

/** Row-at-a-time reference: count, sum, avg, min, max by the given keys over the passing rows (`time` floored to barNs when given). */
function reference(t: MemTable, keys: string[], pass: (r: Row) => boolean, barNs?: bigint): Map<string, Record<string, unknown>> {
  const groups = new Map<string, Row[]>();
  for (const r of rowsOf(t)) {
    if (!pass(r)) continue;
    const k = keys.map((c) => (c === 'time' && barNs ? r.time - (r.time % barNs) : r[c as keyof Row])).join('|');
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(r);
  }
  const out = new Map<string, Record<string, unknown>>();
  for (const [k, rows] of groups) {
    const prices = rows.map((r) => r.price).filter((x) => !Number.isNaN(x));
    let sumPrice = 0;
    for (const x of prices) sumPrice += x; // row order, as the engine adds
    const sumSize = rows.reduce((a, r) => a + r.size, 0n);
    const sumLot = rows.reduce((a, r) => a + BigInt(r.lot), 0n);
    const minB = <T extends number | bigint>(xs: T[]) => xs.reduce((a, b) => (b < a ? b : a));
    const maxB = <T extends number | bigint>(xs: T[]) => xs.reduce((a, b) => (b > a ? b : a));
    out.set(k, {
      count: BigInt(rows.length),
      sumPrice,
      sumSize: BigInt.asIntN(64, sumSize),
      sumLot,
      avgPrice: prices.length ? sumPrice / prices.length : NaN,
      avgSize: Number(sumSize) / rows.length,
      minPrice: prices.length ? minB(prices) : NaN,
      maxPrice: prices.length ? maxB(prices) : NaN,
      minSize: minB(rows.map((r) => r.size)),
      maxSize: maxB(rows.map((r) => r.size)),
      minLot: minB(rows.map((r) => r.lot)),
      maxLot: maxB(rows.map((r) => r.lot)),
      minTime: minB(rows.map((r) => r.time)),
      maxTime: maxB(rows.map((r) => r.time)),
      minSettle: minB(rows.map((r) => r.settle)),
      maxSettle: maxB(rows.map((r) => r.settle)),
      minLat: minB(rows.map((r) => r.lat)),
      maxLat: maxB(rows.map((r) => r.lat)),
    });
  }
  return out;
}

const aggregations = {
  count: [],
  sum: ['price', 'size', 'lot'],
  avg: ['price', 'size'],
  min: ['price', 'size', 'lot', 'time', 'settle', 'lat'],
  max: ['price', 'size', 'lot', 'time', 'settle', 'lat'],
  wavg: [['size', 'price']],
};

function expectMatchesReference(res: QueryResult, keys: string[], ref: Map<string, Record<string, unknown>>): void {
  expect(res.n).toBe(ref.size);
  for (let i = 0; i < res.n; i++) {
    const k = keys.map((c) => res.cols[c]![i]).join('|');
    const want = ref.get(k);
    expect(want, `group ${k}`).toBeDefined();
    for (const [c, v] of Object.entries(want!)) {
      const got = res.cols[c]![i];
      if (c.startsWith('avg') && !Number.isNaN(v)) expect(got as number, `${k} ${c}`).toBeCloseTo(v as number, 6);
      else expect(got, `${k} ${c}`).toEqual(v);
    }
  }
}

describe('rdb fused kernels', () => {
  const t = table(42);
  const tables = new Map([['t', t]]);
  const mid = dayNs(D) + 34_200_000_000_000n + BigInt(CHUNK_ROWS) * 500_000n; // inside chunk 1
  const cases: { name: string; extra: Record<string, unknown>; keys: string[]; pass: (r: Row) => boolean; barNs?: bigint }[] = [
    { name: 'by sym, whole chunks', extra: { grouping: ['sym'] }, keys: ['sym'], pass: () => true },
    { name: 'no grouping', extra: {}, keys: [], pass: () => true },
    { name: 'two keys (general grouper)', extra: { grouping: ['sym', 'side'] }, keys: ['sym', 'side'], pass: () => true },
    { name: 'time sub-range (row selection)', extra: { grouping: ['sym'], start: mid }, keys: ['sym'], pass: (r) => r.time >= mid },
    { name: 'instruments', extra: { grouping: ['sym'], instruments: ['IBM', 'NULLS'] }, keys: ['sym'], pass: (r) => r.sym === 'IBM' || r.sym === 'NULLS' },
    { name: 'filter on price', extra: { grouping: ['side'], filters: [{ column: 'price', op: '>', value: 0 }] }, keys: ['side'], pass: (r) => r.price > 0 },
    // A chunk spans ~33 s of rows: 1 s bars change within chunks (the per-row path), 1 h bars
    // mostly hold whole chunks (one id for the chunk), and a late row can fall in an earlier bar.
    { name: 'by sym and 1 s bars, filtered', extra: { grouping: ['sym'], timebar: { size: 1, unit: 's' }, filters: [{ column: 'price', op: '>', value: 0 }] }, keys: ['sym', 'time'], pass: (r) => r.price > 0, barNs: 1_000_000_000n },
    // 1 min bars: chunks 0 and 1 cross a bar (late rows, 09:31), the last one sits in the second bar
    // (one pair lookup per sym for that chunk).
    { name: 'by sym and 1 min bars, filtered', extra: { grouping: ['sym'], timebar: { size: 1, unit: 'm' }, filters: [{ column: 'price', op: '>', value: 0 }] }, keys: ['sym', 'time'], pass: (r) => r.price > 0, barNs: 60_000_000_000n },
    { name: 'by sym, side and 1 h bars', extra: { grouping: ['sym', 'side'], timebar: { size: 1, unit: 'h' } }, keys: ['sym', 'side', 'time'], pass: () => true, barNs: 3_600_000_000_000n },
    { name: '1 h bars over a time sub-range', extra: { timebar: { size: 1, unit: 'h' }, start: mid }, keys: ['time'], pass: (r) => r.time >= mid, barNs: 3_600_000_000_000n },
  ];
  for (const c of cases) {
    it(`kernel: ${c.name} equals the reference and the per-aggregation loops exactly`, () => {
      const req = { table: 't', start: S, end: E, aggregations, ...c.extra };
      const fused = runQuery(tables, req, { summaries: false });
      const loops = runQuery(tables, req, { summaries: false, fused: false });
      expect(diffResults(fused, loops, 0)).toBeUndefined();
      expectMatchesReference(fused, c.keys, reference(t, c.keys, c.pass, c.barNs));
      // And as mergeable parts (the gateway's path): the same parts either way.
      expect(diffResults(runQuery(tables, { ...req, partial: true }, { summaries: false }), runQuery(tables, { ...req, partial: true }, { summaries: false, fused: false }), 0)).toBeUndefined();
    });
  }

  it('kernel: a sym with only null prices gives null min/max/avg and a zero float sum', () => {
    const r = runQuery(tables, { table: 't', start: S, end: E, grouping: ['sym'], aggregations, instruments: ['NULLS'] }, { summaries: false });
    expect(r.n).toBe(1);
    expect(r.cols.maxPrice![0]).toBeNaN();
    expect(r.cols.minPrice![0]).toBeNaN();
    expect(r.cols.avgPrice![0]).toBeNaN();
    expect(r.cols.sumPrice![0]).toBe(0);
  });

  it('kernel: an empty selection gives nulls (ungrouped) and the null sentinels stay typed', () => {
    const r = runQuery(tables, { table: 't', start: S, end: E, aggregations, instruments: ['NOPE'] }, { summaries: false });
    expect(r.n).toBe(1);
    expect(r.cols.count![0]).toBe(0n);
    expect(r.cols.maxSize![0]).toBe(NULL_LONG);
    expect(r.cols.maxLot![0]).toBe(NULL_INT);
    expect(r.cols.maxPrice![0]).toBeNaN();
  });

  it('kernel: wavg (fused) is the row-order weighted mean of the non-null pairs', () => {
    const r = runQuery(tables, { table: 't', start: S, end: E, grouping: ['sym'], aggregations: { wavg: [['lot', 'price']] } }, { summaries: false });
    for (let i = 0; i < r.n; i++) {
      let wv = 0;
      let w = 0;
      for (const row of rowsOf(t)) {
        if (row.sym !== r.cols.sym![i] || Number.isNaN(row.price)) continue;
        wv += row.lot * row.price;
        w += row.lot;
      }
      // NULLS has no non-null price: no pair, a null (NaN) mean.
      expect(r.cols.wavgLotPrice![i], String(r.cols.sym![i])).toBe(r.cols.sym![i] === 'NULLS' ? NaN : wv / w);
    }
    expect(r.n).toBe(SYMS.length);
  });

  it('kernel: pair ids are dense, in order of first appearance, and survive the table growing', () => {
    const rnd = prng(7);
    const ids = new PairIds();
    const want = new Map<string, number>();
    for (let i = 0; i < 200_000; i++) {
      const a = Math.floor(rnd() * 3_000);
      const b = rnd() < 0.5 ? Math.floor(rnd() * 40) : Math.floor(rnd() * 2 ** 31);
      const k = `${a},${b}`;
      if (!want.has(k)) want.set(k, want.size);
      const got = ids.id(a, b);
      if (got !== want.get(k)) expect(got, `pair ${k} at step ${i}`).toBe(want.get(k));
    }
    expect(ids.size).toBe(want.size);
    expect(ids.size).toBeGreaterThan(100_000);
  });

  it('kernel: the generated source splices only the fixed statements', () => {
    const src = kernelSource([{ row: '$0[g]++;' }, { row: '$0[g] += $1[r]; $s |= 1;', decl: 'let $s = 0;', post: '$2[0] = $s;' }], [1, 3]);
    expect(src).toContain('a0_0[g]++;');
    expect(src).toContain('a1_0[g] += a1_1[r]; s1 |= 1;');
    expect(src).toContain('a1_2[0] = s1;');
    expect(src).not.toContain('$');
  });
});
