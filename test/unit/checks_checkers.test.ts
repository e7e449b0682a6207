// Proves TorQ's result checkers (actors/monitor/checks_checkers.ts) on the shapes a check's query
// returns (a columnar query result, a number, a list, a boolean, an API's object): checkcount
// morethan/lessthan on the count, truefalse against cond, resulttrue's truthiness rule, and a
// failure message that says what was wrong. Pure.
import { describe, expect, it } from 'vitest';
import { applyChecker, booleanOf, countOf, SUMMARY_CHARS_MAX, summarize, truthy } from '../../actors/monitor/checks_checkers.ts';
import { RESULT_TYPE, type QueryResult } from '../../storage/query/result.ts';

const table = (n: number): QueryResult => ({
  type: RESULT_TYPE,
  table: 'trade',
  n,
  columns: ['sym', 'price'],
  types: ['symbol', 'float'],
  cols: { sym: Array.from({ length: n }, () => 'AAPL'), price: new Float64Array(n) },
});
const one = (col: QueryResult['cols'][string], type: QueryResult['types'][number]): QueryResult => ({ type: RESULT_TYPE, table: 'x', n: 1, columns: ['v'], types: [type], cols: { v: col } });
const countOnly = (n: number): QueryResult => ({ type: RESULT_TYPE, table: 'trade', n, columns: [], types: [], cols: {} });

describe('checkcount', () => {
  it('checks: checkcount counts rows of a result, a number, a bigint or a list', () => {
    expect(countOf(table(3))).toBe(3);
    expect(countOf(countOnly(1200))).toBe(1200);
    expect(countOf(7)).toBe(7);
    expect(countOf(7n)).toBe(7);
    expect(countOf([1, 2])).toBe(2);
    expect(countOf('7')).toBeUndefined();
    expect(countOf({ a: 1 })).toBeUndefined();
  });

  it('checks: checkcount morethan and lessthan are strict', () => {
    const more = { name: 'checkcount', comp: 2, cond: 'morethan' } as const;
    const less = { name: 'checkcount', comp: 2, cond: 'lessthan' } as const;
    expect(applyChecker(more, table(3))).toMatchObject({ ok: true, message: 'count 3 is more than 2' });
    expect(applyChecker(more, table(2))).toMatchObject({ ok: false, message: 'count 2 is not more than 2' });
    expect(applyChecker(less, countOnly(1))).toMatchObject({ ok: true, message: 'count 1 is less than 2' });
    expect(applyChecker(less, countOnly(2))).toMatchObject({ ok: false, message: 'count 2 is not less than 2' });
    expect(applyChecker({ name: 'checkcount', comp: 0, cond: 'morethan' }, countOnly(0)).ok).toBe(false);
  });

  it('checks: checkcount on something with no count fails saying so', () => {
    const r = applyChecker({ name: 'checkcount', comp: 0, cond: 'morethan' }, 'hello');
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/checkcount needs a count .* got hello/);
  });
});

describe('truefalse', () => {
  it('checks: truefalse reads a boolean, a one-element list, or a one-row one-column result (bool column as 0/1)', () => {
    expect(booleanOf(true)).toBe(true);
    expect(booleanOf([false])).toBe(false);
    expect(booleanOf(one(Uint8Array.of(1), 'bool'))).toBe(true);
    expect(booleanOf(one(Uint8Array.of(0), 'bool'))).toBe(false);
    expect(booleanOf(1)).toBeUndefined();
    expect(booleanOf([true, true])).toBeUndefined();
    expect(booleanOf(table(2))).toBeUndefined();
    expect(booleanOf(one(new Float64Array([2]), 'float'))).toBeUndefined();
  });

  it('checks: truefalse compares with cond', () => {
    expect(applyChecker({ name: 'truefalse', cond: true }, one(Uint8Array.of(1), 'bool'))).toMatchObject({ ok: true, message: 'result is true as required' });
    expect(applyChecker({ name: 'truefalse', cond: true }, false)).toMatchObject({ ok: false, message: 'result is false, required true' });
    expect(applyChecker({ name: 'truefalse', cond: false }, false).ok).toBe(true);
    const r = applyChecker({ name: 'truefalse', cond: true }, table(2));
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/truefalse needs a single true\/false value; got trade: 2 rows/);
  });
});

describe('resulttrue', () => {
  it('checks: resulttrue truthiness rule', () => {
    for (const v of [false, 0, NaN, null, undefined, '', [], {}, -(2n ** 63n), 0n, -(2 ** 31), table(0), one(Uint8Array.of(0), 'bool'), one(new Float64Array([NaN]), 'float'), one([''], 'symbol')]) {
      expect(truthy(v), String(v)).toBe(false);
    }
    for (const v of [true, 1, -1, 'x', [0], { a: 0 }, 5n, table(2), one(Uint8Array.of(1), 'bool'), one(BigInt64Array.of(3n), 'long'), one(['AAPL'], 'symbol')]) {
      expect(truthy(v), String(v)).toBe(true);
    }
    expect(applyChecker({ name: 'resulttrue' }, table(1))).toMatchObject({ ok: true, message: 'result is true' });
    expect(applyChecker({ name: 'resulttrue' }, table(0))).toMatchObject({ ok: false, message: 'result is false (trade: 0 rows (sym, price))' });
  });
});

describe('summary', () => {
  it('checks: result summaries are short and say what came back', () => {
    expect(summarize(countOnly(1200))).toBe('trade: 1200 rows');
    expect(summarize(one(Uint8Array.of(1), 'bool'))).toBe('x: 1 row, v = true');
    expect(summarize([1, 2, 3])).toBe('list of 3: [1,2,3]');
    expect(summarize({ a: 1n })).toBe('{"a":"1"}');
    expect(summarize(42)).toBe('42');
    expect(summarize('x'.repeat(1_000))).toHaveLength(SUMMARY_CHARS_MAX);
  });
});
