// Proves feed validation and the columnar batch operations: every malformed update gets the typed
// error that names the table, column and row; good updates become typed arrays with dictionary-
// coded syms; concatenation and slicing keep rows and symbols intact.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { batchFromFeed, concatBatches, formatIsoNs, parseIsoNs, sliceBatch, type SymColumn } from '../../storage/batch.ts';
import { defineSchema, defineTable } from '../../storage/schema.ts';

const trade = defineTable('trade', { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', ok: 'bool', note: 'string', d: 'date', n: 'int', span: 'timespan' });
const STAMP = 1_795_000_000_000_000_000n;

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    return (e as TickbusError).code;
  }
  return 'no error';
}

describe('batch', () => {
  it('batch: rows without time are stamped and converted to typed columns', () => {
    const b = batchFromFeed(trade, { rows: [['A', 1.5, 10, true, 'x', '2026-01-02', 3, 5], ['B', 2, '20', false, 'y', 1, 4, '6']] }, STAMP, 100);
    expect(b.n).toBe(2);
    expect(b.cols.time).toEqual(new BigInt64Array([STAMP, STAMP]));
    expect((b.cols.sym as SymColumn).dict).toEqual(['A', 'B']);
    expect(b.cols.price).toBeInstanceOf(Float64Array);
    expect(b.cols.size).toEqual(new BigInt64Array([10n, 20n]));
    expect(b.cols.ok).toEqual(new Uint8Array([1, 0]));
    expect(b.cols.d).toEqual(new Int32Array([20455, 1]));
    expect(b.cols.span).toEqual(new BigInt64Array([5n, 6n]));
  });

  it('batch: columns with ISO times keep the feed time', () => {
    const b = batchFromFeed(
      trade,
      { cols: { time: ['2026-11-22T10:00:00.123456789Z'], sym: ['A'], price: [1], size: [1], ok: [1], note: [''], d: [0], n: [0], span: [0] } },
      STAMP,
      100,
    );
    expect(formatIsoNs((b.cols.time as BigInt64Array)[0]!)).toBe('2026-11-22T10:00:00.123456789Z');
  });

  it('batch: each malformed update gets its own error code', () => {
    const good = { sym: ['A'], price: [1], size: [1], ok: [true], note: ['n'], d: [0], n: [1], span: [1] };
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, extra: [1] } }, STAMP, 100))).toBe(ErrorCode.EXTRA_COLUMN);
    const { price: _p, ...noPrice } = good;
    expect(codeOf(() => batchFromFeed(trade, { cols: noPrice }, STAMP, 100))).toBe(ErrorCode.MISSING_COLUMN);
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, price: ['x'] } }, STAMP, 100))).toBe(ErrorCode.BAD_COLUMN_TYPE);
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, size: [1.5] } }, STAMP, 100))).toBe(ErrorCode.BAD_COLUMN_TYPE);
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, n: [2 ** 40] } }, STAMP, 100))).toBe(ErrorCode.BAD_COLUMN_TYPE);
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, price: [1, 2] } }, STAMP, 100))).toBe(ErrorCode.RAGGED_COLUMNS);
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, sym: { dict: ['A'], codes: new Uint32Array([3]) } } }, STAMP, 100))).toBe(
      ErrorCode.BAD_COLUMN_TYPE,
    );
    expect(codeOf(() => batchFromFeed(trade, { rows: [['A', 1, 1, true, 'n', 0, 1, 1], ['A', 1]] }, STAMP, 100))).toBe(ErrorCode.RAGGED_COLUMNS);
    expect(codeOf(() => batchFromFeed(trade, { rows: [['A', 1]] }, STAMP, 100))).toBe(ErrorCode.MISSING_COLUMN);
    expect(codeOf(() => batchFromFeed(trade, { rows: [] }, STAMP, 100))).toBe(ErrorCode.BAD_ROW_COUNT);
    expect(codeOf(() => batchFromFeed(trade, { cols: { ...good, price: new Int32Array([1]) } }, STAMP, 100))).toBe(ErrorCode.BAD_COLUMN_TYPE);
    expect(codeOf(() => batchFromFeed(trade, {}, STAMP, 100))).toBe(ErrorCode.BAD_TYPE);
  });

  it('batch: the error names table, column and row', () => {
    try {
      batchFromFeed(trade, { rows: [['A', 1, 1, true, 'n', 0, 1, 1], ['A', 'oops', 1, true, 'n', 0, 1, 1]] }, STAMP, 100);
      expect.unreachable();
    } catch (e) {
      const err = e as TickbusError;
      expect(err.message).toContain('price');
      expect(err.detail).toMatchObject({ table: 'trade', column: 'price', row: 1, expected: 'float' });
    }
  });

  it('batch: concat merges symbol dictionaries; slice keeps rows', () => {
    const s = defineSchema({ t: { time: 'timestamp', sym: 'symbol', v: 'float' } }).get('t')!;
    const a = batchFromFeed(s, { rows: [['A', 1], ['B', 2]] }, 1n, 10);
    const b = batchFromFeed(s, { rows: [['B', 3], ['C', 4]] }, 2n, 10);
    const c = concatBatches(s, [a, b]);
    const sym = c.cols.sym as SymColumn;
    expect(Array.from(sym.codes, (x) => sym.dict[x])).toEqual(['A', 'B', 'B', 'C']);
    expect(c.cols.v).toEqual(new Float64Array([1, 2, 3, 4]));
    expect(c.cols.time).toEqual(new BigInt64Array([1n, 1n, 2n, 2n]));
    const sl = sliceBatch(c, 1, 3);
    expect(sl.n).toBe(2);
    expect(sl.cols.v).toEqual(new Float64Array([2, 3]));
  });

  it('batch: a schema must start with time and sym', () => {
    expect(() => defineTable('x', { sym: 'symbol', time: 'timestamp' })).toThrow(/time:timestamp and sym:symbol/);
    expect(() => defineTable('x', { time: 'timestamp', sym: 'symbol', p: 'decimal' })).toThrow(/unknown type/);
  });

  it('batch: ISO timestamps round-trip at nanosecond precision', () => {
    for (const s of ['1970-01-01T00:00:00.000000001Z', '2026-03-08T07:30:00.999999999Z']) expect(formatIsoNs(parseIsoNs(s)!)).toBe(s);
    expect(parseIsoNs('2026-11-22T10:00:00+01:00')).toBe(BigInt(Date.parse('2026-11-22T09:00:00Z')) * 1_000_000n);
  });
});
