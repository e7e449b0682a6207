// Proves the check table reader (actors/monitor/checks_csv.ts): TorQ's pipe-delimited columns, the
// JSON and q-dictionary params forms, TorQ's timespan and the simple duration forms, and one
// refusal per rule, each a BAD_CONFIG naming the file, the line, the column and the rule. Pure.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TickbusError } from '../../bus/errors.ts';
import { checkLimits, parseChecksCsv, parseDurationMs, parseQDict, readChecksFile } from '../../actors/monitor/checks_csv.ts';
import { checksFilePath } from '../../actors/monitor/checks.ts';

const HEADER = 'family|metric|process|query|resultchecker|params|period|runtime';
const COUNT = '{"type":"tickbus.v1.query","table":"trade","count":true}';
const GOOD = `rdb|tradecount|rdb|${COUNT}|checkcount|{"comp":0,"cond":"morethan"}|0D00:01|0D00:00:05`;

function refusal(text: string): TickbusError {
  try {
    parseChecksCsv(text, 'monitor.csv');
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    expect((e as TickbusError).code).toBe('BAD_CONFIG');
    return e as TickbusError;
  }
  throw new Error('expected BAD_CONFIG');
}

/** A table with the good row and then `row` (on line 3). */
const withRow = (row: string) => `${HEADER}\n${GOOD}\n${row}\n`;

