// Proves the report file's checks (TorQ's reporter.csv rules): a valid file loads, and each broken
// rule is a BAD_CONFIG naming the file, the line, the report and the column; several problems are
// reported together. Also the resulthandler syntax (handler{json params}) and its parameter rules.
// Pure: text in, reports or errors out.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseHandlerSpec, HandlerSpecError } from '../../actors/reporter/handler_spec.ts';
import { parseReports, parseSpan, REPORT_COLUMNS, type ReportColumn } from '../../actors/reporter/report_csv.ts';

const header = REPORT_COLUMNS.join('|');
const good: Record<ReportColumn, string> = {
  name: 'counts',
  query: '{"type":"tickbus.v1.getdata","table":"trade","start":"2000-01-01","end":"2100-01-01","aggregations":[{"op":"count"}]}',
  resulthandler: 'writecsv{"dir":"out"}',
  gateway: 'gateway',
  joinfunction: 'raze',
  proctype: 'rdb hdb',
  procname: '',
  start: '09:30',
  end: '16:00',
  period: '00:10',
  timeoutinterval: '00:00:30',
  daysofweek: '2 3 4 5 6',
};
const row = (o: Partial<Record<ReportColumn, string>> = {}) => REPORT_COLUMNS.map((c) => o[c] ?? good[c]).join('|');
const tables = new Set(['trade', 'quote']);

/** Parses a file of the header plus `rows`; returns the error's problems. */
function problems(...rows: string[]): Array<{ line: number; name: string; column: string; rule: string }> {
  try {
    parseReports([header, ...rows].join('\n'), 'reporter.csv', tables);
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    expect((e as TickbusError).code).toBe(ErrorCode.BAD_CONFIG);
    expect((e as TickbusError).message).toContain('reporter.csv');
    return (e as TickbusError).detail.problems as never;
  }
  throw new Error('expected a BAD_CONFIG');
}

/** One row with one change must break exactly the rule of `column`, naming line 2 and the report. */
function broken(change: Partial<Record<ReportColumn, string>>, column: ReportColumn, rule: RegExp): void {
  const p = problems(row(change));
  expect(p.length, JSON.stringify(p)).toBeGreaterThanOrEqual(1);
  expect(p[0]).toMatchObject({ line: 2, column });
  expect(p[0]!.rule).toMatch(rule);
}

