// The check table (TorQ's monitorconfig.csv): `ops/monitor.csv`, pipe-delimited, one check per row
//   family|metric|process|query|resultchecker|params|period|runtime
// parsed with csv-parse and validated row by row. Every refusal is a BAD_CONFIG naming the file,
// the line, the column and the rule broken (docs/checks.md has the format). Pure: text in, specs out.
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { CALL_TYPE, GATEWAY_REQUEST_TYPE } from '../../bus/gateway_client.ts';
import { ASOF_TYPE, GETDATA_TYPE, SQL_TYPE } from '../../storage/query/request.ts';
import { QUERY_TYPE } from '../../storage/query/simple.ts';

export const CHECK_COLUMNS = ['family', 'metric', 'process', 'query', 'resultchecker', 'params', 'period', 'runtime'] as const;
export type CheckColumn = (typeof CHECK_COLUMNS)[number];

export const ResultCheckers = ['checkcount', 'truefalse', 'resulttrue'] as const;
export type ResultCheckerName = (typeof ResultCheckers)[number];

/** Query types a check may send to a backend (through the gateway), or a whole gateway request. */
export const CheckQueryTypes = [QUERY_TYPE, GETDATA_TYPE, ASOF_TYPE, SQL_TYPE, CALL_TYPE, GATEWAY_REQUEST_TYPE] as const;

/** Bounds on the table and its fields. */
export const checkLimits = {
  /** Checks one file may hold. */
  checksMax: 1_000,
  /** Characters of one query (JSON). */
  queryCharsMax: 16_384,
  /** Characters of one params field. */
  paramsCharsMax: 1_024,
  /** The shortest period: a check is a gateway query, not a busy loop. */
  periodMinMs: 100,
  /** The longest period: one day. */
  periodMaxMs: 86_400_000,
  /** The shortest and longest runtime (the query's timeout; the gateway's own maximum is 600 s). */
  runtimeMinMs: 10,
  runtimeMaxMs: 600_000,
} as const;

export type CheckerSpec =
  | { name: 'checkcount'; comp: number; cond: 'morethan' | 'lessthan' }
  | { name: 'truefalse'; cond: boolean }
  | { name: 'resulttrue' };

/** What a check sends: a backend query (the gateway runs it on the row's process), or a whole gateway request. */
export type CheckQuery =
  | { kind: 'backend'; request: Record<string, unknown> }
  | { kind: 'gateway'; request: { query: unknown; target?: unknown; join?: string; priority?: number; cost?: 'small' | 'heavy' } };

export interface CheckSpec {
  family: string;
  metric: string;
  /** A process name (asked directly) or a process type (through the gateway). */
  process: string;
  query: CheckQuery;
  checker: CheckerSpec;
  periodMs: number;
  runtimeMs: number;
  /** Line of the row in the file (1-based), for messages. */
  line: number;
  /** The query and params as written, for display. */
  queryText: string;
  paramsText: string;
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** A refusal naming the file, line, column and rule. */
export function configError(file: string, line: number, column: CheckColumn | 'header' | 'row', rule: string, value?: string): TickbusError {
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)})`;
  return new TickbusError(ErrorCode.BAD_CONFIG, `${file} line ${line}, ${column}: ${rule}${shown}`, { file, line, column, rule, ...(value === undefined ? {} : { value }) });
}

// ---------------------------------------------------------------------------------------------
// Durations: TorQ's timespan (`0D00:01`, `0D00:00:05.5`), a time (`00:01:00`), or a number with a
// unit (`500ms`, `30s`, `1m`, `2h`).

const TIMESPAN_RE = /^(?:(\d+)D)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const SIMPLE_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Milliseconds of a duration, or undefined when it is not one of the accepted forms. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  const simple = SIMPLE_RE.exec(t);
  if (simple) return Math.round(Number(simple[1]) * UNIT_MS[simple[2] as keyof typeof UNIT_MS]);
  const span = TIMESPAN_RE.exec(t);
  if (!span) return undefined;
  const [, d = '0', hh, mm, ss = '0', frac = ''] = span;
  if (Number(mm) > 59 || Number(ss) > 59) return undefined;
  const fracMs = frac === '' ? 0 : Number(`0.${frac}`) * 1_000;
  return Math.round(((Number(d) * 24 + Number(hh)) * 60 + Number(mm)) * 60_000 + Number(ss) * 1_000 + fracMs);
}

function duration(file: string, line: number, column: 'period' | 'runtime', text: string, minMs: number, maxMs: number): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw configError(file, line, column, 'must be a duration: a timespan like 0D00:01 or 0D00:00:05.5, a time like 00:01:00, or a number with a unit (ms, s, m, h) like 30s', text);
  if (ms < minMs || ms > maxMs) throw configError(file, line, column, `must be between ${minMs} ms and ${maxMs} ms`, text);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Params: JSON (`{"comp":0,"cond":"morethan"}`), or TorQ's q dictionary (`` `comp`cond!(0;`morethan) ``,