describe('check table', () => {
  it('checks: reads TorQ columns, both params forms, both duration forms, comments and blank lines', () => {
    const text = [
      '# a comment',
      HEADER,
      GOOD,
      '',
      `rdb|quotes|rdb1|{"type":"tickbus.v1.query","table":"quote","count":true,"syms":["A#B"]}|checkcount|\`comp\`cond!(10;\`lessthan)|30s|500ms`,
      'hdb|up|hdb|{"type":"tickbus.v1.sql","sql":"select true as up"}|truefalse||1m|00:00:10',
      'hdb|upq|hdb|{"type":"tickbus.v1.sql","sql":"select false as up"}|truefalse|`cond!enlist 0b|2h|1.5s',
      'gw|q|rdb|{"type":"tickbus.v1.gateway.request","query":{"type":"tickbus.v1.call","api":"apis"},"target":["rdb","hdb"],"join":"list"}|resulttrue||100ms|10ms',
    ].join('\n');
    const specs = parseChecksCsv(text, 'monitor.csv');
    expect(specs.map((s) => `${s.family}.${s.metric}@${s.line}`)).toEqual(['rdb.tradecount@3', 'rdb.quotes@5', 'hdb.up@6', 'hdb.upq@7', 'gw.q@8']);
    expect(specs[0]).toMatchObject({ process: 'rdb', checker: { name: 'checkcount', comp: 0, cond: 'morethan' }, periodMs: 60_000, runtimeMs: 5_000, query: { kind: 'backend' } });
    expect(specs[1]).toMatchObject({ process: 'rdb1', checker: { name: 'checkcount', comp: 10, cond: 'lessthan' }, periodMs: 30_000, runtimeMs: 500 });
    expect((specs[1]!.query as unknown as { request: { syms: string[] } }).request.syms).toEqual(['A#B']);
    expect(specs[2]).toMatchObject({ checker: { name: 'truefalse', cond: true }, periodMs: 60_000, runtimeMs: 10_000 });
    expect(specs[3]).toMatchObject({ checker: { name: 'truefalse', cond: false }, periodMs: 7_200_000, runtimeMs: 1_500 });
    expect(specs[4]).toMatchObject({ checker: { name: 'resulttrue' }, periodMs: 100, runtimeMs: 10, query: { kind: 'gateway', request: { target: ['rdb', 'hdb'], join: 'list' } } });
  });

  it('checks: durations in TorQ timespan, time and unit forms', () => {
    expect(parseDurationMs('0D00:01')).toBe(60_000);
    expect(parseDurationMs('1D00:00:00')).toBe(86_400_000);
    expect(parseDurationMs('0D00:00:00.250')).toBe(250);
    expect(parseDurationMs('00:00:05')).toBe(5_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('2.5s')).toBe(2_500);
    expect(parseDurationMs('0D00:61')).toBeUndefined();
    expect(parseDurationMs('5')).toBeUndefined();
    expect(parseDurationMs('5 minutes')).toBeUndefined();
  });

  it('checks: q dictionaries as TorQ writes params', () => {
    expect(parseQDict('`comp`cond!(0;`morethan)')).toEqual({ comp: 0, cond: 'morethan' });
    expect(parseQDict('`cond!enlist 1b')).toEqual({ cond: true });
    expect(parseQDict('enlist[`cond]!enlist 0b')).toEqual({ cond: false });
    expect(parseQDict('`comp`cond!(5i;`lessthan)')).toEqual({ comp: 5, cond: 'lessthan' });
    expect(() => parseQDict('`a`b!(1;2;3)')).toThrow(/2 keys but 3 values/);
    expect(parseQDict('not a dict')).toBeUndefined();
  });

  it('checks: the shipped ops/monitor.csv is valid, found from the checkout whatever the working directory', () => {
    const file = checksFilePath('ops/monitor.csv');
    expect(file).toBe(join(import.meta.dirname, '..', '..', 'ops', 'monitor.csv'));
    const specs = readChecksFile(file);
    expect(specs.map((s) => s.checker.name).sort()).toEqual(['checkcount', 'checkcount', 'resulttrue', 'truefalse']);
    expect(checksFilePath('/etc/x.csv')).toBe('/etc/x.csv');
  });

  it('checks: reads a file and names it when it is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickbus-checks-'));
    const file = join(dir, 'monitor.csv');
    writeFileSync(file, `${HEADER}\n${GOOD}\n`);
    expect(readChecksFile(file)).toHaveLength(1);
    try {
      readChecksFile(join(dir, 'nope.csv'));
      throw new Error('expected BAD_CONFIG');
    } catch (e) {
      expect((e as TickbusError).code).toBe('BAD_CONFIG');
      expect((e as TickbusError).message).toMatch(/cannot read the check table .*nope\.csv/);
    }
  });

  // One refusal per rule: [what is wrong, the row or text, column, message pattern, line].
  const cases: Array<[string, string, string, RegExp, number]> = [
    ['empty file', '', 'header', /the file is empty/, 1],
    ['header missing a column', 'family|metric|process|query|resultchecker|params|period\n', 'header', /no runtime column/, 1],
    ['header with an unknown column', `${HEADER}|owner\n`, 'header', /unknown column owner/, 1],
    ['too few fields', withRow('rdb|x|rdb|{}|checkcount'), 'row', /has 5 fields, the header 8/, 3],
    ['a | inside a field', withRow(`rdb|x|rdb|{"type":"tickbus.v1.sql","sql":"select 1|2"}|resulttrue||1m|1s`), 'row', /has 9 fields/, 3],
    ['bad family name', withRow(`1rdb|x|rdb|${COUNT}|resulttrue||1m|1s`), 'family', /must be a name/, 3],
    ['bad metric name', withRow(`rdb|x y|rdb|${COUNT}|resulttrue||1m|1s`), 'metric', /must be a name/, 3],
    ['bad process name', withRow(`rdb|x|rdb.1|${COUNT}|resulttrue||1m|1s`), 'process', /must be a name/, 3],
    ['duplicate family|metric', withRow(`rdb|tradecount|rdb|${COUNT}|resulttrue||1m|1s`), 'metric', /already the check on line 2/, 3],
    ['query not JSON', withRow('rdb|x|rdb|select count i from trade|resulttrue||1m|1s'), 'query', /not valid JSON/, 3],
    ['query empty', withRow('rdb|x|rdb||resulttrue||1m|1s'), 'query', /is required/, 3],
    ['query not an object', withRow('rdb|x|rdb|[1,2]|resulttrue||1m|1s'), 'query', /must be a JSON object/, 3],
    ['query of an unknown type', withRow('rdb|x|rdb|{"type":"tickbus.v1.upd"}|resulttrue||1m|1s'), 'query', /type must be one of/, 3],
    ['call without api', withRow('rdb|x|rdb|{"type":"tickbus.v1.call"}|resulttrue||1m|1s'), 'query', /needs api/, 3],
    ['call with args not a list', withRow('rdb|x|rdb|{"type":"tickbus.v1.call","api":"f","args":1}|resulttrue||1m|1s'), 'query', /args must be a list/, 3],
    ['gateway request with a timeout', withRow('rdb|x|rdb|{"type":"tickbus.v1.gateway.request","query":{"type":"tickbus.v1.call","api":"f"},"timeoutMs":5}|resulttrue||1m|1s'), 'query', /unknown timeoutMs/, 3],
    ['gateway request without query', withRow('rdb|x|rdb|{"type":"tickbus.v1.gateway.request"}|resulttrue||1m|1s'), 'query', /needs query/, 3],
    ['unknown checker', withRow(`rdb|x|rdb|${COUNT}|checksum||1m|1s`), 'resultchecker', /must be one of checkcount, truefalse, resulttrue/, 3],
    ['params not JSON', withRow(`rdb|x|rdb|${COUNT}|checkcount|{"comp":0,|1m|1s`), 'params', /not valid JSON/, 3],
    ['params neither JSON nor q', withRow(`rdb|x|rdb|${COUNT}|checkcount|comp=0|1m|1s`), 'params', /must be a JSON object .* or a q dictionary/, 3],
    ['params with an unknown key', withRow(`rdb|x|rdb|${COUNT}|checkcount|{"a":1}|1m|1s`), 'params', /unknown key a/, 3],
    ['checkcount without params', withRow(`rdb|x|rdb|${COUNT}|checkcount||1m|1s`), 'params', /checkcount needs comp/, 3],
    ['checkcount comp not a number', withRow(`rdb|x|rdb|${COUNT}|checkcount|{"comp":"0","cond":"morethan"}|1m|1s`), 'params', /checkcount needs comp/, 3],
    ['checkcount bad cond', withRow(`rdb|x|rdb|${COUNT}|checkcount|{"comp":0,"cond":"equal"}|1m|1s`), 'params', /checkcount needs cond, "morethan" or "lessthan"/, 3],
    ['truefalse cond not boolean', withRow(`rdb|x|rdb|${COUNT}|truefalse|{"cond":"yes"}|1m|1s`), 'params', /truefalse takes cond, true or false/, 3],
    ['resulttrue with params', withRow(`rdb|x|rdb|${COUNT}|resulttrue|{"cond":true}|1m|1s`), 'params', /resulttrue takes no params; unknown key cond/, 3],
    ['q dict with a value this reader cannot take', withRow(`rdb|x|rdb|${COUNT}|checkcount|\`comp\`cond!(til 3;\`morethan)|1m|1s`), 'params', /not a q dictionary this reader takes/, 3],
    ['period not a duration', withRow(`rdb|x|rdb|${COUNT}|resulttrue||every minute|1s`), 'period', /must be a duration/, 3],
    ['period too short', withRow(`rdb|x|rdb|${COUNT}|resulttrue||50ms|1s`), 'period', new RegExp(`between ${checkLimits.periodMinMs} ms`), 3],
    ['period too long', withRow(`rdb|x|rdb|${COUNT}|resulttrue||2D00:00|1s`), 'period', /and 86400000 ms/, 3],
    ['runtime not a duration', withRow(`rdb|x|rdb|${COUNT}|resulttrue||1m|5`), 'runtime', /must be a duration/, 3],
    ['runtime over the gateway maximum', withRow(`rdb|x|rdb|${COUNT}|resulttrue||1m|11m`), 'runtime', /and 600000 ms/, 3],
  ];

  for (const [what, text, column, pattern, line] of cases) {
    it(`checks: refuses ${what}, naming the file, line ${line} and column ${column}`, () => {
      const e = refusal(text);
      expect(e.detail).toMatchObject({ file: 'monitor.csv', line, column });
      expect(e.message).toMatch(new RegExp(`^monitor\\.csv line ${line}, ${column}: `));
      expect(e.message).toMatch(pattern);
      expect(typeof e.detail.rule).toBe('string');
    });
  }

  it(`checks: refuses more than ${checkLimits.checksMax} checks`, () => {
    const rows = Array.from({ length: checkLimits.checksMax + 1 }, (_, i) => `f|m${i}|rdb|${COUNT}|resulttrue||1m|1s`);
    const e = refusal([HEADER, ...rows].join('\n'));
    expect(e.message).toMatch(/at most 1000 checks per file/);
    expect(e.detail.line).toBe(checkLimits.checksMax + 2);
  });
});
