// The one query shape (TorQ's data-access `getdata` is the model): its validation and planning
// (the vocabulary and request shapes are in request_types.ts, the partial parts in parts.ts). Both engines
// (storage/query/memory.ts over the RDB's MemTables, storage/hdb over Parquet through DuckDB) take
// the same request, turn it into the same Plan here, and so reject the same requests with the same
// errors: BAD_QUERY whose detail.param names the parameter and whose message gives the reason.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { dateToDays } from '../batch.ts';
import type { ColumnType, TableSchema } from '../schema.ts';
import { QUERY_ROWS_MAX } from './result.ts';
import { parseTimeBound } from './simple.ts';
import type { AggOp, AsofPlan, BaseOp, Plan, PlanAgg, PlanFilter, PlanKey, Scalar, Selection, TimeUnit } from './request_types.ts';
import { AggOps, FilterOps, GETDATA_TYPE, ASOF_TYPE, QUERY_TYPES, queryLimits, TimeUnitsNs } from './request_types.ts';

// The vocabulary and the partial-aggregate parts live in their own files; importers keep importing them from here.
export * from './request_types.ts';
export * from './parts.ts';

export type SchemaLookup = (table: string) => TableSchema | undefined;

export function bad(param: string, message: string, detail: Record<string, unknown> = {}): TickbusError {
  return new TickbusError(ErrorCode.BAD_QUERY, `${param}: ${message}`, { param, ...detail });
}

const GETDATA_KEYS = new Set([
  'type',
  'table',
  'start',
  'end',
  'instruments',
  'columns',
  'filters',
  'grouping',
  'aggregations',
  'timebar',
  'ordering',
  'limit',
  'rename',
  'partial',
]);
const ASOF_KEYS = new Set(['type', 'table', 'start', 'end', 'instruments', 'columns', 'filters', 'limit', 'rename', 'right', 'on']);

/** Types whose values can be summed, averaged, weighted and spread. */
const NUMERIC = new Set<ColumnType>(['float', 'long', 'int']);
/** Types that have an order for min and max. */
const ORDERED = new Set<ColumnType>(['float', 'long', 'int', 'timestamp', 'date', 'timespan']);
const OUT_NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function checkKeys(q: Record<string, unknown>, allowed: Set<string>): void {
  for (const k of Object.keys(q)) {
    if (!allowed.has(k)) throw bad(k, `unknown parameter; known: ${[...allowed].join(', ')}`, { known: [...allowed] });
  }
}

function resolveTable(param: string, v: unknown, lookup: SchemaLookup, tables: () => string[]): TableSchema {
  if (v === undefined || v === null) throw bad(param, 'missing required parameter');
  if (typeof v !== 'string') throw bad(param, 'must be a table name (a string)');
  const s = lookup(v);
  if (!s) throw bad(param, `unknown table ${v}`, { table: v, tables: tables() });
  return s;
}

function columnType(param: string, schema: TableSchema, c: unknown): ColumnType {
  if (typeof c !== 'string') throw bad(param, 'column names are strings', { value: String(c) });
  const i = schema.index.get(c);
  if (i === undefined) throw bad(param, `unknown column ${c} in table ${schema.name}`, { column: c, columns: schema.columns.map((x) => x.name) });
  return schema.columns[i]!.type;
}

function requiredTime(param: string, v: unknown): bigint {
  if (v === undefined || v === null) throw bad(param, 'missing required parameter (ISO-8601 timestamp or epoch nanoseconds)');
  return parseTimeBound(param, v)!;
}

function stringList(param: string, v: unknown, max: number): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw bad(param, 'must be a list of strings');
  if (list.length > max) throw bad(param, `holds ${list.length} values; at most ${max}`, { max });
  for (const s of list) if (typeof s !== 'string') throw bad(param, 'must be a list of strings', { value: String(s) });
  return list as string[];
}

