// The report file (TorQ's reporter.csv): pipe-delimited, one report a line,
//   name|query|resulthandler|gateway|joinfunction|proctype|procname|start|end|period|timeoutinterval|daysofweek
// parsed with csv-parse and checked with TorQ's rules. Every broken rule is a problem naming the
// file, the line, the report and the column; loading fails with one BAD_CONFIG listing them all,
// so the reporter never starts with half its reports. Pure apart from reading the file.
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { CALL_TYPE } from '../../bus/gateway_client.ts';
import { ASOF_TYPE, GETDATA_TYPE, SQL_TYPE } from '../../storage/query/request.ts';
import { QUERY_TYPE } from '../../storage/query/simple.ts';
import { HandlerSpecError, parseHandlerSpec, type HandlerSpec } from './handler_spec.ts';

export const REPORT_COLUMNS = ['name', 'query', 'resulthandler', 'gateway', 'joinfunction', 'proctype', 'procname', 'start', 'end', 'period', 'timeoutinterval', 'daysofweek'] as const;
export type ReportColumn = (typeof REPORT_COLUMNS)[number];

/** Query types a report may run (the gateway's and the processes' query API). */
export const REPORT_QUERY_TYPES = [QUERY_TYPE, GETDATA_TYPE, ASOF_TYPE, SQL_TYPE, CALL_TYPE] as const;
/** The gateway proctype (TorQ: the gateway column names the gateway's process type). */
export const GATEWAY_PROCTYPE = 'gateway';
/** Reports one file may hold. */
export const REPORTS_MAX = 1_000;
/** Shortest period: one second (a shorter one would keep a timer busy for nothing). */
export const PERIOD_MIN_MS = 1_000;
/** Longest timeoutinterval (and period): one day. */
export const SPAN_MAX_MS = 86_400_000;

export interface ReportDef {
  /** 1-based line in the file. */
  line: number;
  name: string;
  query: Record<string, unknown>;
  /** Absent = the result is logged only. */
  handler: HandlerSpec | undefined;
  /** True = through the gateway (TorQ's gateway column set); false = straight to a process of `proctypes[0]`. */
  viaGateway: boolean;
  /** The gateway's join function by name (required with the gateway). */
  join: string | undefined;
  /** Target process types (several only with the gateway). */
  proctypes: string[];
  /** With the gateway: the gateway's name (else any gateway); without: the process's name (else any of the type). */
  procname: string | undefined;
  /** Time of day, ms from midnight in the reporter's zone, of the first run; end excludes. */
  startMs: number;
  endMs: number;
  /** Time between runs; equal to end - start (or more) runs once a day. */
  periodMs: number;
  timeoutMs: number;
  /** TorQ's day numbers (kdb+'s `date mod 7`): 0 Saturday, 1 Sunday, 2 Monday ... 6 Friday. */
  days: number[];
}