// `` `cond!enlist 1b ``). Empty is `{}`.

function qAtom(s: string): unknown {
  const t = s.trim();
  if (t === '1b') return true;
  if (t === '0b') return false;
  if (/^`[A-Za-z0-9_.]*$/.test(t)) return t.slice(1);
  if (/^-?\d+(\.\d+)?[ijfhe]?$/.test(t)) return Number(t.replace(/[ijfhe]$/, ''));
  throw new Error(`cannot read q value ${t}`);
}

/** TorQ's params dictionary in q syntax (symbol keys; booleans, numbers and symbols as values). */
export function parseQDict(text: string): Record<string, unknown> | undefined {
  const m = /^\s*(?:enlist\s*\[\s*)?((?:`[A-Za-z_][A-Za-z0-9_]*)+)\s*\]?\s*!\s*(.+?)\s*$/.exec(text);
  if (!m) return undefined;
  const keys = m[1]!.split('`').slice(1);
  const body = m[2]!;
  let values: unknown[];
  if (body.startsWith('enlist')) values = [qAtom(body.slice('enlist'.length))];
  else if (body.startsWith('(') && body.endsWith(')')) values = body.slice(1, -1).split(';').map(qAtom);
  else values = [qAtom(body)];
  if (values.length !== keys.length) throw new Error(`${keys.length} keys but ${values.length} values`);
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
}

function paramsObject(file: string, line: number, text: string): Record<string, unknown> {
  if (text === '') return {};
  if (text.length > checkLimits.paramsCharsMax) throw configError(file, line, 'params', `at most ${checkLimits.paramsCharsMax} characters`);
  let v: unknown;
  if (text.startsWith('{')) {
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw configError(file, line, 'params', `not valid JSON: ${(e as Error).message}`, text);
    }
  } else {
    try {
      v = parseQDict(text);
    } catch (e) {
      throw configError(file, line, 'params', `not a q dictionary this reader takes: ${(e as Error).message}`, text);
    }
    if (v === undefined) throw configError(file, line, 'params', 'must be a JSON object like {"comp":0,"cond":"morethan"} or a q dictionary like `comp`cond!(0;`morethan)', text);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw configError(file, line, 'params', 'must be an object', text);
  return v as Record<string, unknown>;
}

function onlyKeys(file: string, line: number, p: Record<string, unknown>, known: string[], checker: string, text: string): void {
  for (const k of Object.keys(p)) {
    if (!known.includes(k)) throw configError(file, line, 'params', `${checker} takes ${known.length ? known.join(', ') : 'no params'}; unknown key ${k}`, text);
  }
}

export function parseChecker(file: string, line: number, name: string, paramsText: string): CheckerSpec {
  if (!(ResultCheckers as readonly string[]).includes(name)) throw configError(file, line, 'resultchecker', `must be one of ${ResultCheckers.join(', ')}`, name);
  const p = paramsObject(file, line, paramsText);
  if (name === 'checkcount') {
    onlyKeys(file, line, p, ['comp', 'cond'], name, paramsText);
    if (typeof p.comp !== 'number' || !Number.isFinite(p.comp)) throw configError(file, line, 'params', 'checkcount needs comp, a number to compare the count with', paramsText);
    if (p.cond !== 'morethan' && p.cond !== 'lessthan') throw configError(file, line, 'params', 'checkcount needs cond, "morethan" or "lessthan"', paramsText);
    return { name, comp: p.comp, cond: p.cond };
  }
  if (name === 'truefalse') {
    onlyKeys(file, line, p, ['cond'], name, paramsText);
    const cond = p.cond ?? true;
    if (typeof cond !== 'boolean') throw configError(file, line, 'params', 'truefalse takes cond, true or false (the value the result must have; default true)', paramsText);
    return { name, cond };
  }
  onlyKeys(file, line, p, [], name, paramsText);
  return { name: 'resulttrue' };
}

