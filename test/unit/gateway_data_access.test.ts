// Proves the gateway's data-access split and merge without a bus: three days of trades are held
// as two "processes" (an HDB with 2026-11-20..21 as a first..last range, an RDB with 2026-11-22
// as a dates list); for each query the planner's parts run on their process with the real query
// engine (storage/query/memory.ts runQuery), the planner's merge joins them, and the answer must
// equal one engine run over all three days: raw rows (limit, last rows, ordering, rename) and
// count/sum/min/max/avg/first/last/wavg/dev/var, grouped and not, with time bars. Also: a range
// inside one process passes through unsplit; med across processes is a named error; no holder
// is NO_MATCHING_PROCESS; a day in end-of-day hand-off holds the query; a day is never sent twice.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { runQuery } from '../../storage/query/memory.ts';
import type { QueryResult, ResultColumn } from '../../storage/query/result.ts';
import { defineSchema } from '../../storage/schema.ts';
import type { MemTable } from '../../storage/table.ts';
import { dayBoundsNs, splitByTime, type DataAccessContext } from '../../actors/gateway/data_access.ts';
import { isStaleCut } from '../../actors/gateway/data_access_seq.ts';
import type { BackendView } from '../../actors/gateway/routing.ts';
import { dayNs, tablesFor, tradeTables } from '../support/trades.ts';

const schema = defineSchema(tradeTables);
const DAYS = ['2026-11-20', '2026-11-21', '2026-11-22'];
const hdbTables = tablesFor(DAYS.slice(0, 2), DAYS);
const rdbTables = tablesFor(DAYS.slice(2), DAYS);
const allTables = tablesFor(DAYS, DAYS);

const ctx: DataAccessContext = { schema, eodTime: '00:00', eodZone: 'UTC', dataTypes: ['rdb', 'hdb'], partsPerQueryMax: 16 };
const view = (name: string, proctype: string, attributes: Record<string, unknown>): BackendView => ({
  name,
  proctype,
  attributes,
  health: 'ok',
  gone: false,
  inflight: 0,
  capacity: 1,
  heavyInflight: 0,
  heavySlots: 1,
  served: 0,
});
const backends = [
  view('hdb1', 'hdb', { tables: { trade: { partitions: 2 } }, first: '2026-11-20', last: '2026-11-21' }),
  view('rdb1', 'rdb', { tables: ['trade'], dates: ['2026-11-22'] }),
];
const holders: Record<string, Map<string, MemTable>> = { hdb1: hdbTables, rdb1: rdbTables };

/** Runs a request the way the gateway would: split, run each part on its holder, merge. */
function viaGateway(request: Record<string, unknown>, bs = backends): { result: QueryResult; parts: Array<{ name: string; request: Record<string, unknown> }> } {
  const o = splitByTime({ type: 'tickbus.v1.getdata', ...request }, bs, ctx);
  if (o.kind !== 'parts') throw new Error(`held: ${o.day}`);
  const parts = o.parts.map((p) => ({ name: p.names![0]!, request: p.request as Record<string, unknown> }));
  const results = parts.map((p) => runQuery(holders[p.name]!, p.request));
  const result = o.merge(results, { parts: parts.map((p) => ({ name: p.name, proctype: p.name.slice(0, 3) })), query: request }) as QueryResult;
  return { result, parts };
}

function expectSame(a: QueryResult, b: QueryResult): void {
  expect(a.columns).toEqual(b.columns);
  expect(a.types).toEqual(b.types);
  expect(a.n).toBe(b.n);
  for (const c of a.columns) {
    const x = a.cols[c] as ResultColumn;
    const y = b.cols[c] as ResultColumn;
    if (x instanceof Float64Array) {
      // Sums over parts add in another order than one pass: equal to rounding.
      for (let i = 0; i < x.length; i++) {
        if (Number.isNaN(y[i] as number)) expect(Number.isNaN(x[i]!)).toBe(true);
        else expect(x[i]!).toBeCloseTo(y[i] as number, 6);
      }
    } else expect(x).toEqual(y);
  }
}

const whole = { start: '2026-11-19T00:00:00Z', end: '2026-11-23T00:00:00Z' };

