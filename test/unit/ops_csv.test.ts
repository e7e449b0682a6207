// Proves the ops CSV rules without I/O: every housekeeping and file alerter row rule gives a
// BAD_CONFIG naming the file, the line and the rule; the file-name glob; the daily schedule across
// zones and a DST change (days taken from instants computed here, never the wall clock).
import { describe, expect, it } from 'vitest';
import { TickbusError } from '../../bus/errors.ts';
import { matchesGlob } from '../../actors/common/glob.ts';
import { parseHousekeepingCsv, within } from '../../actors/housekeeping/tasks.ts';
import { nextRunAt } from '../../actors/housekeeping/schedule.ts';
import { parseFileAlerterCsv } from '../../actors/filealerter/rules.ts';
import { wallToInstant } from '../../actors/common/clock.ts';

const ROOT = '/srv/tickbus/data';
const HEAD = 'function,path,match,exclude,age,agemin,checkfordirectory\n';

function hkError(body: string, hooks: string[] = []): TickbusError {
  try {
    parseHousekeepingCsv(HEAD + body, 'hk.csv', [ROOT], hooks);
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    return e as TickbusError;
  }
  throw new Error('no error');
}

describe('housekeeping table', () => {
  it('housekeeping: valid rows load with ages in ms and paths resolved inside the roots', () => {
    const t = parseHousekeepingCsv(HEAD + `zip,${ROOT}/logs,*.log,*tick*,2,,\nrm,${ROOT}/logs,*.gz,,30,1,\ntardir,${ROOT}/reports,2*,,7,0,1\nmine,${ROOT}/x,*,,0,,\n`, 'hk.csv', [ROOT], ['mine']);
    expect(t.map((x) => [x.line, x.function, x.ageMs, x.directories])).toEqual([
      [2, 'zip', 2 * 86_400_000, false],
      [3, 'rm', 30 * 60_000, false],
      [4, 'tardir', 7 * 86_400_000, true],
      [5, 'mine', 0, false],
    ]);
    // The two optional columns may be absent from the header.
    expect(parseHousekeepingCsv(`function,path,match,exclude,age\nrm,${ROOT},*.tmp,,1\n`, 'hk.csv', [ROOT], [])).toHaveLength(1);
  });

  it('housekeeping: inside a root means the root or below it, never a name that only starts like it', () => {
    expect(within('/a/b', '/a/b')).toBe(true);
    expect(within('/a/b', '/a/b/c/d')).toBe(true);
    expect(within('/a/b', '/a/bc')).toBe(false);
    expect(within('/a/b', '/a')).toBe(false);
    expect(within('/a/b', '/a/b/../c')).toBe(false);
    expect(within('/a/b', '/a/b/..c')).toBe(true); // a name starting with two dots is a name
    expect(() => parseHousekeepingCsv(HEAD + `rm,${ROOT}x/logs,*.log,,1,,\n`, 'hk.csv', [ROOT], [])).toThrow(/outside the configured roots/);
  });

  it('housekeeping: each bad row names the file, the line and the rule', () => {
    const cases: Array<[string, RegExp]> = [
      [`gzip,${ROOT}/logs,*.log,,2,,\n`, /hk\.csv line 2: unknown function "gzip"/],
      [`rm,${ROOT}/logs,*.log,,two,,\n`, /line 2: age must be a number >= 0, got "two"/],
      [`rm,${ROOT}/logs,*.log,,-1,,\n`, /line 2: age must be a number/],
      [`rm,${ROOT}/logs,*.log,,,,\n`, /line 2: age must be a number/],
      [`rm,/etc,*.conf,,2,,\n`, /line 2: path \/etc is outside the configured roots/],
      [`rm,${ROOT}/../etc,*.conf,,2,,\n`, /line 2: path .* holds a \.\. segment/],
      [`rm,,*.log,,2,,\n`, /line 2: path is empty/],
      [`rm,${ROOT}/logs,,,2,,\n`, /line 2: match is empty/],
      [`rm,${ROOT}/logs,sub/*.log,,2,,\n`, /line 2: match: glob "sub\/\*\.log" holds a \//],
      [`rm,${ROOT}/logs,*.log,,2,2,\n`, /line 2: agemin must be 0 or 1/],
      [`tardir,${ROOT}/logs,d*,,2,,0\n`, /line 2: tardir archives directories: set checkfordirectory to 1/],
      [`zip,${ROOT}/logs,d*,,2,,1\n`, /line 2: zip compresses files/],
      [`rm,${ROOT}/logs,*.log,,2,,,extra\n`, /line 2: 8 fields, the header has 7/],
      [`rm,${ROOT}/logs,*.log,,2,,\nrm,${ROOT}/logs,*.log,,x,,\n`, /line 3: age must be/],
    ];
    for (const [body, re] of cases) {
      const e = hkError(body);
      expect(e.code).toBe('BAD_CONFIG');
      expect(e.message).toMatch(re);
      expect(e.detail).toMatchObject({ file: 'hk.csv' });
    }
    expect(hkError(`rm,${ROOT}/logs,*.log,,x,,\n`).detail).toMatchObject({ line: 2, column: 'age', value: 'x' });
    // Header rules.
    expect(() => parseHousekeepingCsv('function,path,match,age\n', 'hk.csv', [ROOT], [])).toThrow(/hk\.csv line 1: the header has no exclude column/);
    expect(() => parseHousekeepingCsv('function,path,match,exclude,age,colour\n', 'hk.csv', [ROOT], [])).toThrow(/line 1: unknown column "colour"/);
    // A comment line keeps later line numbers true.
    expect(hkError(`# old logs\nrm,${ROOT}/logs,*.log,,x,,\n`).message).toMatch(/line 3:/);
  });
});

describe('file alerter table', () => {
  const FHEAD = 'path,match,function,newonly,movetodirectory\n';
  const tables = ['trade', 'quote'];
  const err = (body: string, hooks: string[] = []) => {
    try {
      parseFileAlerterCsv(FHEAD + body, 'fa.csv', tables, hooks);
    } catch (e) {
      return e as TickbusError;
    }
    throw new Error('no error');
  };

  it('filealerter: valid rows load; loadcsv takes its table from the function or the file name', () => {
    const r = parseFileAlerterCsv(FHEAD + `${ROOT}/incoming,trade*.csv,loadcsv,0,${ROOT}/done\nincoming,*.csv,loadcsv:quote,1,\nincoming,*.txt,mine,0,\n`, 'fa.csv', tables, ['mine']);
    expect(r.map((x) => [x.line, x.function, x.table, x.newonly, x.moveTo !== undefined])).toEqual([
      [2, 'loadcsv', undefined, false, true],
      [3, 'loadcsv', 'quote', true, false],
      [4, 'mine', undefined, false, false],
    ]);
    expect(r[1]!.path.endsWith('/incoming')).toBe(true);
  });

  it('filealerter: each bad row names the file, the line and the rule', () => {
    const cases: Array<[string, RegExp]> = [
      [`${ROOT}/in,*.csv,copy,0,\n`, /fa\.csv line 2: unknown function "copy"/],
      [`${ROOT}/in,*.csv,loadcsv:trades,0,\n`, /line 2: loadcsv:trades names no table in the schema/],
      [`${ROOT}/in,*.csv,loadcsv,yes,\n`, /line 2: newonly must be 0 or 1/],
      [`${ROOT}/in,,loadcsv,0,\n`, /line 2: match is empty/],
      [`,*.csv,loadcsv,0,\n`, /line 2: path is empty/],
      [`${ROOT}/in,a/*.csv,loadcsv,0,\n`, /line 2: match: glob .* holds a \//],
      [`${ROOT}/in,*.csv,loadcsv,0,${ROOT}/in\n`, /line 2: movetodirectory is the watched directory/],
    ];
    for (const [body, re] of cases) {
      const e = err(body);
      expect(e.code).toBe('BAD_CONFIG');
      expect(e.message).toMatch(re);
      expect(e.detail).toMatchObject({ file: 'fa.csv', line: 2 });
    }
  });
});

describe('glob', () => {
  it('glob: * ? [] [!] on whole names, everything else literal', () => {
    expect(matchesGlob('tp1.log', '*.log')).toBe(true);
    expect(matchesGlob('tp1.log.gz', '*.log')).toBe(false);
    expect(matchesGlob('tp1.log.gz', '*.log*')).toBe(true);
    expect(matchesGlob('a.log', '?.log')).toBe(true);
    expect(matchesGlob('ab.log', '?.log')).toBe(false);
    expect(matchesGlob('x1.csv', 'x[0-9].csv')).toBe(true);
    expect(matchesGlob('xa.csv', 'x[!0-9].csv')).toBe(true);
    expect(matchesGlob('x1.csv', 'x[^0-9].csv')).toBe(false);
    expect(matchesGlob('aXlog', 'a.log')).toBe(false); // . is literal
    expect(matchesGlob('a+b(1).txt', 'a+b(1).txt')).toBe(true);
    expect(matchesGlob('tick_2026.log', '*tick*')).toBe(true);
  });
});

describe('schedule', () => {
  it('housekeeping: the next run is the next runtime in the zone, across days and DST', () => {
    const at = (iso: string) => Date.parse(iso);
    // Instants are built from wall times in the zone, so the test holds on any day the code runs.
    const d = '2031-03-08';
    const ny = 'America/New_York';
    const before = wallToInstant(d, '11:00', ny);
    expect(nextRunAt(before, ['12:00'], ny)).toBe(wallToInstant(d, '12:00', ny));
    expect(nextRunAt(wallToInstant(d, '12:00', ny), ['12:00'], ny)).toBe(wallToInstant('2031-03-09', '12:00', ny));
    // Across the spring-forward night the next noon is 23 hours later.
    expect(nextRunAt(wallToInstant(d, '12:00', ny), ['12:00'], ny) - wallToInstant(d, '12:00', ny)).toBe(23 * 3_600_000);
    // Several runtimes: the earliest after now; UTC.
    expect(nextRunAt(at('2031-01-01T06:30:00Z'), ['18:00', '06:00', '07:15'], 'UTC')).toBe(at('2031-01-01T07:15:00Z'));
    expect(nextRunAt(at('2031-01-01T23:30:00Z'), ['18:00', '06:00'], 'UTC')).toBe(at('2031-01-02T06:00:00Z'));
    // A zone ahead of UTC whose date is already tomorrow.
    expect(nextRunAt(at('2031-01-01T20:00:00Z'), ['08:00'], 'Pacific/Auckland')).toBe(wallToInstant('2031-01-03', '08:00', 'Pacific/Auckland')); // 09:00 on the 2nd there;
  });
});
