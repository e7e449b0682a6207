// A report's result as a table and as file contents (csv, json, txt). A query result (the one
// columnar shape, storage/query/result.ts) keeps its columns and types; anything else a named API
// returns is tabulated: a list of objects by their keys, a list of scalars as one column, an object
// as key/value rows, a scalar as one cell. Pure.
import { jsonReplacer } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { ColumnType } from '../../storage/schema.ts';
import { RESULT_TYPE, resultToJson, type QueryResult } from '../../storage/query/result.ts';
import type { FileFormat } from './handler_spec.ts';

export interface Tabular {
  columns: string[];
  /** Column types when the result was a query result; absent = inferred per value. */
  types?: ColumnType[];
  /** JSON-friendly cells: string, number, boolean or null (timestamps as ISO strings). */
  rows: unknown[][];
}

export function isQueryResult(v: unknown): v is QueryResult {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === RESULT_TYPE && Array.isArray((v as QueryResult).columns);
}

function cell(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString();
  if (typeof v === 'object') return JSON.stringify(v, jsonReplacer);
  return v;
}

/** The result as a table (rows bounded by `rowsMax`: a larger one is a typed error). */
export function tabulate(result: unknown, rowsMax: number): Tabular {
  let t: Tabular;
  if (isQueryResult(result)) {
    if (result.n > rowsMax) throw tooMany(result.n, rowsMax);
    const j = resultToJson(result);
    const cols = j.columns.map((c) => j.cols[c]!);
    const rows: unknown[][] = new Array(result.n);
    for (let i = 0; i < result.n; i++) rows[i] = cols.map((c) => cell(c[i]));
    return { columns: [...j.columns], types: [...j.types], rows };
  }
  if (Array.isArray(result)) {
    if (result.length > rowsMax) throw tooMany(result.length, rowsMax);
    if (result.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))) {
      const columns = [...new Set(result.flatMap((r) => Object.keys(r as object)))];
      t = { columns, rows: result.map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c]))) };
    } else t = { columns: ['result'], rows: result.map((v) => [cell(v)]) };
  } else if (typeof result === 'object' && result !== null && !ArrayBuffer.isView(result)) {
    t = { columns: ['key', 'value'], rows: Object.entries(result).map(([k, v]) => [k, cell(v)]) };
  } else if (result === undefined || result === null) t = { columns: ['result'], rows: [] };
  else t = { columns: ['result'], rows: [[cell(result)]] };
  return t;
}

function tooMany(n: number, max: number): TickbusError {
  return new TickbusError(ErrorCode.BAD_QUERY, `the result has ${n} rows; a report handler takes at most ${max} (setting resultRowsMax)`, { rows: n, resultRowsMax: max });
}

/** True when an alert should go: a non-empty table or list, true, a non-zero number, a non-empty string. */
export function isAlerting(result: unknown): boolean {
  if (isQueryResult(result)) return result.n > 0;
  if (Array.isArray(result)) return result.length > 0;
  if (typeof result === 'object' && result !== null) return Object.keys(result).length > 0;
  if (typeof result === 'string') return result.length > 0;
  if (typeof result === 'number') return result !== 0 && !Number.isNaN(result);
  if (typeof result === 'bigint') return result !== 0n;
  return result === true;
}

function csvField(v: unknown): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(t: Tabular): string {
  return [t.columns.map(csvField).join(','), ...t.rows.map((r) => r.map(csvField).join(','))].join('\n') + '\n';
}

/** JSON: a table as a list of row objects (TorQ's .j.j of a table). */
export function toJson(t: Tabular): string {
  return JSON.stringify(t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c, r[i]]))), jsonReplacer) + '\n';
}

/** Text: a fixed-width table, as the q console shows one. */
export function toTxt(t: Tabular): string {
  const text = t.rows.map((r) => r.map((v) => (v === null ? '' : String(v))));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' ').trimEnd();
  return [line(t.columns), '-'.repeat(widths.reduce((a, w) => a + w + 1, -1)), ...text.map(line)].join('\n') + '\n';
}

export function render(t: Tabular, format: FileFormat): string {
  return format === 'csv' ? toCsv(t) : format === 'json' ? toJson(t) : toTxt(t);
}