/** One filter value in the column's representation, or a BAD_QUERY naming `filters`. */
function scalar(type: ColumnType, v: unknown, column: string): Scalar {
  const fail = (why: string) => bad('filters', `column ${column} (${type}): ${why}`, { column, value: typeof v === 'bigint' ? v.toString() : v });
  switch (type) {
    case 'timestamp': {
      const t = typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? safeTime(v) : undefined;
      if (t === undefined) throw fail('value must be an ISO-8601 timestamp or epoch nanoseconds');
      return t;
    }
    case 'long':
    case 'timespan': {
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) return BigInt(v);
      throw fail('value must be an integer');
    }
    case 'int': {
      if (typeof v === 'number' && Number.isInteger(v) && v > -(2 ** 31) && v < 2 ** 31) return v;
      throw fail('value must be a 32-bit integer');
    }
    case 'date': {
      if (typeof v === 'string') {
        const d = dateToDays(v);
        if (d !== undefined) return d;
      }
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      throw fail('value must be YYYY-MM-DD or days since 1970-01-01');
    }
    case 'float': {
      if (typeof v === 'number' && !Number.isNaN(v)) return v;
      throw fail('value must be a number');
    }
    case 'bool': {
      if (v === true || v === 1) return 1;
      if (v === false || v === 0) return 0;
      throw fail('value must be true or false');
    }
    case 'symbol':
    case 'string': {
      if (typeof v === 'string') return v;
      throw fail('value must be a string');
    }
  }
}

function safeTime(v: string | number | bigint): bigint | undefined {
  try {
    return parseTimeBound('filters', v);
  } catch {
    return undefined;
  }
}

