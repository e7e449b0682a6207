// Proves the RDB query engine's semantics on hand-checked data: default row order, every filter
// operator (nulls included), every aggregation, time bars, ordering/limit/rename, chunk summaries
// agreeing with the plain scan, partial aggregates merging to the whole answer, the JSON form,
// and the full BAD_QUERY catalogue (param named, reason given). Pure: no NATS, no files.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { mergePartials } from '../../storage/query/finalize.ts';
import { likeToGlob, likeToRegExp } from '../../storage/query/like.ts';
import { planFor, runAsof, runQuery } from '../../storage/query/memory.ts';
import { NULL_LONG, resultToJson, type QueryResult } from '../../storage/query/result.ts';
import { runSimpleQuery } from '../../storage/query/simple.ts';
import { parseSortCsv, sortColumnsFor, defaultSortConfig } from '../../storage/hdb/sort_config.ts';
import { badAsofs, badQueries, dayNs, diffResults, makeDay, SYMS } from './storage_fixtures.ts';

const D = '2024-03-04';
const T0 = dayNs(D) + 36_000_000_000_000n; // 10:00
const S = '2024-03-04T00:00:00Z';
const E = '2024-03-04T23:59:59.999999999Z';
const sec = (s: number) => T0 + BigInt(s) * 1_000_000_000n;

