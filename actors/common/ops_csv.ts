// The ops CSV files (ops/housekeeping.csv, ops/filealerter.csv): a header line naming the columns,
// then one row per line. Parsed with csv-parse; each row keeps its line number so a validation
// error names the file, the line and the rule broken (a typed BAD_CONFIG).
import { parse } from 'csv-parse/sync';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

export interface CsvRow {
  /** 1-based line of the row in the file (its first line when a quoted field spans several). */
  line: number;
  values: Record<string, string>;
}

/** Rows one ops CSV may hold. */
export const OPS_CSV_ROWS_MAX = 10_000;

export function badRow(file: string, line: number, rule: string, detail: Record<string, unknown> = {}): TickbusError {
  return new TickbusError(ErrorCode.BAD_CONFIG, `${file} line ${line}: ${rule}`, { file, line, rule, ...detail });
}

/**
 * Parses `text` (the contents of `file`) with a header line. `required` columns must be in the
 * header, `optional` ones may be; any other column is refused. Lines starting with `#` and empty
 * lines are skipped.
 */
export function readOpsCsv(
  text: string,
  file: string,
  required: readonly string[],
  optional: readonly string[] = [],
  /** When given, a row with too many fields is reported here and left out instead of thrown (to list every problem at once). */
  problems?: TickbusError[],
): CsvRow[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { info: true, skip_empty_lines: true, comment: '#', comment_no_infix: true, relax_column_count: true, trim: true }) as unknown as typeof records;
  } catch (e) {
    const line = (e as { lines?: number }).lines ?? 0;
    throw badRow(file, line, `not valid CSV: ${(e as Error).message}`);
  }
  const head = records.shift();
  if (!head) throw badRow(file, 1, `the header line is missing (expected ${[...required, ...optional].join(',')})`);
  const header = head.record.map((h) => h.toLowerCase());
  for (const r of required) if (!header.includes(r)) throw badRow(file, head.info.lines, `the header has no ${r} column`, { header, required });
  for (const h of header) {
    if (!required.includes(h) && !optional.includes(h)) throw badRow(file, head.info.lines, `unknown column ${JSON.stringify(h)}`, { header, required, optional });
  }
  if (records.length > OPS_CSV_ROWS_MAX) throw badRow(file, records[OPS_CSV_ROWS_MAX]!.info.lines, `more than ${OPS_CSV_ROWS_MAX} rows`);
  const out: CsvRow[] = [];
  for (const { record, info } of records) {
    if (record.length > header.length) {
      const e = badRow(file, info.lines, `${record.length} fields, the header has ${header.length}`);
      if (!problems) throw e;
      problems.push(e);
      continue;
    }
    const values: Record<string, string> = {};
    header.forEach((h, i) => (values[h] = record[i] ?? ''));
    out.push({ line: info.lines, values });
  }
  return out;
}

/** A 0/1 flag column (empty = 0). */
export function flag(file: string, row: CsvRow, column: string): boolean {
  const v = row.values[column] ?? '';
  if (v === '' || v === '0' || v.toLowerCase() === 'false') return false;
  if (v === '1' || v.toLowerCase() === 'true') return true;
  throw badRow(file, row.line, `${column} must be 0 or 1, got ${JSON.stringify(v)}`, { column, value: v });
}
