// Proves the gateway's routing and joins as pure code: process types (TYPE_NOT_AVAILABLE naming
// missing and available types, dead backends not counted), attribute routing as TorQ's gatewaylib
// (replicas grouped by identical attributes, cross and independent matching, best effort, the bound
// on cross combinations, attributes held as scalars, lists or map keys), and the join functions
// (raze of columnar tables, lists and atoms; a mismatch or a throwing join is JOIN_FAILED).
import { describe, expect, it } from 'vitest';
import { TickbusError } from '../../bus/errors.ts';
import { holds, matchesAttributes } from '../../actors/common/discovery.ts';
import { Joins, raze } from '../../actors/gateway/joins.ts';
import { coverAttributes, partsForAttributes, partsForTypes, replicaGroups, type BackendView } from '../../actors/gateway/routing.ts';
import { RESULT_TYPE, type QueryResult } from '../../storage/query/result.ts';

const b = (name: string, proctype: string, attributes: Record<string, unknown> = {}, o: Partial<BackendView> = {}): BackendView => ({
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
  ...o,
});

const hdbs = [
  b('hdb1', 'hdb', { dates: ['d1', 'd2'], region: 'eu' }),
  b('hdb2', 'hdb', { dates: ['d1', 'd2'], region: 'eu' }),
  b('hdb3', 'hdb', { dates: ['d3'], region: 'us' }),
  b('rdb1', 'rdb', { dates: ['d4'], region: 'eu', tables: { trade: {}, quote: {} } }),
];

describe('gateway routing', () => {
  it('gateway: types route to any live backend of each type; dead ones do not count', () => {
    expect(partsForTypes(['rdb', 'hdb'], 'q', hdbs)).toEqual([
      { proctype: 'rdb', request: 'q' },
      { proctype: 'hdb', request: 'q' },
    ]);
    const dead = [b('rdb1', 'rdb', {}, { gone: true }), b('hdb1', 'hdb', {}, { health: 'error' }), b('x1', 'x')];
    try {
      partsForTypes(['rdb', 'hdb', 'x'], 'q', dead);
      throw new Error('expected an error');
    } catch (e) {
      expect(e).toMatchObject({ code: 'TYPE_NOT_AVAILABLE', detail: { missing: ['rdb', 'hdb'], available: ['x'] } });
      expect((e as Error).message).toBe('not all of the requested process types are available; missing: rdb, hdb; available: x');
    }
  });

  it('gateway: backends with identical attributes are one replica group; a part runs on any of them', () => {
    expect(replicaGroups(hdbs, ['hdb']).map((g) => g.names)).toEqual([['hdb1', 'hdb2'], ['hdb3']]);
    const parts = partsForAttributes({ kind: 'attributes', attributes: { dates: ['d1', 'd3'] }, match: 'independent', bestEffort: true }, 'q', hdbs, 100);
    expect(parts).toEqual([
      { proctype: 'hdb', names: ['hdb1', 'hdb2'], request: 'q' },
      { proctype: 'hdb', names: ['hdb3'], request: 'q' },
    ]);
  });

  it('gateway: cross matching needs every combination held by one group; independent each value by some group', () => {
    const groups = replicaGroups(hdbs);
    const cross = coverAttributes(groups, { region: 'eu', dates: ['d1', 'd3'] }, 'cross', 100);
    expect(cross.chosen.map((g) => g.names[0])).toEqual(['hdb1']);
    expect(cross.uncovered).toEqual([
      [
        ['region', 'eu'],
        ['dates', 'd3'],
      ],
    ]);
    const ind = coverAttributes(groups, { region: 'eu', dates: ['d1', 'd3'] }, 'independent', 100);
    expect(ind.uncovered).toEqual([]);
    expect(ind.chosen.map((g) => g.names[0]).sort()).toEqual(['hdb1', 'hdb3']);
    const strict = () => partsForAttributes({ kind: 'attributes', attributes: { region: 'eu', dates: ['d1', 'd3'] }, match: 'cross', bestEffort: false }, 'q', hdbs, 100);
    expect(strict).toThrow(expect.objectContaining({ code: 'NO_MATCHING_PROCESS', detail: expect.objectContaining({ unmatched: ['region=eu dates=d3'] }) }));
    const tooMany = () => coverAttributes(groups, { a: Array.from({ length: 100 }, (_, i) => i), c: Array.from({ length: 100 }, (_, i) => i) }, 'cross', 4_096);
    expect(tooMany).toThrow(expect.objectContaining({ code: 'BAD_QUERY' }));
  });

  it('gateway: attributes are held as values, list members or map keys', () => {
    expect(holds({ region: 'eu' }, 'region', 'eu')).toBe(true);
    expect(holds({ dates: ['d1'] }, 'dates', 'd1')).toBe(true);
    expect(holds({ tables: { trade: {} } }, 'tables', 'trade')).toBe(true);
    expect(holds({ port: 5010 }, 'port', '5010')).toBe(true);
    expect(matchesAttributes({ tables: ['trade', 'quote'], region: 'eu' }, { tables: ['trade', 'quote'], region: 'eu' })).toBe(true);
    expect(matchesAttributes({ tables: ['trade'] }, { tables: ['trade', 'quote'] })).toBe(false);
  });
});

const table = (src: string, a: number[]): QueryResult => ({
  type: RESULT_TYPE,
  table: 't',
  n: a.length,
  columns: ['a', 'src'],
  types: ['long', 'symbol'],
  cols: { a: BigInt64Array.from(a.map(BigInt)), src: a.map(() => src) },
});

describe('gateway joins', () => {
  it('gateway: raze concatenates tables column by column, flattens lists, lists atoms', () => {
    const r = raze([table('x', [1, 2]), table('y', [3])]) as QueryResult;
    expect(r.n).toBe(3);
    expect(r.cols.a).toEqual(BigInt64Array.of(1n, 2n, 3n));
    expect(r.cols.src).toEqual(['x', 'x', 'y']);
    expect(raze([[1, 2], [3], 4])).toEqual([1, 2, 3, 4]);
    expect(raze([{ k: 1 }])).toEqual({ k: 1 });
  });

  it('gateway: a join that throws, or tables that do not raze, fail with JOIN_FAILED', () => {
    const joins = new Joins();
    joins.register('boom', () => {
      throw new Error('b');
    });
    const ctx = { parts: [{ name: 'r1', proctype: 'rdb' }], query: {} };
    expect(() => joins.apply('boom', [1], ctx)).toThrow(expect.objectContaining({ code: 'JOIN_FAILED', message: 'failed to apply join function boom to the results: b' }));
    const other = { ...table('z', [1]), columns: ['a'], types: ['long'] as QueryResult['types'], cols: { a: BigInt64Array.of(1n) } };
    expect(() => joins.apply('raze', [table('x', [1]), other], ctx)).toThrow(/different columns/);
    expect(() => joins.apply('raze', [table('x', [1]), 5], ctx)).toThrow(TickbusError);
    expect(joins.apply('list', [1, 2], ctx)).toEqual([1, 2]);
    expect(() => joins.register('bad name', () => 1)).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
  });
});