export function parseFilters(param: string, v: unknown, schema: TableSchema): PlanFilter[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(param, 'must be a list of {column, op, value}');
  if (v.length > queryLimits.filtersMax) throw bad(param, `holds ${v.length} filters; at most ${queryLimits.filtersMax}`);
  return v.map((f) => {
    if (!isObject(f)) throw bad(param, 'each filter is {column, op, value}');
    const type = columnType(param, schema, f.column);
    const column = f.column as string;
    const op = f.op;
    if (typeof op !== 'string' || !(FilterOps as readonly string[]).includes(op)) {
      throw bad(param, `unknown operator ${JSON.stringify(op)}; known: ${FilterOps.join(' ')}`, { column, op: String(op), known: FilterOps });
    }
    const negate = op === '!=' || op.startsWith('not ');
    const base = (op === '!=' ? '=' : op.replace(/^not /, '')) as BaseOp;
    const value = f.value;
    let values: Scalar[];
    if (base === 'in') {
      if (!Array.isArray(value) || value.length === 0) throw bad(param, `${op} on ${column} takes a non-empty list`, { column, op });
      if (value.length > queryLimits.filterValuesMax) throw bad(param, `${op} on ${column}: at most ${queryLimits.filterValuesMax} values`);
      values = value.map((x) => scalar(type, x, column));
    } else if (base === 'within') {
      if (!Array.isArray(value) || value.length !== 2) throw bad(param, `${op} on ${column} takes [low, high]`, { column, op });
      values = value.map((x) => scalar(type, x, column));
    } else if (base === 'like') {
      if (type !== 'symbol' && type !== 'string') throw bad(param, `${op} applies to symbol and string columns; ${column} is ${type}`, { column, op });
      if (typeof value !== 'string' || value.length > queryLimits.likePatternCharsMax) {
        throw bad(param, `${op} on ${column} takes a pattern string of at most ${queryLimits.likePatternCharsMax} characters (* any, ? one, [abc] a set)`, {
          column,
        });
      }
      values = [value];
    } else {
      if (type === 'bool' && base !== '=') throw bad(param, `${op} does not apply to bool column ${column}`, { column, op });
      values = [scalar(type, value, column)];
    }
    return { column, type, op: base, negate, values };
  });
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** TorQ's dictionary form `{max: ['price'], wavg: [['size', 'price']]}` -> the array form. */
function aggregationList(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (!isObject(v)) throw bad('aggregations', 'must be a list of {op, column} or {op: [columns]}');
  const out: unknown[] = [];
  for (const [op, cols] of Object.entries(v)) {
    if (!Array.isArray(cols)) throw bad('aggregations', `${op}: must map to a list of columns`, { op });
    // `count: []` counts rows (the dictionary form's way to ask for a count with no column).
    if (op === 'count' && cols.length === 0) out.push({ op });
    for (const c of cols) out.push(Array.isArray(c) ? { op, columns: c } : { op, column: c });
  }
  return out;
}

function parseAggs(v: unknown, schema: TableSchema): PlanAgg[] {
  const list = aggregationList(v);
  if (list.length === 0) throw bad('aggregations', 'is empty');
  if (list.length > queryLimits.aggregationsMax) throw bad('aggregations', `holds ${list.length}; at most ${queryLimits.aggregationsMax}`);
  return list.map((a) => {
    if (!isObject(a)) throw bad('aggregations', 'each aggregation is {op, column} (wavg/wsum: {op, columns: [weight, value]})');
    const op = a.op;
    if (typeof op !== 'string' || !(AggOps as readonly string[]).includes(op)) {
      throw bad('aggregations', `unknown aggregation ${JSON.stringify(op)}; known: ${AggOps.join(' ')}`, { op: String(op), known: AggOps });
    }
    const agg = op as AggOp;
    if (agg === 'wavg' || agg === 'wsum') {
      const cs = a.columns;
      if (!Array.isArray(cs) || cs.length !== 2) throw bad('aggregations', `${agg} takes columns: [weightColumn, valueColumn]`, { op: agg });
      const [w, x] = cs as [unknown, unknown];
      const wt = columnType('aggregations', schema, w);
      const xt = columnType('aggregations', schema, x);
      for (const [c, t] of [
        [w, wt],
        [x, xt],
      ] as const) {
        if (!NUMERIC.has(t)) throw bad('aggregations', `${agg} needs numeric columns; ${String(c)} is ${t}`, { op: agg, column: c, type: t });
      }
      const name = typeof a.as === 'string' ? a.as : `${agg}${capitalise(w as string)}${capitalise(x as string)}`;
      return { name, op: agg, column: x as string, weight: w as string, srcType: xt, weightType: wt, type: 'float' as ColumnType };
    }
    if (agg === 'count' && a.column === undefined) return { name: typeof a.as === 'string' ? a.as : 'count', op: agg, type: 'long' as ColumnType };
    if (a.column === undefined) throw bad('aggregations', `${agg} takes a column`, { op: agg });
    const t = columnType('aggregations', schema, a.column);
    const column = a.column as string;
    let type: ColumnType;
    switch (agg) {
      case 'count':
        type = 'long';
        break;
      case 'sum':
        if (!NUMERIC.has(t)) throw bad('aggregations', `sum needs a numeric column; ${column} is ${t}`, { op: agg, column, type: t });
        type = t === 'float' ? 'float' : 'long';
        break;
      case 'min':
      case 'max':
        if (!ORDERED.has(t)) throw bad('aggregations', `${agg} needs a numeric or temporal column; ${column} is ${t}`, { op: agg, column, type: t });
        type = t;
        break;
      case 'first':
      case 'last':
        type = t;
        break;
      default:
        if (!NUMERIC.has(t)) throw bad('aggregations', `${agg} needs a numeric column; ${column} is ${t}`, { op: agg, column, type: t });
        type = 'float';
    }
    const name = typeof a.as === 'string' ? a.as : `${agg}${capitalise(column)}`;
    return { name, op: agg, column, srcType: t, type };
  });
}

function parseTimebar(v: unknown, schema: TableSchema): PlanKey {
  if (!isObject(v)) throw bad('timebar', 'must be {size, unit, column?}');
  const { size, unit } = v;
  const column = v.column ?? 'time';
  for (const k of Object.keys(v)) if (!['size', 'unit', 'column'].includes(k)) throw bad('timebar', `unknown field ${k}; known: size, unit, column`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) throw bad('timebar', 'size must be a positive integer', { size: String(size) });
  if (typeof unit !== 'string' || !(unit in TimeUnitsNs)) {
    throw bad('timebar', `bad unit ${JSON.stringify(unit)}; known: ${Object.keys(TimeUnitsNs).join(' ')}`, { unit: String(unit), known: Object.keys(TimeUnitsNs) });
  }
  const t = columnType('timebar', schema, column);
  if (t !== 'timestamp') throw bad('timebar', `column ${String(column)} is ${t}, not a timestamp`, { column });
  const barNs = BigInt(size) * TimeUnitsNs[unit as TimeUnit];
  if (barNs > 2n ** 62n) throw bad('timebar', 'is wider than the timestamp range');
  return { name: column as string, column: column as string, type: 'timestamp', barNs };
}

function parseLimit(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad('limit', 'must be an integer (negative: the last rows)');
  if (Math.abs(v) > QUERY_ROWS_MAX) throw bad('limit', `at most ${QUERY_ROWS_MAX} rows per reply`, { max: QUERY_ROWS_MAX });
  return v;
}

function parseRename(v: unknown, outColumns: string[]): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) throw bad('rename', 'must be an object {oldName: newName}');
  const final = new Set(outColumns);
  for (const [from, to] of Object.entries(v)) {
    if (!outColumns.includes(from)) throw bad('rename', `no output column ${from}; output: ${outColumns.join(', ')}`, { column: from, columns: outColumns });
    if (typeof to !== 'string' || !OUT_NAME_RE.test(to)) throw bad('rename', `new name for ${from} must match ${OUT_NAME_RE.source}`, { column: from });
    final.delete(from);
    if (final.has(to)) throw bad('rename', `renaming ${from} to ${to} clashes with another output column`, { column: from, to });
    final.add(to);
  }
  return v as Record<string, string>;
}