export interface ReportProblem {
  file: string;
  line: number;
  name: string;
  column: ReportColumn | 'file';
  rule: string;
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const JOIN_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/** HH:MM, HH:MM:SS or HH:MM:SS.mmm (q's minute, second and time literals). */
const SPAN_RE = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** Parses a q-style time or span to milliseconds, or undefined when malformed. */
export function parseSpan(text: string): number | undefined {
  const m = SPAN_RE.exec(text.trim());
  if (!m) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (mi > 59 || s > 59) return undefined;
  const ms = Number((m[4] ?? '0').padEnd(3, '0'));
  return ((h * 60 + mi) * 60 + s) * 1000 + ms;
}

/** Formats milliseconds as HH:MM:SS(.mmm). */
export function formatSpan(ms: number): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const s = Math.floor(ms / 1000);
  const frac = ms % 1000 ? `.${String(ms % 1000).padStart(3, '0')}` : '';
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}${frac}`;
}

/** Checks one row; pushes a problem per broken rule; returns the report when there are none. */
function checkRow(file: string, line: number, rec: Record<ReportColumn, string>, problems: ReportProblem[], tables?: Set<string>): ReportDef | undefined {
  const name = rec.name.trim();
  const before = problems.length;
  const bad = (column: ReportColumn, rule: string) => problems.push({ file, line, name, column, rule });

  if (!NAME_RE.test(name)) bad('name', `a report name is a letter then letters, digits, _ or - (at most 64): ${JSON.stringify(name)}`);

  let query: Record<string, unknown> = {};
  try {
    const q = JSON.parse(rec.query) as unknown;
    if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new Error('not a JSON object');
    query = q as Record<string, unknown>;
    if (!(REPORT_QUERY_TYPES as readonly unknown[]).includes(query.type)) bad('query', `type must be one of ${REPORT_QUERY_TYPES.join(', ')}`);
    else if (query.type === CALL_TYPE && (typeof query.api !== 'string' || (query.args !== undefined && !Array.isArray(query.args)))) bad('query', 'a call needs api (a string) and args (a list, optional)');
    else if (query.type === SQL_TYPE && typeof query.sql !== 'string') bad('query', 'an sql query needs sql (a string)');
    else if ((query.type === QUERY_TYPE || query.type === GETDATA_TYPE || query.type === ASOF_TYPE) && typeof query.table !== 'string') bad('query', 'the query needs table (a string)');
    else if (tables && typeof query.table === 'string' && !tables.has(query.table)) bad('query', `table ${query.table} is not in the schema (${[...tables].join(', ')})`);
  } catch (e) {
    bad('query', `the query must be a JSON request of tickbus's query API: ${(e as Error).message}`);
  }

  let handler: HandlerSpec | undefined;
  try {
    handler = parseHandlerSpec(rec.resulthandler);
  } catch (e) {
    if (!(e instanceof HandlerSpecError)) throw e;
    bad('resulthandler', e.message);
  }

  const gateway = rec.gateway.trim();
  const viaGateway = gateway !== '';
  if (viaGateway && gateway !== GATEWAY_PROCTYPE) bad('gateway', `the gateway column is empty or the gateway proctype "${GATEWAY_PROCTYPE}"`);
  const join = rec.joinfunction.trim() || undefined;
  if (viaGateway && join === undefined) bad('joinfunction', 'a report through the gateway needs a join function (e.g. raze)');
  if (!viaGateway && join !== undefined) bad('joinfunction', 'a join function is only used with the gateway');
  if (join !== undefined && !JOIN_RE.test(join)) bad('joinfunction', `a join function is named by a letter or _ then letters, digits, _ . -: ${JSON.stringify(join)}`);

  const proctypes = rec.proctype.trim().split(/\s+/).filter(Boolean);
  if (proctypes.length === 0) bad('proctype', 'a process type is required');
  if (!viaGateway && proctypes.length > 1) bad('proctype', 'several process types need the gateway column set');
  for (const t of proctypes) if (!NAME_RE.test(t)) bad('proctype', `${JSON.stringify(t)} is not a process type name`);
  if (new Set(proctypes).size !== proctypes.length) bad('proctype', 'a process type is listed twice');
  const procname = rec.procname.trim() || undefined;
  if (procname !== undefined && !NAME_RE.test(procname)) bad('procname', `${JSON.stringify(procname)} is not a process name`);

  const startMs = parseSpan(rec.start);
  const endMs = parseSpan(rec.end);
  if (startMs === undefined || startMs >= 86_400_000) bad('start', `a time of day HH:MM[:SS[.mmm]] before 24:00: ${JSON.stringify(rec.start)}`);
  if (endMs === undefined || endMs > 86_400_000) bad('end', `a time of day HH:MM[:SS[.mmm]] up to 24:00: ${JSON.stringify(rec.end)}`);
  if (startMs !== undefined && endMs !== undefined && startMs >= endMs) bad('end', `end (${rec.end}) must be after start (${rec.start})`);
  const periodMs = parseSpan(rec.period);
  if (periodMs === undefined || periodMs < PERIOD_MIN_MS || periodMs > SPAN_MAX_MS) bad('period', `a span HH:MM[:SS[.mmm]] from 00:00:01 to 24:00: ${JSON.stringify(rec.period)}`);
  const timeoutMs = parseSpan(rec.timeoutinterval);
  if (timeoutMs === undefined || timeoutMs <= 0 || timeoutMs > SPAN_MAX_MS) bad('timeoutinterval', `a span HH:MM[:SS[.mmm]] greater than 0 and at most 24:00: ${JSON.stringify(rec.timeoutinterval)}`);

  const dayTokens = rec.daysofweek.trim().split(/\s+/).filter(Boolean);
  const days = dayTokens.map(Number);
  if (dayTokens.length === 0) bad('daysofweek', 'at least one day (0 Saturday, 1 Sunday, 2 Monday ... 6 Friday)');
  else if (!dayTokens.every((d) => /^[0-6]$/.test(d))) bad('daysofweek', `days are 0..6 separated by spaces (0 Saturday, 2 Monday): ${JSON.stringify(rec.daysofweek)}`);
  else if (new Set(days).size !== days.length) bad('daysofweek', 'a day is listed twice');

  if (problems.length > before) return undefined;
  return { line, name, query, handler, viaGateway, join, proctypes, procname, startMs: startMs!, endMs: endMs!, periodMs: periodMs!, timeoutMs: timeoutMs!, days: [...days].sort() };
}

