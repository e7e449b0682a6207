// The compression table (ops/compression.csv, TorQ's compressionconfig.csv): codec names and
// kdb+ algorithm numbers map to Parquet codecs, levels are checked per codec, every bad row is
// named (file, line, column, rule) in one BAD_CONFIG, and TorQ's default precedence picks each
// table's codec, noting per-column rows one Parquet file cannot honour.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseCompressionCsv, ruleForTable } from '../../actors/compression/config.ts';
import { compressionSettings, defaultCompressionSettings } from '../../actors/compression/settings.ts';

const HEAD = 'table,minage,column,calgo,cblocksize,clevel\n';
const parse = (body: string) => parseCompressionCsv(HEAD + body, 'compression.csv');

function caught(f: () => unknown): TickbusError {
  try {
    f();
  } catch (e) {
    return e as TickbusError;
  }
  throw new Error('expected an error');
}

describe('compression table', () => {
  it('compression: codec names and kdb+ algorithm numbers 0..5 map to Parquet codecs, zstd keeps its level', () => {
    const rules = parse(
      ['trade,1,default,zstd,,9', 'quote,2,default,gzip,17,6', 'a,0,default,0,,0', 'b,0,default,1,17,0', 'c,0,default,2,17,6', 'd,0,default,3,,', 'e,0,default,4,17,9', 'f,0,default,5,,', 'g,3,default,SNAPPY,,'].join('\n'),
    );
    expect(rules.map((r) => [r.table, r.minage, r.spec])).toEqual([
      ['trade', 1, { codec: 'zstd', level: 9 }],
      ['quote', 2, { codec: 'gzip' }],
      ['a', 0, { codec: 'uncompressed' }],
      ['b', 0, { codec: 'snappy' }],
      ['c', 0, { codec: 'gzip' }],
      ['d', 0, { codec: 'snappy' }],
      ['e', 0, { codec: 'lz4' }],
      ['f', 0, { codec: 'zstd', level: 3 }],
      ['g', 3, { codec: 'snappy' }],
    ]);
    expect(rules[1]!.notes.join()).toMatch(/gzip level 6 .*default level/);
    expect(rules[3]!.notes.join()).toMatch(/kdb\+ IPC/);
  });

  it('compression: every bad row is named with its line, column and rule in one BAD_CONFIG', () => {
    const e = caught(() =>
      parse(
        [
          'trade,1,default,zstd,,9', // line 2: fine
          'other,x,default,zstd,,9', // 3: minage
          'quote,1,default,brotlix,,', // 4: calgo
          'quote,1,bid,zstd,,30', // 5: clevel out of range for zstd
          'quote,1,ask,gzip,11,5', // 6: cblocksize
          'quote,1,bsize,gzip,17,12', // 7: gzip level
          'bad name,1,default,zstd,,', // 8: table
          'trade,1,default,snappy,,', // 9: duplicate of line 2
          'quote,1,x-y,zstd,,', // 10: column
          'quote,1,asize,zstd,,3,extra', // 11: too many fields
        ].join('\n'),
      ),
    );
    expect(e).toBeInstanceOf(TickbusError);
    expect(e.code).toBe(ErrorCode.BAD_CONFIG);
    const problems = e.detail.problems as { file: string; line: number; column?: string; rule: string }[];
    expect(problems.map((p) => [p.line, p.column])).toEqual([
      [3, 'minage'],
      [4, 'calgo'],
      [5, 'clevel'],
      [6, 'cblocksize'],
      [7, 'clevel'],
      [8, 'table'],
      [9, 'column'],
      [10, 'column'],
      [11, undefined],
    ]);
    expect(problems.every((p) => p.file === 'compression.csv')).toBe(true);
    expect(e.message).toMatch(/^compression\.csv: 9 bad row\(s\): line 3: minage: must be a whole number/);
    expect(e.message).toContain('line 9: column: table trade column default already has a row (line 2)');
    expect(e.message).toContain('line 11: 7 fields, the header has 6');
  });

  it('compression: a header without one of the six columns, or with another, is refused', () => {
    expect(caught(() => parseCompressionCsv('table,minage,column,calgo,clevel\n', 'c.csv')).message).toMatch(/c\.csv line 1: the header has no cblocksize column/);
    expect(caught(() => parseCompressionCsv(HEAD.trim() + ',zzz\n', 'c.csv')).message).toMatch(/unknown column "zzz"/);
  });

  it("compression: a table's own default row wins over default,default; column rows are noted, not honoured", () => {
    const rules = parse(['default,10,default,2,17,6', 'quote,5,default,zstd,,9', 'quote,5,bid,zstd,,12', 'quote,5,ask,zstd,,9', 'default,10,size,snappy,,'].join('\n'));
    const q = ruleForTable(rules, 'quote', ['time', 'sym', 'bid', 'ask', 'size']);
    expect(q?.spec).toEqual({ codec: 'zstd', level: 9 });
    expect(q?.minage).toBe(5);
    expect(q?.notes).toEqual([
      'column bid asks for zstd(12) (line 4): one codec per Parquet file here, zstd(9) used',
      'column size asks for snappy (line 6): one codec per Parquet file here, zstd(9) used',
    ]);
    const t = ruleForTable(rules, 'trade', ['time', 'sym', 'price']);
    expect(t).toEqual({ spec: { codec: 'gzip' }, minage: 10, line: 2, notes: ['gzip level 6 asked: DuckDB writes gzip at its default level'] });
    // No default row: a table with only column rows takes its first one; a table with none is left alone.
    const only = parse('depth,3,bid,zstd,,7\n');
    expect(ruleForTable(only, 'depth', ['time', 'bid'])?.spec).toEqual({ codec: 'zstd', level: 7 });
    expect(ruleForTable(only, 'trade', ['time', 'price'])).toBeUndefined();
  });

  it('compression: the shipped ops/compression.csv parses', () => {
    const file = resolve(import.meta.dirname, '..', '..', 'ops', 'compression.csv');
    const rules = parseCompressionCsv(readFileSync(file, 'utf8'), file);
    expect(rules.length).toBeGreaterThan(0);
  });
});

describe('compression settings', () => {
  it('compression: settings default as documented and every bound is a BAD_CONFIG naming the setting', () => {
    const s = compressionSettings({ name: 'c1' });
    expect(s).toMatchObject({ ...defaultCompressionSettings, csv: expect.stringMatching(/ops\/compression\.csv$/), runtimes: ['03:00'] });
    expect(s.threads).toBeGreaterThanOrEqual(1);
    expect(compressionSettings({ name: 'c1', runtimes: '01:00, 13:30' }).runtimes).toEqual(['01:00', '13:30']);
    for (const [k, v] of [
      ['maxAgeDays', -1],
      ['partitionsPerRunMax', 0],
      ['sampleRows', 10],
      ['threads', 0],
      ['scheduleCheckMs', 10],
      ['memoryLimit', 'lots'],
      ['zone', 'Mars/Olympus'],
      ['runtimes', []],
      ['hdbDir', ''],
    ] as const) {
      const e = caught(() => compressionSettings({ name: 'c1', [k]: v }));
      expect(e.code, k).toBe(ErrorCode.BAD_CONFIG);
      expect(e.detail.setting, k).toBe(k);
    }
  });
});