describe('reporter csv', () => {
  it('reporter: a valid file loads with its schedule, target and handler', () => {
    const text = ['# comment lines are skipped', header, row(), row({ name: 'direct', gateway: '', joinfunction: '', proctype: 'rdb', procname: 'rdb1', resulthandler: '' })].join('\n');
    const [a, b] = parseReports(text, 'reporter.csv', tables);
    expect(a).toMatchObject({ line: 3, name: 'counts', viaGateway: true, join: 'raze', proctypes: ['rdb', 'hdb'], startMs: 9.5 * 3_600_000, endMs: 16 * 3_600_000, periodMs: 600_000, timeoutMs: 30_000, days: [2, 3, 4, 5, 6] });
    expect(a!.handler).toEqual({ kind: 'writecsv', params: { dir: 'out', file: undefined } });
    expect(b).toMatchObject({ line: 4, name: 'direct', viaGateway: false, proctypes: ['rdb'], procname: 'rdb1', handler: undefined });
  });

  it('reporter: a field may be quoted to hold a pipe', () => {
    const q = '"{""type"":""tickbus.v1.sql"",""sql"":""select 1 as a|b""}"';
    const [r] = parseReports([header, row({ query: q, proctype: 'hdb' })].join('\n'), 'reporter.csv', tables);
    expect(r!.query).toEqual({ type: 'tickbus.v1.sql', sql: 'select 1 as a|b' });
  });

  it('reporter: the header must be TorQ\'s columns', () => {
    expect(() => parseReports('name|query\n', 'reporter.csv')).toThrow(/line 1: the header must be name\|query\|resulthandler/);
  });

  it('reporter: each rule names its row and column', () => {
    broken({ name: '9bad' }, 'name', /report name/);
    broken({ query: 'select from trade' }, 'query', /JSON request/);
    broken({ query: '{"type":"tickbus.v1.nope"}' }, 'query', /type must be one of/);
    broken({ query: '{"type":"tickbus.v1.getdata","table":"nosuch"}' }, 'query', /not in the schema/);
    broken({ query: '{"type":"tickbus.v1.call"}' }, 'query', /needs api/);
    broken({ resulthandler: 'writetofile["./out"]' }, 'resulthandler', /expected <handler>/);
    broken({ resulthandler: 'mailme' }, 'resulthandler', /unknown handler/);
    broken({ gateway: 'gw1' }, 'gateway', /gateway proctype/);
    broken({ joinfunction: '' }, 'joinfunction', /needs a join function/);
    broken({ gateway: '', joinfunction: '', proctype: 'rdb hdb' }, 'proctype', /several process types need the gateway/);
    broken({ gateway: '', joinfunction: 'raze', proctype: 'rdb' }, 'joinfunction', /only used with the gateway/);
    broken({ proctype: '' }, 'proctype', /required/);
    broken({ proctype: 'rdb rdb' }, 'proctype', /twice/);
    broken({ procname: 'a.b' }, 'procname', /not a process name/);
    broken({ start: '9:30' }, 'start', /time of day/);
    broken({ start: '24:00' }, 'start', /before 24:00/);
    broken({ end: '24:01' }, 'end', /up to 24:00/);
    broken({ start: '16:00', end: '09:30' }, 'end', /must be after start/);
    broken({ start: '10:00', end: '10:00' }, 'end', /must be after start/);
    broken({ period: '00:00' }, 'period', /from 00:00:01 to 24:00/);
    broken({ period: '00:00:00.5' }, 'period', /from 00:00:01/);
    broken({ period: '' }, 'period', /from 00:00:01/);
    broken({ timeoutinterval: '00:00:00' }, 'timeoutinterval', /greater than 0/);
    broken({ timeoutinterval: '30s' }, 'timeoutinterval', /HH:MM/);
    broken({ daysofweek: '' }, 'daysofweek', /at least one day/);
    broken({ daysofweek: '1 7' }, 'daysofweek', /0\.\.6/);
    broken({ daysofweek: '2 2' }, 'daysofweek', /twice/);
  });

  it('reporter: names are unique, rows have twelve fields, and every problem is reported at once', () => {
    const p = problems(row(), row(), 'short|row', row({ name: 'other', period: '00:00', daysofweek: '9' }));
    expect(p).toEqual([
      expect.objectContaining({ line: 3, name: 'counts', column: 'name', rule: expect.stringMatching(/unique.*line 2/) }),
      expect.objectContaining({ line: 4, column: 'file', rule: expect.stringMatching(/12 fields/) }),
      expect.objectContaining({ line: 5, name: 'other', column: 'period' }),
      expect.objectContaining({ line: 5, name: 'other', column: 'daysofweek' }),
    ]);
    try {
      parseReports([header, row(), row()].join('\n'), 'ops/reporter.csv');
    } catch (e) {
      expect((e as Error).message).toMatch(/^ops\/reporter\.csv: 1 problem: line 3 \(report counts\) name: report names are unique/);
    }
  });

  it('reporter: spans are q times (HH:MM, HH:MM:SS, HH:MM:SS.mmm)', () => {
    expect(parseSpan('00:01')).toBe(60_000);
    expect(parseSpan('00:00:10')).toBe(10_000);
    expect(parseSpan('00:00:00.25')).toBe(250);
    expect(parseSpan('24:00')).toBe(86_400_000);
    expect(parseSpan('00:60')).toBeUndefined();
    expect(parseSpan('1:00')).toBeUndefined();
  });

  it('reporter: handler parameters are checked', () => {
    expect(parseHandlerSpec('')).toBeUndefined();
    expect(parseHandlerSpec('publish')).toEqual({ kind: 'publish', params: { subject: undefined } });
    expect(parseHandlerSpec('emailreport{"to":"a@b.io","format":"json"}')).toEqual({ kind: 'emailreport', params: { to: ['a@b.io'], format: 'json', file: undefined, subject: undefined } });
    expect(parseHandlerSpec('emailalert{"to":["a@b.io","c@d.io"],"throttleMs":1000}')).toMatchObject({ params: { to: ['a@b.io', 'c@d.io'], throttleMs: 1000 } });
    const bad = (s: string, re: RegExp) => {
      expect(() => parseHandlerSpec(s)).toThrow(HandlerSpecError);
      expect(() => parseHandlerSpec(s)).toThrow(re);
    };
    bad('writecsv{"directory":"x"}', /unknown parameter "directory"/);
    bad('writecsv{"file":"../etc"}', /file must be/);
    bad('writecsv{dir:"x"}', /not JSON/);
    bad('writecsv["x"]', /expected <handler>/);
    bad('publish{"subject":"report.>"}', /subject must be/);
    bad('emailalert', /to must be/);
    bad('emailalert{"to":"not-an-address"}', /not an e-mail address/);
    bad('emailalert{"to":"a@b.io","throttleMs":-1}', /throttleMs/);
    bad('emailreport{"to":"a@b.io","format":"xls"}', /format must be one of csv, json, txt/);
  });
});