function parseOrdering(v: unknown, outColumns: string[]): { column: string; desc: boolean }[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad('ordering', 'must be a list of {column, dir: asc|desc}');
  return v.map((o) => {
    if (!isObject(o) || typeof o.column !== 'string') throw bad('ordering', 'each entry is {column, dir: asc|desc}');
    if (!outColumns.includes(o.column)) throw bad('ordering', `unknown output column ${o.column}; output: ${outColumns.join(', ')}`, { column: o.column, columns: outColumns });
    const dir = o.dir ?? 'asc';
    if (dir !== 'asc' && dir !== 'desc') throw bad('ordering', `dir must be asc or desc, got ${JSON.stringify(dir)}`, { column: o.column });
    return { column: o.column, desc: dir === 'desc' };
  });
}

function parseSelection(q: Record<string, unknown>, lookup: SchemaLookup, tables: () => string[], prefix = ''): Selection {
  const schema = resolveTable(`${prefix}table`, q.table, lookup, tables);
  const startNs = requiredTime('start', q.start);
  const endNs = requiredTime('end', q.end);
  if (startNs > endNs) throw bad('start', 'is after end', { start: startNs.toString(), end: endNs.toString() });
  const instruments = q.instruments === undefined ? undefined : stringList('instruments', q.instruments, queryLimits.filterValuesMax);
  const filters = parseFilters(`${prefix}filters`, q.filters, schema);
  return { table: schema.name, schema, startNs, endNs, instruments, filters };
}

/** Validates a getdata request against the schemas and returns its plan. */
export function planQuery(request: unknown, lookup: SchemaLookup, tables: () => string[]): Plan {
  if (!isObject(request)) throw bad('query', 'must be an object');
  const q = request;
  checkKeys(q, GETDATA_KEYS);
  if (q.type !== undefined && !(QUERY_TYPES as readonly unknown[]).includes(q.type)) {
    throw bad('type', `must be ${GETDATA_TYPE}`, { type: String(q.type) });
  }
  const sel = parseSelection(q, lookup, tables);
  const schema = sel.schema;
  const partial = q.partial === true;
  if (q.partial !== undefined && typeof q.partial !== 'boolean') throw bad('partial', 'must be true or false');
  const hasAgg = q.aggregations !== undefined;
  let plan: Plan;
  if (!hasAgg) {
    if (q.grouping !== undefined) throw bad('grouping', 'needs aggregations (TorQ: grouping without aggregations is undefined)');
    if (q.timebar !== undefined) throw bad('timebar', 'needs aggregations');
    if (partial) throw bad('partial', 'applies to aggregations; raw rows merge by concatenation');
    const columns = q.columns === undefined ? schema.columns.map((c) => c.name) : stringList('columns', q.columns, 1024);
    if (columns.length === 0) throw bad('columns', 'is empty');
    const types = columns.map((c) => columnType('columns', schema, c));
    if (new Set(columns).size !== columns.length) throw bad('columns', 'names a column twice');
    plan = { ...sel, kind: 'raw', columns, keys: [], aggs: [], ordering: [], rename: {}, partial, outColumns: columns, outTypes: types };
  } else {
    if (q.columns !== undefined) throw bad('columns', 'cannot be combined with aggregations; the output is grouping + aggregations');
    const keys: PlanKey[] = [];
    if (q.grouping !== undefined) {
      const g = stringList('grouping', q.grouping, queryLimits.groupingColumnsMax);
      for (const c of g) {
        const t = columnType('grouping', schema, c);
        if (t === 'float') throw bad('grouping', `cannot group by float column ${c}`, { column: c });
        if (keys.some((k) => k.name === c)) throw bad('grouping', `names ${c} twice`, { column: c });
        keys.push({ name: c, column: c, type: t });
      }
    }
    if (q.timebar !== undefined) {
      const bar = parseTimebar(q.timebar, schema);
      if (keys.some((k) => k.name === bar.name)) throw bad('timebar', `column ${bar.name} is also a grouping column`, { column: bar.name });
      keys.push(bar);
    }
    const aggs = parseAggs(q.aggregations, schema);
    const names = [...keys.map((k) => k.name), ...aggs.map((a) => a.name)];
    for (const a of aggs) if (!OUT_NAME_RE.test(a.name)) throw bad('aggregations', `output name ${JSON.stringify(a.name)} must match ${OUT_NAME_RE.source}`);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw bad('aggregations', `output column ${dup} appears twice; give one an "as" name`, { column: dup });
    if (partial) {
      const med = aggs.find((a) => a.op === 'med');
      if (med) throw bad('partial', 'med cannot be merged from parts; ask one process or drop med', { aggregation: med.name });
    }
    plan = {
      ...sel,
      kind: 'agg',
      columns: [],
      keys,
      aggs,
      ordering: [],
      rename: {},
      partial,
      outColumns: names,
      outTypes: [...keys.map((k) => k.type), ...aggs.map((a) => a.type)],
    };
  }
  plan.ordering = parseOrdering(q.ordering, plan.outColumns);
  plan.limit = parseLimit(q.limit);
  plan.rename = parseRename(q.rename, plan.outColumns);
  return plan;
}