describe('gateway data access', () => {
  it('gateway: splits a range at day boundaries, each day to exactly one holder', () => {
    const { parts } = viaGateway({ table: 'trade', ...whole });
    expect(parts.map((p) => p.name)).toEqual(['hdb1', 'rdb1']);
    const hdbEnd = BigInt(parts[0]!.request.end as string);
    const rdbStart = BigInt(parts[1]!.request.start as string);
    expect(rdbStart).toBe(dayNs('2026-11-22'));
    expect(dayBoundsNs(Date.parse('2026-11-22') / 86_400_000, '00:00', 'UTC')).toEqual([dayNs('2026-11-22'), dayNs('2026-11-23')]);
    expect(hdbEnd + 1n).toBe(rdbStart);
    expect(BigInt(parts[0]!.request.start as string)).toBe(dayNs('2026-11-20')); // clipped to the first day it holds
  });

  const cases: Array<[string, Record<string, unknown>]> = [
    ['raw rows', { table: 'trade', ...whole }],
    ['the first rows', { table: 'trade', ...whole, limit: 700 }],
    ['the last rows', { table: 'trade', ...whole, limit: -30 }],
    ['ordered, limited, renamed raw rows', { table: 'trade', ...whole, columns: ['time', 'sym', 'price'], ordering: [{ column: 'price', dir: 'desc' }], limit: 25, rename: { price: 'px' } }],
    [
      'aggregations by sym',
      {
        table: 'trade',
        ...whole,
        grouping: ['sym'],
        aggregations: [
          { op: 'count' },
          { op: 'sum', column: 'size' },
          { op: 'min', column: 'price' },
          { op: 'max', column: 'price' },
          { op: 'avg', column: 'price' },
          { op: 'first', column: 'price' },
          { op: 'last', column: 'price' },
          { op: 'wavg', columns: ['size', 'price'] },
          { op: 'dev', column: 'price' },
          { op: 'var', column: 'size' },
        ],
      },
    ],
    ['ungrouped aggregations', { table: 'trade', ...whole, aggregations: { count: [], sum: ['size'], avg: ['price'], last: ['price'] } }],
    ['six-hour bars by sym, ordered and limited', { table: 'trade', ...whole, grouping: ['sym'], timebar: { size: 6, unit: 'h' }, aggregations: [{ op: 'max', column: 'price' }, { op: 'count' }], ordering: [{ column: 'maxPrice', dir: 'desc' }], limit: 10 }],
    ['a filtered range across the boundary', { table: 'trade', start: '2026-11-21T12:00:00Z', end: '2026-11-22T12:00:00Z', instruments: ['AAPL', 'IBM'], grouping: ['sym'], aggregations: [{ op: 'avg', column: 'price' }] }],
  ];
  for (const [what, q] of cases) {
    it(`gateway: merges ${what} across HDB and RDB as one process holding every day would answer`, () => {
      const { result, parts } = viaGateway(q);
      expect(parts.length).toBe(2);
      expectSame(result, runQuery(allTables, { type: 'tickbus.v1.getdata', ...q }));
    });
  }

  it('gateway: a range one process holds goes to it unsplit and unchanged', () => {
    const q = { table: 'trade', start: '2026-11-22T01:00:00Z', end: '2026-11-22T05:00:00Z', aggregations: [{ op: 'med', column: 'price' }] };
    const { result, parts } = viaGateway(q);
    expect(parts.map((p) => p.name)).toEqual(['rdb1']);
    expect(parts[0]!.request.partial).toBeUndefined();
    expectSame(result, runQuery(allTables, { type: 'tickbus.v1.getdata', ...q }));
  });

  it('gateway: med across processes is a named error; so is a range nobody holds', () => {
    const med = () => splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole, aggregations: [{ op: 'med', column: 'price' }] }, backends, ctx);
    expect(med).toThrow(TickbusError);
    expect(med).toThrow(/med.*cannot be merged across processes/);
    const none = () => splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', start: '2026-10-01T00:00:00Z', end: '2026-10-02T00:00:00Z' }, backends, ctx);
    expect(none).toThrow(expect.objectContaining({ code: 'NO_MATCHING_PROCESS' }));
    const bad = () => splitByTime({ type: 'tickbus.v1.getdata', table: 'nope', ...whole }, backends, ctx);
    expect(bad).toThrow(expect.objectContaining({ code: 'BAD_QUERY', detail: expect.objectContaining({ param: 'table' }) }));
  });

  it('gateway: a day in end-of-day hand-off holds the query until a process holds it; then it is sent once', () => {
    const handing = [view('hdb1', 'hdb', { first: '2026-11-20', last: '2026-11-20' }), view('rdb1', 'rdb', { dates: ['2026-11-22'], handoff: '2026-11-21' })];
    expect(splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole }, handing, ctx)).toEqual({ kind: 'hold', day: '2026-11-21', holder: 'rdb1' });
    // A range that does not need the day is not held; nor is one when no HDB runs (nowhere for the day to go).
    expect(splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', start: '2026-11-22T00:00:00Z', end: '2026-11-22T10:00:00Z' }, handing, ctx).kind).toBe('parts');
    expect(splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole }, [handing[1]!], ctx).kind).toBe('parts');
    // The HDB reloaded the day while the RDB still reports it: the preferred holder (rdb first) takes it, once.
    const both = [view('hdb1', 'hdb', { first: '2026-11-20', last: '2026-11-21' }), view('rdb1', 'rdb', { dates: ['2026-11-21', '2026-11-22'], handoff: '2026-11-21' })];
    const o = splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole }, both, ctx);
    expect(o.kind).toBe('parts');
    if (o.kind !== 'parts') return;
    expect(o.parts.map((p) => p.proctype)).toEqual(['hdb', 'rdb']);
    const hdbEnd = BigInt((o.parts[0]!.request as { end: string }).end);
    expect(hdbEnd).toBe(dayNs('2026-11-21') - 1n);
  });

  it('gateway: an RDB (open-ended range) is told the first day routed to it (fromDay), so a day it let go since is refused, not answered short', () => {
    // The view still has the RDB holding 11-21 (its entry before it let the day go): 11-21 and 11-22 go to it with fromDay 11-21.
    const stale = [view('hdb1', 'hdb', { first: '2026-11-20', last: '2026-11-21' }), view('rdb1', 'rdb', { dates: ['2026-11-21', '2026-11-22'], first: '2026-11-21', last: '9999-12-31' })];
    const o = splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole }, stale, ctx);
    if (o.kind !== 'parts') throw new Error('held');
    expect(o.parts.map((p) => [p.proctype, (p.request as { fromDay?: string }).fromDay])).toEqual([
      ['hdb', undefined],
      ['rdb', '2026-11-21'],
    ]);
    expect(isStaleCut(new TickbusError(ErrorCode.NOT_READY, 'gone', { param: 'fromDay', fromDay: '2026-11-21' }))).toBe(true);
    // The updated view: the RDB from 11-22 on, the HDB takes 11-21.
    const fresh = [stale[0]!, view('rdb1', 'rdb', { dates: ['2026-11-22'], first: '2026-11-22', last: '9999-12-31' })];
    const f = splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole }, fresh, ctx);
    if (f.kind !== 'parts') throw new Error('held');
    expect(f.parts.map((p) => [p.proctype, (p.request as { fromDay?: string }).fromDay])).toEqual([
      ['hdb', undefined],
      ['rdb', '2026-11-22'],
    ]);
  });

  it('gateway: a process that answers another query shape (it does not serve getdata) is an error, not a wrong answer', () => {
    const q = { type: 'tickbus.v1.getdata', table: 'trade', start: '2026-11-22T00:00:00Z', end: '2026-11-22T10:00:00Z', grouping: ['sym'], aggregations: [{ op: 'count' }] };
    const o = splitByTime(q, backends, ctx);
    if (o.kind !== 'parts') throw new Error('held');
    const raw = runQuery(rdbTables, { type: 'tickbus.v1.getdata', table: 'trade', start: q.start, end: q.end });
    expect(() => o.merge([raw], { parts: [{ name: 'rdb1', proctype: 'rdb' }], query: q })).toThrow(/rdb1 did not answer the tickbus.v1.getdata request as asked/);
  });

  it('gateway: a first..last range wins over a dates list (the HDB process reports both, dates = [first, last])', () => {
    const hdbShape = [view('hdb1', 'hdb', { partitions: 3, first: '2026-11-18', last: '2026-11-21', dates: ['2026-11-18', '2026-11-21'], tables: ['trade'] })];
    const o = splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', start: '2026-11-19T00:00:00Z', end: '2026-11-20T12:00:00Z' }, hdbShape, ctx);
    expect(o.kind === 'parts' && o.parts.map((p) => p.names)).toEqual([['hdb1']]);
  });

  it('gateway: replicas of a holder form one group; a dead one is left out', () => {
    const reps = [...backends, view('hdb2', 'hdb', backends[0]!.attributes), { ...view('rdb2', 'rdb', backends[1]!.attributes), gone: true }];
    const o = splitByTime({ type: 'tickbus.v1.getdata', table: 'trade', ...whole }, reps, ctx);
    if (o.kind !== 'parts') throw new Error('held');
    expect(o.parts.map((p) => p.names)).toEqual([['hdb1', 'hdb2'], ['rdb1']]);
  });
});
