// Proves loadcsv's reader and the processed table without a bus: CSV values parsed by column type,
// each kind of bad file refused with a typed error naming the file, line and column; chunk bounds
// deterministic from the content (a resume from any bound gives the bounds of the whole run); the
// processed table survives a reopen, skips a torn last line, dedupes by content and by name, and
// compacts to its bound.
import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TickbusError } from '../../bus/errors.ts';
import { defineTable } from '../../storage/schema.ts';
import { chunkBounds, readCsvTable, tableFromFileName } from '../../actors/filealerter/csv_table.ts';
import { ProcessedTable } from '../../actors/filealerter/processed.ts';

const all = defineTable('all', { time: 'timestamp', sym: 'symbol', f: 'float', l: 'long', i: 'int', b: 'bool', d: 'date', s: 'string', ts: 'timespan' });
const tmp = mkdtempSync(join(tmpdir(), 'tickbus-facsv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function refused(text: string): TickbusError {
  try {
    readCsvTable(text, 'x.csv', all);
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    return e as TickbusError;
  }
  throw new Error('accepted');
}

describe('loadcsv reader', () => {
  it('filealerter: values are parsed by column type, time optional, columns in any order', () => {
    const t = readCsvTable(
      'sym,f,l,i,b,d,s,ts,time\n' +
        'AAPL,1.5,9007199254740993,-7,true,2026-01-02,"a, b",5,2026-01-02T10:00:00.123456789Z\n' +
        'MSFT,,-1,2147483647,0,1970-01-01,,0,1000\n' +
        'IBM,-inf,0,0,FALSE,2000-02-29,x,1,2026-01-02 10:00:00+01:00\n',
      'x.csv',
      all,
    );
    expect(t.n).toBe(3);
    expect(t.cols.sym).toEqual(['AAPL', 'MSFT', 'IBM']);
    expect(Array.from(t.cols.f as Float64Array)).toEqual([1.5, NaN, -Infinity]);
    expect(t.cols.l).toEqual(new BigInt64Array([9007199254740993n, -1n, 0n]));
    expect(t.cols.i).toEqual(new Int32Array([-7, 2147483647, 0]));
    expect(t.cols.b).toEqual(new Uint8Array([1, 0, 0]));
    expect(Array.from(t.cols.d as Int32Array)).toEqual([Date.UTC(2026, 0, 2) / 86_400_000, 0, Date.UTC(2000, 1, 29) / 86_400_000]);
    expect(t.cols.s).toEqual(['a, b', '', 'x']);
    expect((t.cols.time as BigInt64Array)[0]).toBe(BigInt(Date.UTC(2026, 0, 2, 10)) * 1_000_000n + 123456789n);
    expect((t.cols.time as BigInt64Array)[1]).toBe(1000n);
    expect((t.cols.time as BigInt64Array)[2]).toBe(BigInt(Date.UTC(2026, 0, 2, 9)) * 1_000_000n);
    expect(readCsvTable('sym,f,l,i,b,d,s,ts\nA,1,1,1,1,2026-01-01,s,1\n', 'x.csv', all).cols.time).toBeUndefined();
  });

  it('filealerter: the quote-free fast path and csv-parse read the same file alike (CRLF, BOM, empty lines, line numbers)', () => {
    const plain = '\ufeffsym,f,l,i,b,d,s,ts\r\nA,1.5,2,3,1,2026-01-01,x,4\r\n\r\nB,2.5,3,4,0,2026-01-02,,5\r\n';
    const quoted = plain.replace('A,', '"A",');
    const a = readCsvTable(plain, 'x.csv', all);
    const b = readCsvTable(quoted, 'x.csv', all);
    expect(a.n).toBe(2);
    expect(a.cols).toEqual(b.cols);
    expect(a.cols.sym).toEqual(['A', 'B']);
    // Line numbers count the empty line, on both paths.
    for (const text of [plain, quoted]) {
      const e = (() => {
        try {
          readCsvTable(text.replace('B,2.5', 'B,x'), 'x.csv', all);
        } catch (err) {
          return err as TickbusError;
        }
      })();
      expect(e?.detail).toMatchObject({ line: 4, column: 'f' });
    }
  });

  it('filealerter: a bad file is refused whole with the file, line and column named', () => {
    const head = 'sym,f,l,i,b,d,s,ts\n';
    const ok = 'A,1,1,1,1,2026-01-01,s,1\n';
    const cases: Array<[string, string, Record<string, unknown>, RegExp]> = [
      [head + ok + 'A,high,1,1,1,2026-01-01,s,1\n', 'BAD_COLUMN_TYPE', { line: 3, column: 'f' }, /x\.csv line 3: column f must be float, got "high"/],
      [head + ok + ok + 'A,1,1.5,1,1,2026-01-01,s,1\n', 'BAD_COLUMN_TYPE', { line: 4, column: 'l' }, /line 4: column l must be long/],
      [head + 'A,1,1,2147483648,1,2026-01-01,s,1\n', 'BAD_COLUMN_TYPE', { line: 2, column: 'i' }, /column i must be int/],
      [head + 'A,1,1,1,yes,2026-01-01,s,1\n', 'BAD_COLUMN_TYPE', { line: 2, column: 'b' }, /column b must be bool/],
      [head + 'A,1,1,1,1,2026-13-01,s,1\n', 'BAD_COLUMN_TYPE', { line: 2, column: 'd' }, /column d must be date/],
      [head + 'A,1,99999999999999999999,1,1,2026-01-01,s,1\n', 'BAD_COLUMN_TYPE', { line: 2, column: 'l' }, /column l must be long/],
      [head + 'A,1,1,1,1,2026-01-01,s\n', 'RAGGED_COLUMNS', { line: 2 }, /line 2: 7 fields, the header has 8/],
      ['sym,f,l,i,b,d,s\n' + ok, 'MISSING_COLUMN', { line: 1, column: 'ts' }, /line 1: column ts of table all is missing/],
      ['sym,f,l,i,b,d,s,ts,zz\n' + ok, 'EXTRA_COLUMN', { line: 1, column: 'zz' }, /line 1: column "zz" \(field 9\) is not in table all/],
      ['sym,f,f,l,i,b,d,s,ts\n', 'EXTRA_COLUMN', { line: 1, column: 'f' }, /column f appears twice/],
      [head, 'BAD_ROW_COUNT', { line: 1 }, /the file holds no rows/],
      [head + 'A,"1,1,1,1,2026-01-01,s,1\n', 'BAD_ENCODING', {}, /not valid CSV/],
    ];
    for (const [text, code, detail, re] of cases) {
      const e = refused(text);
      expect([e.code, e.message]).toEqual([code, expect.stringMatching(re)]);
      expect(e.detail).toMatchObject({ file: 'x.csv', ...detail });
    }
  });

  it('filealerter: chunk bounds are deterministic, bounded, and a resume from a bound continues the same sequence', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => `S${i},${i},1,1,1,2026-01-01,${'x'.repeat(i % 97)},1`).join('\n');
    const t = readCsvTable('sym,f,l,i,b,d,s,ts\n' + rows + '\n', 'x.csv', all);
    const b = chunkBounds(t, 0, 64, 4_096);
    expect(b[0]![0]).toBe(0);
    expect(b.at(-1)![1]).toBe(1000);
    for (let k = 1; k < b.length; k++) expect(b[k]![0]).toBe(b[k - 1]![1]);
    for (const [s, e] of b) {
      expect(e - s).toBeLessThanOrEqual(64);
      let bytes = 0;
      for (let i = s; i < e; i++) bytes += t.rowBytes[i]!;
      expect(e - s === 1 || bytes <= 4_096).toBe(true);
    }
    for (const k of [1, 5, b.length - 1]) expect(chunkBounds(t, b[k]![0], 64, 4_096)).toEqual(b.slice(k));
    expect(tableFromFileName('trade_20261122.csv')).toBe('trade');
    expect(tableFromFileName('quote.csv')).toBe('quote');
    expect(tableFromFileName('trade-a.b.csv')).toBe('trade');
  });
});

