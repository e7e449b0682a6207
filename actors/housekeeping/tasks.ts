// The housekeeping task table (TorQ's housekeeping.csv):
//   function,path,match,exclude,age[,agemin,checkfordirectory]
// function   rm | zip | tardir | the name of a function exported by the hooks module
// path       the directory searched (its direct entries only); relative = inside the data dir
// match      glob on entry names (actors/common/glob.ts); exclude: a glob of names left alone (may be empty)
// age        act on entries whose mtime is more than `age` days old (minutes with agemin=1); a number >= 0
// agemin     0/1 (default 0)
// checkfordirectory 0/1 (default 0): match directories instead of files (tardir needs it; zip refuses it)
// Every row is validated at load: a bad row is a BAD_CONFIG naming the file, the line and the rule.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { globToRegExp } from '../common/glob.ts';
import { badRow, flag, readOpsCsv } from '../common/ops_csv.ts';
import { inData } from './settings.ts';

export const BUILT_IN_FUNCTIONS = ['rm', 'zip', 'tardir'] as const;

export interface HousekeepingTask {
  line: number;
  function: string;
  /** The directory, resolved (lexically; realpath is checked at each run). */
  path: string;
  match: string;
  exclude: string;
  /** The age bound in ms. */
  ageMs: number;
  /** The age as written, and its unit, for the report. */
  age: number;
  unit: 'days' | 'minutes';
  directories: boolean;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** Ages beyond this are refused as typos (about 100 years). */
const AGE_DAYS_MAX = 36_600;

/** True when `p` is `root` or inside it (both absolute and normalized). */
export function within(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

export function parseHousekeepingCsv(text: string, file: string, roots: readonly string[], hookNames: readonly string[]): HousekeepingTask[] {
  const rows = readOpsCsv(text, file, ['function', 'path', 'match', 'exclude', 'age'], ['agemin', 'checkfordirectory']);
  return rows.map((row) => {
    const v = row.values;
    const fn = v.function!;
    if (!(BUILT_IN_FUNCTIONS as readonly string[]).includes(fn) && !hookNames.includes(fn)) {
      throw badRow(file, row.line, `unknown function ${JSON.stringify(fn)} (built in: ${BUILT_IN_FUNCTIONS.join(', ')}; hooks: ${hookNames.join(', ') || 'none'})`, { column: 'function', value: fn });
    }
    const rawPath = v.path!;
    if (!rawPath) throw badRow(file, row.line, 'path is empty', { column: 'path' });
    if (rawPath.split(/[\\/]/).includes('..')) throw badRow(file, row.line, `path ${JSON.stringify(rawPath)} holds a .. segment`, { column: 'path', value: rawPath });
    const path = inData(rawPath);
    if (!roots.some((r) => within(resolve(r), path))) {
      throw badRow(file, row.line, `path ${path} is outside the configured roots (${roots.join(', ')})`, { column: 'path', value: rawPath, roots });
    }
    if (!v.match) throw badRow(file, row.line, 'match is empty', { column: 'match' });
    for (const c of ['match', 'exclude'] as const) {
      if (!v[c]) continue;
      try {
        globToRegExp(v[c]!);
      } catch (e) {
        throw badRow(file, row.line, `${c}: ${(e as Error).message}`, { column: c, value: v[c] });
      }
    }
    const ageText = v.age!;
    const age = Number(ageText);
    if (ageText === '' || !Number.isFinite(age) || age < 0) throw badRow(file, row.line, `age must be a number >= 0, got ${JSON.stringify(ageText)}`, { column: 'age', value: ageText });
    const minutes = flag(file, row, 'agemin');
    if ((minutes ? age / 1_440 : age) > AGE_DAYS_MAX) throw badRow(file, row.line, `age ${age} is more than ${AGE_DAYS_MAX} days`, { column: 'age', value: ageText });
    const directories = flag(file, row, 'checkfordirectory');
    if (fn === 'tardir' && !directories) throw badRow(file, row.line, 'tardir archives directories: set checkfordirectory to 1', { column: 'checkfordirectory' });
    if (fn === 'zip' && directories) throw badRow(file, row.line, 'zip compresses files: checkfordirectory must be 0 (tardir archives directories)', { column: 'checkfordirectory' });
    return {
      line: row.line,
      function: fn,
      path,
      match: v.match!,
      exclude: v.exclude ?? '',
      ageMs: age * (minutes ? MINUTE_MS : DAY_MS),
      age,
      unit: minutes ? 'minutes' : 'days',
      directories,
    };
  });
}