// ---------------------------------------------------------------------------------------------
// Queries

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseCheckQuery(file: string, line: number, text: string): CheckQuery {
  if (text === '') throw configError(file, line, 'query', 'is required: a JSON query (tickbus.v1.query, getdata, asof, sql, call, or a gateway request)');
  if (text.length > checkLimits.queryCharsMax) throw configError(file, line, 'query', `at most ${checkLimits.queryCharsMax} characters`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw configError(file, line, 'query', `not valid JSON: ${(e as Error).message}`, text);
  }
  if (!isObject(v)) throw configError(file, line, 'query', 'must be a JSON object with a type', text);
  if (!(CheckQueryTypes as readonly unknown[]).includes(v.type)) throw configError(file, line, 'query', `type must be one of ${CheckQueryTypes.join(', ')}`, String(v.type));
  if (v.type === CALL_TYPE) {
    if (typeof v.api !== 'string' || v.api === '') throw configError(file, line, 'query', `${CALL_TYPE} needs api, the named API to call`, text);
    if (v.args !== undefined && !Array.isArray(v.args)) throw configError(file, line, 'query', `${CALL_TYPE}: args must be a list of positional arguments`, text);
  }
  if (v.type !== GATEWAY_REQUEST_TYPE) return { kind: 'backend', request: v };
  for (const k of Object.keys(v)) {
    if (!['type', 'query', 'target', 'join', 'priority', 'cost'].includes(k)) {
      throw configError(file, line, 'query', `a gateway request in a check takes query, target, join, priority, cost (the timeout is the runtime column); unknown ${k}`, text);
    }
  }
  if (!isObject(v.query)) throw configError(file, line, 'query', 'a gateway request needs query, the request each backend runs', text);
  if (v.join !== undefined && typeof v.join !== 'string') throw configError(file, line, 'query', 'join must be a join function name', text);
  if (v.priority !== undefined && !Number.isInteger(v.priority)) throw configError(file, line, 'query', 'priority must be an integer', text);
  if (v.cost !== undefined && v.cost !== 'small' && v.cost !== 'heavy') throw configError(file, line, 'query', 'cost must be "small" or "heavy"', text);
  return { kind: 'gateway', request: { query: v.query, target: v.target, join: v.join as string | undefined, priority: v.priority as number | undefined, cost: v.cost as 'small' | 'heavy' | undefined } };
}

// ---------------------------------------------------------------------------------------------

/** Parses the text of a check table. `file` names it in errors. */
export function parseChecksCsv(text: string, file: string): CheckSpec[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { delimiter: '|', quote: false, comment: '#', comment_no_infix: true, skip_empty_lines: true, trim: true, relax_column_count: true, info: true }) as unknown as typeof records;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${file}: cannot be read as a pipe-delimited table: ${(e as Error).message}`, { file });
  }
  if (records.length === 0) throw configError(file, 1, 'header', `the file is empty; the first line is the header ${CHECK_COLUMNS.join('|')}`);
  const head = records[0]!;
  const header = head.record.map((h) => h.toLowerCase());
  for (const c of CHECK_COLUMNS) if (!header.includes(c)) throw configError(file, head.info.lines, 'header', `no ${c} column; the header is ${CHECK_COLUMNS.join('|')}`, head.record.join('|'));
  for (const h of header) if (!(CHECK_COLUMNS as readonly string[]).includes(h)) throw configError(file, head.info.lines, 'header', `unknown column ${h}; the header is ${CHECK_COLUMNS.join('|')}`, head.record.join('|'));
  const rows = records.slice(1);
  if (rows.length > checkLimits.checksMax) throw configError(file, rows[checkLimits.checksMax]!.info.lines, 'row', `at most ${checkLimits.checksMax} checks per file`);
  const seen = new Map<string, number>();
  return rows.map(({ record, info }) => {
    const line = info.lines;
    if (record.length !== header.length) throw configError(file, line, 'row', `has ${record.length} fields, the header ${header.length} (a field may not hold a |)`, record.join('|'));
    const f = Object.fromEntries(header.map((h, i) => [h, record[i]!])) as Record<CheckColumn, string>;
    for (const c of ['family', 'metric', 'process'] as const) {
      if (!NAME_RE.test(f[c])) throw configError(file, line, c, `must be a name: a letter, then letters, digits, _ or - (at most 64)`, f[c]);
    }
    const key = `${f.family}.${f.metric}`;
    const dup = seen.get(key);
    if (dup !== undefined) throw configError(file, line, 'metric', `family ${f.family} metric ${f.metric} is already the check on line ${dup}; each family|metric once`, f.metric);
    seen.set(key, line);
    return {
      family: f.family,
      metric: f.metric,
      process: f.process,
      query: parseCheckQuery(file, line, f.query),
      checker: parseChecker(file, line, f.resultchecker, f.params),
      periodMs: duration(file, line, 'period', f.period, checkLimits.periodMinMs, checkLimits.periodMaxMs),
      runtimeMs: duration(file, line, 'runtime', f.runtime, checkLimits.runtimeMinMs, checkLimits.runtimeMaxMs),
      line,
      queryText: f.query,
      paramsText: f.params,
    };
  });
}

/** Reads and parses a check table file. */
export function readChecksFile(path: string): CheckSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read the check table ${path}: ${(e as Error).message}`, { file: path });
  }
  return parseChecksCsv(text, path);
}