/** Parses and checks the file's text; throws one BAD_CONFIG listing every problem. */
export function parseReports(text: string, file: string, tables?: Set<string>): ReportDef[] {
  let rows: Array<{ record: string[]; info: { lines: number } }>;
  try {
    rows = parse(text, { delimiter: '|', relax_quotes: true, comment: '#', comment_no_infix: true, skip_empty_lines: true, relax_column_count: true, info: true, trim: false }) as never;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${file}: not a pipe-delimited file: ${(e as Error).message}`, { file });
  }
  const problems: ReportProblem[] = [];
  const header = rows.shift();
  const got = header?.record.map((c) => c.trim()) ?? [];
  if (got.join('|') !== REPORT_COLUMNS.join('|')) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${file} line 1: the header must be ${REPORT_COLUMNS.join('|')}`, { file, line: 1, header: got, rule: 'header' });
  }
  if (rows.length > REPORTS_MAX) throw new TickbusError(ErrorCode.BAD_CONFIG, `${file}: at most ${REPORTS_MAX} reports`, { file, reports: rows.length });
  const reports: ReportDef[] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of rows) {
    const line = info.lines;
    if (record.length !== REPORT_COLUMNS.length) {
      problems.push({ file, line, name: record[0]?.trim() ?? '', column: 'file', rule: `a row has ${REPORT_COLUMNS.length} fields separated by |, this one ${record.length}` });
      continue;
    }
    const rec = Object.fromEntries(REPORT_COLUMNS.map((c, i) => [c, record[i]!])) as Record<ReportColumn, string>;
    const name = rec.name.trim();
    const first = seen.get(name);
    if (first !== undefined) problems.push({ file, line, name, column: 'name', rule: `report names are unique; ${name} is also on line ${first}` });
    else seen.set(name, line);
    const r = checkRow(file, line, rec, problems, tables);
    if (r) reports.push(r);
  }
  if (problems.length > 0) {
    const text = problems.map((p) => `line ${p.line} (report ${p.name || '?'}) ${p.column}: ${p.rule}`).join('; ');
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}: ${text}`, { file, problems });
  }
  return reports;
}

export function readReports(path: string, tables?: Set<string>): ReportDef[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read the report file ${path}: ${(e as Error).message}`, { file: path });
  }
  return parseReports(text, path, tables);
}