/** Validates an as-of join request: trades with the prevailing quote by sym and time. */
export function planAsof(request: unknown, lookup: SchemaLookup, tables: () => string[]): AsofPlan {
  if (!isObject(request)) throw bad('query', 'must be an object');
  checkKeys(request, ASOF_KEYS);
  if (request.type !== undefined && request.type !== ASOF_TYPE) throw bad('type', `must be ${ASOF_TYPE}`, { type: String(request.type) });
  const { right, on, rename, ...leftReq } = request;
  const left = planQuery({ ...leftReq, type: undefined }, lookup, tables);
  if (!isObject(right)) throw bad('right', 'missing required parameter {table, columns?, filters?, lookback?}');
  for (const k of Object.keys(right)) if (!['table', 'columns', 'filters', 'lookback'].includes(k)) throw bad('right', `unknown field ${k}`);
  const rs = resolveTable('right.table', right.table, lookup, tables);
  const onCols = on === undefined ? ['sym', 'time'] : stringList('on', on, 2);
  if (onCols.length < 1) throw bad('on', 'names [equalityColumn?, asofColumn]');
  const asof = onCols[onCols.length - 1]!;
  const eq = onCols.length === 2 ? onCols[0] : undefined;
  for (const s of [left.schema, rs]) {
    if (columnType('on', s, asof) !== 'timestamp') throw bad('on', `as-of column ${asof} must be a timestamp in ${s.name}`);
    if (eq !== undefined && columnType('on', s, eq) !== 'symbol') throw bad('on', `equality column ${eq} must be a symbol in ${s.name}`);
  }
  if (asof !== 'time') throw bad('on', 'the as-of column is time (the column start and end bound)');
  let lookbackNs = 0n;
  if (right.lookback !== undefined) {
    const lb = right.lookback;
    if (!isObject(lb) || typeof lb.size !== 'number' || !Number.isSafeInteger(lb.size) || lb.size < 0 || typeof lb.unit !== 'string' || !(lb.unit in TimeUnitsNs)) {
      throw bad('right', `lookback is {size: non-negative integer, unit: ${Object.keys(TimeUnitsNs).join('|')}}`);
    }
    lookbackNs = BigInt(lb.size) * TimeUnitsNs[lb.unit as TimeUnit];
  }
  const rightCols =
    right.columns === undefined ? rs.columns.map((c) => c.name).filter((c) => !onCols.includes(c)) : stringList('right.columns', right.columns, 1024);
  const rightTypes = rightCols.map((c) => columnType('right.columns', rs, c));
  for (const c of rightCols) {
    if (left.columns.includes(c)) throw bad('right.columns', `${c} is also a left column; leave it out of one side`, { column: c });
  }
  const filters = parseFilters('right.filters', right.filters, rs);
  const outColumns = [...left.columns, ...rightCols];
  const outTypes = [...left.outTypes, ...rightTypes];
  const plan: AsofPlan = {
    left: { ...left, limit: undefined, rename: {} },
    right: {
      table: rs.name,
      schema: rs,
      startNs: left.startNs - lookbackNs,
      endNs: left.endNs,
      instruments: left.instruments,
      filters,
      columns: rightCols,
      types: rightTypes,
    },
    eq,
    asof,
    outColumns,
    outTypes,
    limit: left.limit,
    rename: parseRename(rename, outColumns),
  };
  return plan;
}
