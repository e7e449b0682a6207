// TorQ's sort.csv as data: per table, the columns a partition is sorted by, in order, and which
// one is "parted" (kdb+'s `p#` attribute: rows of one value are contiguous, so a filter on it
// reads one run). Tables without their own rows use `default`; the default is sym then time.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

/** One sort.csv row: `tabname,att,column,sort`. */
export interface SortColumn {
  column: string;
  /** kdb+ attribute: p (parted), s (sorted), g (grouped), u (unique), or none. */
  att?: 'p' | 's' | 'g' | 'u';
}

/** Table name (or `default`) -> its sort columns, in order. */
export type SortConfig = Readonly<Record<string, readonly SortColumn[]>>;

export const defaultSortConfig: SortConfig = {
  default: [{ column: 'sym', att: 'p' }, { column: 'time' }],
};

/** The sort columns for a table: its own rows, else `default`, else none (arrival order). */
export function sortColumnsFor(config: SortConfig, table: string): readonly SortColumn[] {
  return config[table] ?? config.default ?? [];
}

/**
 * Parses TorQ's sort.csv (header `tabname,att,column,sort`). Rows whose sort flag is 0 keep their
 * attribute but do not sort; blank lines and `#` comments are skipped.
 */
export function parseSortCsv(text: string): SortConfig {
  const out: Record<string, SortColumn[]> = {};
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const header = lines.shift()?.split(',').map((s) => s.trim());
  if (!header || header.join(',') !== 'tabname,att,column,sort') {
    throw new TickbusError(ErrorCode.BAD_CONFIG, 'sort.csv must start with the header tabname,att,column,sort', { header: header?.join(',') });
  }
  lines.forEach((line, i) => {
    const [tab, att, column, sort] = line.split(',').map((s) => s.trim());
    if (!tab || !column) throw new TickbusError(ErrorCode.BAD_CONFIG, `sort.csv line ${i + 2}: tabname and column are required`, { line });
    if (att && !['p', 's', 'g', 'u'].includes(att)) throw new TickbusError(ErrorCode.BAD_CONFIG, `sort.csv line ${i + 2}: unknown attribute ${att}`, { line });
    if (sort !== undefined && !['', '0', '1', '0b', '1b'].includes(sort)) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `sort.csv line ${i + 2}: sort must be 1 or 0`, { line });
    }
    // A table listed only with sort 0 is kept in arrival order (an empty list, not the default).
    out[tab] ??= [];
    if (sort === '0' || sort === '0b') return;
    out[tab].push(att ? { column, att: att as SortColumn['att'] } : { column });
  });
  return out;
}