describe('processed table', () => {
  it('filealerter: the table survives a reopen and a torn line, dedupes by content or name, and compacts to its bound', () => {
    const file = join(tmp, 'p', 'fa.processed.jsonl');
    let p = new ProcessedTable(file, 100);
    p.record({ rule: 'r1', name: 'a.csv', size: 10, md5: 'm1', result: 'ok', rows: 3 });
    p.recordProgress('trade', 'm2', 20, 1000);
    appendFileSync(file, '{"t":"done","rule":"r1","na'); // a kill mid-write
    p = new ProcessedTable(file, 100);
    expect(p.seen('r1', 'other.csv', 'm1', 10, false)?.name).toBe('a.csv'); // same content, any name
    expect(p.seen('r1', 'a.csv', 'm9', 11, false)).toBeUndefined(); // new content under the same name
    expect(p.seen('r1', 'a.csv', 'm9', 11, true)?.name).toBe('a.csv'); // newonly: by name
    expect(p.seen('r2', 'a.csv', 'm1', 10, false)).toBeUndefined(); // per rule
    expect(p.rowsDone('trade', 'm2', 20)).toBe(1000);
    // Done content drops its progress at compaction.
    p.record({ rule: 'r1', name: 'b.csv', size: 20, md5: 'm2', result: 'ok' });
    p.compact();
    expect(readFileSync(file, 'utf8')).not.toContain('progress');
    for (let i = 0; i < 300; i++) p.record({ rule: 'r1', name: `f${i}.csv`, size: i, md5: `x${i}`, result: 'ok' });
    p = new ProcessedTable(file, 100);
    expect(p.size).toBe(100);
    expect(p.list().at(-1)!.name).toBe('f299.csv');
    expect(p.seen('r1', 'a.csv', 'm1', 10, false)).toBeUndefined(); // beyond the bound: forgotten
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(100);
  });
});
