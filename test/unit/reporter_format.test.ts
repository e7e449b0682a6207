// Proves the reporter's pure parts around a result: tabulating a query result and other API
// results, the CSV/JSON/text renderings (quoting, nulls, int64), when an alert is due, the file
// stamp in a zone, and the query log's bound (the oldest rows go, counted).
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../bus/log.ts';
import { isAlerting, tabulate, toCsv, toJson, toTxt } from '../../actors/reporter/format.ts';
import { fileStamp } from '../../actors/reporter/handlers.ts';
import { QueryLog } from '../../actors/reporter/query_log.ts';
import { NULL_LONG, type QueryResult } from '../../storage/query/result.ts';

const result: QueryResult = {
  type: 'tickbus.v1.result',
  table: 'trade',
  n: 3,
  columns: ['time', 'sym', 'price', 'size'],
  types: ['timestamp', 'symbol', 'float', 'long'],
  cols: {
    time: BigInt64Array.of(1_700_000_000_000_000_001n, NULL_LONG, 1_700_000_000_500_000_000n),
    sym: ['AAPL', 'A,B', 'say "hi"'],
    price: Float64Array.of(1.5, NaN, 3),
    size: BigInt64Array.of(10n, 2n ** 60n, NULL_LONG),
  },
};

describe('reporter format', () => {
  it('reporter: a query result renders as CSV, JSON and text with its nulls and int64s', () => {
    const t = tabulate(result, 10);
    expect(t.columns).toEqual(['time', 'sym', 'price', 'size']);
    expect(toCsv(t)).toBe(
      'time,sym,price,size\n2023-11-14T22:13:20.000000001Z,AAPL,1.5,10\n,"A,B",,1152921504606846976\n2023-11-14T22:13:20.500000000Z,"say ""hi""",3,\n',
    );
    expect(JSON.parse(toJson(t))[1]).toEqual({ time: null, sym: 'A,B', price: null, size: '1152921504606846976' });
    expect(toTxt(t).split('\n')[0]).toBe('time                           sym      price size');
    expect(() => tabulate(result, 2)).toThrow(/3 rows; a report handler takes at most 2 \(setting resultRowsMax\)/);
  });

  it('reporter: other results are tabulated by shape', () => {
    expect(tabulate([{ a: 1, b: 'x' }, { b: 'y', c: true }], 10)).toEqual({ columns: ['a', 'b', 'c'], rows: [[1, 'x', null], [null, 'y', true]] });
    expect(tabulate([1, 2n], 10)).toEqual({ columns: ['result'], rows: [[1], [2]] });
    expect(tabulate({ used: 5, heap: { a: 1 } }, 10)).toEqual({ columns: ['key', 'value'], rows: [['used', 5], ['heap', '{"a":1}']] });
    expect(tabulate('ok', 10)).toEqual({ columns: ['result'], rows: [['ok']] });
    expect(tabulate(null, 10)).toEqual({ columns: ['result'], rows: [] });
  });

  it('reporter: an alert is due for a non-empty or true result only', () => {
    expect([result, [1], { a: 1 }, 'x', 1, 1n, true].map(isAlerting)).toEqual([true, true, true, true, true, true, true]);
    expect([{ ...result, n: 0 }, [], {}, '', 0, 0n, false, null, undefined, NaN].map(isAlerting)).toEqual(Array(10).fill(false));
  });

  it('reporter: file stamps are the wall time in the reporter\'s zone', () => {
    const ms = Date.parse('2026-07-01T23:30:05.042Z');
    expect(fileStamp(ms, 'UTC')).toBe('2026_07_01_23_30_05_042');
    expect(fileStamp(ms, 'Asia/Tokyo')).toBe('2026_07_02_08_30_05_042');
    expect(fileStamp(ms, 'America/New_York')).toBe('2026_07_01_19_30_05_042');
  });

  it('reporter: the query log keeps its last rows and counts those it dropped', () => {
    let now = 0;
    const log = new QueryLog(10, silentLogger, () => now);
    for (let i = 1; i <= 25; i++) {
      now = i * 1000;
      log.add(i, i % 2 ? 'odd' : 'even', 'R', `row ${i}`);
    }
    expect(log.size).toBe(10);
    expect(log.dropped).toBe(15);
    expect(log.list().map((r) => r.queryid)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(log.list('odd', 2).map((r) => r.queryid)).toEqual([23, 25]);
    expect(log.list('', null).length).toBe(10);
    expect(log.run(20)).toEqual([{ time: new Date(20_000).toISOString(), queryid: 20, name: 'even', stage: 'R', message: 'row 20', ms: 0 }]);
  });
});