/** Eight hand-written trades (arrival order), with ties in time and a null price. */
function tiny(): Map<string, MemTable> {
  const schema = defineTable('trade', { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', venue: 'string', lot: 'int' });
  const t = new MemTable(schema, new SymbolTable());
  const rows: [bigint, string, number, number, string, number][] = [
    [sec(0), 'IBM', 10, 100, 'XNYS', 1],
    [sec(0), 'AAPL', 20, 200, 'XNAS', 2],
    [sec(1), 'IBM', 12, 300, 'XNAS', 3],
    [sec(1), 'IBM', 11, 100, 'BATS', 4],
    [sec(2), 'AAPL', NaN, 500, 'XNYS', 5],
    [sec(61), 'IBM', 14, 100, 'XNYS', 6],
    [sec(61), 'AAPL', 22, 100, 'IEX*', 7],
    [sec(30), 'MSFT', 30, 700, 'XNAS', 8], // late: out of time order
  ];
  t.append({
    table: 'trade',
    n: rows.length,
    cols: {
      time: BigInt64Array.from(rows, (r) => r[0]),
      sym: { dict: ['IBM', 'AAPL', 'MSFT'], codes: Uint32Array.from(rows, (r) => ['IBM', 'AAPL', 'MSFT'].indexOf(r[1])) },
      price: Float64Array.from(rows, (r) => r[2]),
      size: BigInt64Array.from(rows, (r) => BigInt(r[3])),
      venue: rows.map((r) => r[4]),
      lot: Int32Array.from(rows, (r) => r[5]),
    },
  });
  return new Map([['trade', t]]);
}

const q = (extra: Record<string, unknown>) => ({ table: 'trade', start: S, end: E, ...extra });
const col = (r: QueryResult, c: string) => Array.from(r.cols[c] as ArrayLike<unknown>);

function expectBadQuery(fn: () => unknown, param: string, reason: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    const err = e as TickbusError;
    expect(err.code).toBe(ErrorCode.BAD_QUERY);
    expect(err.detail.param).toBe(param);
    expect(err.message).toMatch(reason);
    return;
  }
  throw new Error('expected a BAD_QUERY');
}

describe('rdb query: rows', () => {
  const tables = tiny();

  it('rdb: raw rows come ordered by time, then sym, then arrival', () => {
    const r = runQuery(tables, q({ columns: ['sym', 'price'] }));
    expect(col(r, 'sym')).toEqual(['AAPL', 'IBM', 'IBM', 'IBM', 'AAPL', 'MSFT', 'AAPL', 'IBM']);
    expect(col(r, 'price').slice(0, 4)).toEqual([20, 10, 12, 11]);
    expect(r.types).toEqual(['symbol', 'float']);
  });

  it('rdb: start and end bound time inclusively', () => {
    const r = runQuery(tables, { table: 'trade', start: sec(1), end: sec(2), columns: ['lot'] });
    expect(col(r, 'lot')).toEqual([3, 4, 5]);
  });

  it('rdb: instruments and every filter operator, nulls failing positive tests and passing negated ones', () => {
    const lots = (filters: unknown[], extra: Record<string, unknown> = {}) => col(runQuery(tables, q({ columns: ['lot'], filters, ...extra })), 'lot').sort();
    expect(lots([], { instruments: ['AAPL', 'MSFT'] })).toEqual([2, 5, 7, 8]);
    expect(lots([], { instruments: 'IBM' })).toEqual([1, 3, 4, 6]);
    expect(lots([{ column: 'price', op: '=', value: 12 }])).toEqual([3]);
    expect(lots([{ column: 'price', op: '!=', value: 12 }])).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(lots([{ column: 'price', op: '<', value: 12 }])).toEqual([1, 4]);
    expect(lots([{ column: 'price', op: '<=', value: 12 }])).toEqual([1, 3, 4]);
    expect(lots([{ column: 'price', op: '>', value: 20 }])).toEqual([7, 8]);
    expect(lots([{ column: 'price', op: '>=', value: 20 }])).toEqual([2, 7, 8]);
    expect(lots([{ column: 'price', op: 'within', value: [11, 14] }])).toEqual([3, 4, 6]);
    expect(lots([{ column: 'price', op: 'not within', value: [11, 14] }])).toEqual([1, 2, 5, 7, 8]);
    expect(lots([{ column: 'size', op: 'in', value: [100, 700] }])).toEqual([1, 4, 6, 7, 8]);
    expect(lots([{ column: 'size', op: 'not in', value: [100, 700] }])).toEqual([2, 3, 5]);
    expect(lots([{ column: 'sym', op: 'like', value: '*M' }])).toEqual([1, 3, 4, 6]);
    expect(lots([{ column: 'sym', op: 'not like', value: '[AM]*' }])).toEqual([1, 3, 4, 6]);
    expect(lots([{ column: 'venue', op: 'like', value: 'X??S' }])).toEqual([1, 2, 3, 5, 6, 8]);
    expect(lots([{ column: 'venue', op: 'like', value: 'IEX[*]' }])).toEqual([7]);
    expect(lots([{ column: 'time', op: '>=', value: '2024-03-04T10:00:30Z' }])).toEqual([6, 7, 8]);
    expect(lots([{ column: 'lot', op: 'in', value: [1, 8] }, { column: 'sym', op: '!=', value: 'IBM' }])).toEqual([8]);
  });

  it('rdb: ordering, then negative limit (the last rows), then rename', () => {
    const r = runQuery(tables, q({ columns: ['sym', 'size', 'lot'], ordering: [{ column: 'size', dir: 'desc' }], limit: -3, rename: { lot: 'n' } }));
    expect(r.columns).toEqual(['sym', 'size', 'n']);
    // size desc: 700 500 300 200 100(x4, ties in default order: lots 1 4 6 7); the last three.
    expect(col(r, 'n')).toEqual([4, 7, 6]);
  });
});

describe('rdb query: aggregations', () => {
  const tables = tiny();

  it('rdb: count sum avg min max by sym, nulls skipped, groups ordered by key', () => {
    const r = runQuery(
      tables,
      q({ grouping: ['sym'], aggregations: { count: [], sum: ['size', 'lot'], avg: ['price'], min: ['price', 'time'], max: ['price'] } }),
    );
    expect(r.columns).toEqual(['sym', 'count', 'sumSize', 'sumLot', 'avgPrice', 'minPrice', 'minTime', 'maxPrice']);
    expect(r.types).toEqual(['symbol', 'long', 'long', 'long', 'float', 'float', 'timestamp', 'float']);
    expect(col(r, 'sym')).toEqual(['AAPL', 'IBM', 'MSFT']);
    expect(col(r, 'count')).toEqual([3n, 4n, 1n]);
    expect(col(r, 'sumSize')).toEqual([800n, 600n, 700n]);
    expect(col(r, 'avgPrice')).toEqual([21, 11.75, 30]);
    expect(col(r, 'minPrice')).toEqual([20, 10, 30]);
    expect(col(r, 'minTime')).toEqual([sec(0), sec(0), sec(30)]);
    expect(col(r, 'maxPrice')).toEqual([22, 14, 30]);
  });

  it('rdb: first and last by time, ties by sym then arrival; wavg, wsum, med, dev, var', () => {
    const r = runQuery(
      tables,
      q({
        aggregations: [
          { op: 'first', column: 'lot' },
          { op: 'last', column: 'lot' },
          { op: 'wavg', columns: ['size', 'price'] },
          { op: 'wsum', columns: ['size', 'lot'] },
          { op: 'med', column: 'lot' },
          { op: 'dev', column: 'lot' },
          { op: 'var', column: 'price', as: 'v' },
        ],
      }),
    );
    expect(r.n).toBe(1);
    // First: time sec(0) has AAPL (lot 2) and IBM (lot 1): AAPL sorts first. Last: sec(61), IBM.
    expect(col(r, 'firstLot')).toEqual([2]);
    expect(col(r, 'lastLot')).toEqual([6]);
    const prices = [10, 20, 12, 11, 14, 22, 30];
    const sizes = [100, 200, 300, 100, 100, 100, 700];
    const wavg = prices.reduce((a, p, i) => a + p * sizes[i]!, 0) / sizes.reduce((a, s) => a + s, 0);
    expect(col(r, 'wavgSizePrice')[0]).toBeCloseTo(wavg, 12);
    expect(col(r, 'wsumSizeLot')).toEqual([100 * 1 + 200 * 2 + 300 * 3 + 100 * 4 + 500 * 5 + 100 * 6 + 100 * 7 + 700 * 8]);
    expect(col(r, 'medLot')).toEqual([4.5]);
    const lots = [1, 2, 3, 4, 5, 6, 7, 8];
    const mean = 4.5;
    expect(col(r, 'devLot')[0]).toBeCloseTo(Math.sqrt(lots.reduce((a, x) => a + (x - mean) ** 2, 0) / 8), 12);
    const pm = prices.reduce((a, x) => a + x, 0) / prices.length;
    expect(col(r, 'v')[0]).toBeCloseTo(prices.reduce((a, x) => a + (x - pm) ** 2, 0) / prices.length, 10);
  });

  it('rdb: time bars are epoch-aligned and group with other keys', () => {
    const r = runQuery(tables, q({ grouping: ['sym'], timebar: { size: 1, unit: 'm' }, aggregations: [{ op: 'count' }] }));
    expect(r.columns).toEqual(['sym', 'time', 'count']);
    expect(col(r, 'sym')).toEqual(['AAPL', 'AAPL', 'IBM', 'IBM', 'MSFT']);
    expect(col(r, 'time')).toEqual([sec(0), sec(60), sec(0), sec(60), sec(0)]);
    expect(col(r, 'count')).toEqual([2n, 1n, 3n, 1n, 1n]);
  });

  it('rdb: an ungrouped aggregate over no rows is one row of nulls; a grouped one has no rows', () => {
    const none = { start: '2024-03-05T00:00:00Z', end: '2024-03-05T01:00:00Z' };
    const r = runQuery(tables, { ...q({ aggregations: { count: [], sum: ['size'], max: ['price', 'time'], first: ['sym'], avg: ['lot'] } }), ...none });
    expect(r.n).toBe(1);
    expect(col(r, 'count')).toEqual([0n]);
    expect(col(r, 'sumSize')).toEqual([0n]);
    expect(Number.isNaN(col(r, 'maxPrice')[0])).toBe(true);
    expect(col(r, 'maxTime')).toEqual([NULL_LONG]);
    expect(col(r, 'firstSym')).toEqual(['']);
    expect(Number.isNaN(col(r, 'avgLot')[0])).toBe(true);
    expect(resultToJson(r).cols.maxTime).toEqual([null]);
    expect(runQuery(tables, { ...q({ grouping: ['sym'], aggregations: { count: [] } }), ...none }).n).toBe(0);
  });

  it('rdb: ordering on an aggregate with a limit; rename of a key', () => {
    const r = runQuery(tables, q({ grouping: ['sym'], aggregations: { sum: ['size'] }, ordering: [{ column: 'sumSize', dir: 'desc' }], limit: 2, rename: { sym: 'instrument' } }));
    expect(r.columns).toEqual(['instrument', 'sumSize']);
    expect(col(r, 'instrument')).toEqual(['AAPL', 'MSFT']);
  });
});

describe('rdb query: larger data', () => {
  const day = makeDay(D, 150_000, 7);
  const tables = new Map([
    ['trade', day.trade],
    ['quote', day.quote],
  ]);

  it('rdb: chunk summaries give the same answer as the plain scan', () => {
    for (const extra of [
      { grouping: ['sym'], aggregations: { count: [], sum: ['size', 'lot'], avg: ['price', 'size'], min: ['price', 'size', 'lot'], max: ['price', 'size'] } },
      { aggregations: { count: [], max: ['price'], sum: ['size'] }, instruments: ['IBM', 'A'] },
      { grouping: ['sym'], aggregations: { max: ['price'], sum: ['size'] }, start: '2024-03-04T09:45:00Z' },
    ]) {
      const req = { ...q({}), ...extra };
      const scanned = runQuery(tables, req, { summaries: false });
      const first = runQuery(tables, req);
      const cached = runQuery(tables, req);
      expect(diffResults(scanned, first)).toBeUndefined();
      expect(diffResults(scanned, cached)).toBeUndefined();
    }
  });

  it('rdb: partial aggregates of two halves merge to the answer over the whole', () => {
    const mid = dayNs(D) + 34_200_000_000_000n + 60_000_000_000n;
    const req = q({
      grouping: ['sym'],
      timebar: { size: 30, unit: 's' },
      aggregations: { count: [], sum: ['size'], avg: ['price'], min: ['price'], max: ['time'], first: ['price'], last: ['venue'], wavg: [['size', 'price']], dev: ['price'], var: ['lot'] },
    });
    const whole = runQuery(tables, req);
    const a = runQuery(tables, { ...req, end: mid - 1n, partial: true });
    const b = runQuery(tables, { ...req, start: mid, partial: true });
    expect(a.partial).toBe(true);
    const merged = mergePartials(planFor(tables, req), [a, b]);
    expect(diffResults(whole, merged)).toBeUndefined();
    expect(whole.n).toBeGreaterThan(10);
  });

  it('rdb: as-of join takes the last quote at or before each trade, by sym', () => {
    const r = runAsof(tables, q({ columns: ['time', 'sym', 'price'], right: { table: 'quote', columns: ['bid'] }, limit: 500 }));
    expect(r.columns).toEqual(['time', 'sym', 'price', 'bid']);
    // Brute force: the last-arriving quote of the same sym with the greatest time <= the trade's.
    const qt = day.quote;
    const quotes = Array.from({ length: qt.n }, (_, i) => ({ t: qt.get('time', i) as bigint, s: day.syms.names[qt.get('sym', i) as number]!, bid: qt.get('bid', i) as number }));
    for (let i = 0; i < r.n; i++) {
      const t = (r.cols.time as BigInt64Array)[i]!;
      const s = (r.cols.sym as string[])[i]!;
      let best: (typeof quotes)[number] | undefined;
      for (const x of quotes) if (x.s === s && x.t <= t && (!best || x.t >= best.t)) best = x;
      const got = (r.cols.bid as Float64Array)[i]!;
      if (best) expect(got).toBe(best.bid);
      else expect(Number.isNaN(got)).toBe(true);
    }
  });

  it('rdb: runSimpleQuery keeps serving the simple query', () => {
    const r = runSimpleQuery(tables, { table: 'trade', columns: ['sym', 'size'], syms: [SYMS[0]!], limit: 5 });
    expect(r.n).toBe(5);
    expect(new Set(r.cols.sym as string[])).toEqual(new Set([SYMS[0]]));
  });

  it('rdb: the simple query on a table with no rows yet answers no rows with typed columns (was INTERNAL)', () => {
    const empty = new MemTable(defineTable('trade', { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', flag: 'bool' }), new SymbolTable());
    const r = runSimpleQuery(new Map([['trade', empty]]), { table: 'trade', columns: ['time', 'sym', 'price', 'size', 'flag'] });
    expect(r.n).toBe(0);
    expect(r.cols.time).toBeInstanceOf(BigInt64Array);
    expect(r.cols.price).toBeInstanceOf(Float64Array);
    expect(r.cols.flag).toBeInstanceOf(Uint8Array);
    expect(r.cols.sym).toEqual([]);
  });
});

describe('rdb query: errors', () => {
  const day = makeDay(D, 100, 3);
  const tables = new Map([
    ['trade', day.trade],
    ['quote', day.quote],
  ]);
  for (const c of badQueries) {
    it(`rdb: BAD_QUERY names ${c.param} when ${c.name}`, () => expectBadQuery(() => runQuery(tables, c.request), c.param, c.reason));
  }
  for (const c of badAsofs) {
    it(`rdb: as-of BAD_QUERY names ${c.param} when ${c.name}`, () => expectBadQuery(() => runAsof(tables, c.request), c.param, c.reason));
  }
});

describe('storage helpers', () => {
  it('query: kdb like patterns become anchored regexps and DuckDB globs', () => {
    expect(likeToRegExp('A*').test('AAPL')).toBe(true);
    expect(likeToRegExp('A*').test('BA')).toBe(false);
    expect(likeToRegExp('?B[^C]').test('ABD')).toBe(true);
    expect(likeToRegExp('?B[^C]').test('ABC')).toBe(false);
    expect(likeToRegExp('a.b').test('axb')).toBe(false);
    expect(likeToGlob('[^C]*')).toBe('[!C]*');
    expect(likeToGlob('IEX[*]')).toBe('IEX[*]');
    expect(likeToGlob('[!]x')).toBe('[!]x');
  });

  it('query: JSON turns int64s, times, dates and nulls into JSON values', () => {
    const tables = tiny();
    const r = runQuery(tables, q({ columns: ['time', 'price', 'size'], limit: 5 }));
    const j = resultToJson(r);
    expect(j.cols.time![0]).toBe('2024-03-04T10:00:00.000000000Z');
    expect(j.cols.size![0]).toBe(200);
    expect(j.cols.price).toContain(null);
    expect(JSON.parse(JSON.stringify(j)).n).toBe(5);
  });

  it('hdb: sort.csv parses per-table sort columns with the default fallback', () => {
    const cfg = parseSortCsv('tabname,att,column,sort\ndefault,p,sym,1\ndefault,,time,1\nquote,,time,1\nlog,,id,0\n');
    expect(sortColumnsFor(cfg, 'trade').map((c) => c.column)).toEqual(['sym', 'time']);
    expect(sortColumnsFor(cfg, 'quote').map((c) => c.column)).toEqual(['time']);
    expect(sortColumnsFor(cfg, 'log')).toEqual([]);
    expect(sortColumnsFor(defaultSortConfig, 'x')[0]).toEqual({ column: 'sym', att: 'p' });
    expect(() => parseSortCsv('tab,col\n')).toThrow(/header/);
  });
});
