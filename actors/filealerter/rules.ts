// The file alerter's rule table (TorQ's filealerter.csv):
//   path,match,function,newonly,movetodirectory
// path             the directory polled (its direct entries); relative = inside the data dir
// match            glob on file names (actors/common/glob.ts)
// function         loadcsv (the table from the file name: `trade_20261122.csv` -> trade),
//                  loadcsv:<table>, or the name of a function exported by the hooks module
// newonly          1: files present when the process starts are left alone, and a file is taken
//                  once per name (TorQ's skipallonstart + newonly); 0: every new content is taken
// movetodirectory  where a processed file goes (empty = it stays); relative = inside the data dir
// Every row is validated at load: a bad row is a BAD_CONFIG naming the file, the line and the rule.
import { resolve } from 'node:path';
import { globToRegExp } from '../common/glob.ts';
import { badRow, flag, readOpsCsv } from '../common/ops_csv.ts';
import { inData } from '../housekeeping/settings.ts';

export const LOADCSV = 'loadcsv';

export interface FileRule {
  line: number;
  path: string;
  match: string;
  /** `loadcsv` or a hook name (for `loadcsv:<table>`, `loadcsv` with `table` set). */
  function: string;
  table?: string;
  newonly: boolean;
  moveTo?: string;
}

export function parseFileAlerterCsv(text: string, file: string, tables: readonly string[], hookNames: readonly string[]): FileRule[] {
  const rows = readOpsCsv(text, file, ['path', 'match', 'function', 'newonly', 'movetodirectory']);
  return rows.map((row) => {
    const v = row.values;
    if (!v.path) throw badRow(file, row.line, 'path is empty', { column: 'path' });
    const path = inData(v.path);
    if (!v.match) throw badRow(file, row.line, 'match is empty', { column: 'match' });
    try {
      globToRegExp(v.match);
    } catch (e) {
      throw badRow(file, row.line, `match: ${(e as Error).message}`, { column: 'match', value: v.match });
    }
    const fn = v.function!;
    let table: string | undefined;
    if (fn.startsWith(`${LOADCSV}:`)) {
      table = fn.slice(LOADCSV.length + 1);
      if (!tables.includes(table)) throw badRow(file, row.line, `${fn} names no table in the schema (${tables.join(', ')})`, { column: 'function', value: fn });
    } else if (fn !== LOADCSV && !hookNames.includes(fn)) {
      throw badRow(file, row.line, `unknown function ${JSON.stringify(fn)} (built in: ${LOADCSV}, ${LOADCSV}:<table>; hooks: ${hookNames.join(', ') || 'none'})`, { column: 'function', value: fn });
    }
    const newonly = flag(file, row, 'newonly');
    const moveTo = v.movetodirectory ? inData(v.movetodirectory) : undefined;
    if (moveTo !== undefined && resolve(moveTo) === resolve(path)) throw badRow(file, row.line, 'movetodirectory is the watched directory', { column: 'movetodirectory' });
    return { line: row.line, path, match: v.match, function: table ? LOADCSV : fn, ...(table ? { table } : {}), newonly, ...(moveTo ? { moveTo } : {}) };
  });
}
