// The HDB half of the query engine: the same Plan the RDB runs, as DuckDB SQL over Parquet files.
// Every user value is a bound parameter ($n, typed); identifiers come from the schema (validated
// names, quoted); file paths come from the HDB's own listing (quoted literals). Aggregations
// compute the same parts as storage/query/memory.ts, finished by storage/query/finalize.ts.
import { ident, Params, sqlString, sqlTypeOf } from '../hdb/duck.ts';
import { likeToGlob } from './like.ts';
import { partName, partsOf, ROWS_PART, type AsofPlan, type Plan, type PlanAgg, type PlanFilter, type Selection } from './request.ts';
import { QUERY_ROWS_MAX } from './result.ts';

/** A read over the files of one table: row numbers within each file keep arrival order. */
export function source(files: readonly string[], rowNumbers = true): string {
  return `read_parquet([${files.map(sqlString).join(', ')}]${rowNumbers ? ', file_row_number = true' : ''})`;
}

/**
 * The files a query reads. `covered` says every file's rows lie inside [start, end] (known from
 * the writer's metadata): the time predicate is then dropped, which DuckDB would otherwise
 * evaluate row by row (measured: it doubled a 10-day group-by).
 */
export interface FileSet {
  files: readonly string[];
  covered: boolean;
}

function filterSql(f: PlanFilter, p: Params): string {
  const c = ident(f.column);
  let e: string;
  switch (f.op) {
    case 'in':
      e = `${c} IN (${f.values.map((v) => p.add(f.type, v)).join(', ')})`;
      break;
    case 'within':
      e = `${c} BETWEEN ${p.add(f.type, f.values[0]!)} AND ${p.add(f.type, f.values[1]!)}`;
      break;
    case 'like':
      e = `${c} GLOB ${p.add('string', likeToGlob(f.values[0] as string))}`;
      break;
    default:
      e = `${c} ${f.op} ${p.add(f.type, f.values[0]!)}`;
  }
  if (!f.negate) return e;
  // Floats are the only nullable columns: like the RDB's NaN, a null passes every negated test.
  return f.type === 'float' ? `(${c} IS NULL OR NOT (${e}))` : `NOT (${e})`;
}

export function whereSql(sel: Selection, p: Params, timeFilter = true): string {
  const parts = timeFilter ? [`"time" >= ${p.add('timestamp', sel.startNs)}`, `"time" <= ${p.add('timestamp', sel.endNs)}`] : ['true'];
  if (sel.instruments !== undefined) {
    parts.push(sel.instruments.length === 0 ? 'false' : `"sym" IN (${sel.instruments.map((s) => p.add('symbol', s)).join(', ')})`);
  }
  for (const f of sel.filters) parts.push(filterSql(f, p));
  return parts.join(' AND ');
}

/** The default order of raw rows on both engines: time, then sym, then arrival. */
const DEFAULT_ORDER = ['"time"', '"sym"', 'file_row_number'];

function orderSql(keys: { expr: string; desc: boolean }[], reverse: boolean): string {
  return keys
    .map(({ expr, desc }) => {
      const d = desc !== reverse;
      // kdb+ sorts nulls first ascending; DuckDB's default puts them last, so say it.
      return `${expr} ${d ? 'DESC NULLS LAST' : 'ASC NULLS FIRST'}`;
    })
    .join(', ');
}

export interface RawSql {
  sql: string;
  params: Params;
  /** The rows come back reversed (a negative limit) and must be flipped. */
  reversed: boolean;
}

export function rawSql(plan: Plan, fs: FileSet): RawSql {
  const p = new Params();
  const files = fs.files;
  const where = whereSql(plan, p, !fs.covered);
  const reversed = plan.limit !== undefined && plan.limit < 0;
  const keys = [...plan.ordering.map((o) => ({ expr: ident(o.column), desc: o.desc })), ...DEFAULT_ORDER.map((expr) => ({ expr, desc: false }))];
  // Without a limit ask for one row more than a reply may hold, to report the overflow.
  const limit = plan.limit === undefined ? QUERY_ROWS_MAX + 1 : Math.abs(plan.limit);
  const sql =
    `SELECT ${plan.columns.map(ident).join(', ')} FROM ${source(files)} WHERE ${where} ` + `ORDER BY ${orderSql(keys, reversed)} LIMIT ${limit}`;
  return { sql, params: p, reversed };
}

const FIRST_LAST_ORDER = `ORDER BY "time", "sym", file_row_number`;

function partSql(a: PlanAgg, part: string): string {
  const x = a.column === undefined ? '' : ident(a.column);
  const w = a.weight === undefined ? '' : ident(a.weight);
  switch (`${a.op}.${part}`) {
    case 'sum.sum':
      return a.type === 'float' ? `coalesce(sum(${x}), 0)::DOUBLE` : `coalesce(sum(${x}), 0)::BIGINT`;
    case 'avg.sum':
      return `coalesce(sum(${x}), 0)::DOUBLE`;
    case 'avg.n':
    case 'dev.n':
    case 'var.n':
      return `count(${x})::BIGINT`;
    case 'min.v':
      return `min(${x})`;
    case 'max.v':
      return `max(${x})`;
    case 'med.v':
      return `median(${x}::DOUBLE)`;
    case 'first.v':
      return `first(${x} ${FIRST_LAST_ORDER})`;
    case 'last.v':
      return `last(${x} ${FIRST_LAST_ORDER})`;
    case 'first.t':
      return `min("time")`;
    case 'last.t':
      return `max("time")`;
    case 'first.s':
      return `first("sym" ${FIRST_LAST_ORDER})`;
    case 'last.s':
      return `last("sym" ${FIRST_LAST_ORDER})`;
    case 'wavg.wv':
    case 'wsum.wv':
      return `coalesce(sum(${w}::DOUBLE * ${x}::DOUBLE), 0)`;
    case 'wavg.w':
      return `coalesce(sum(${w}::DOUBLE) FILTER (WHERE ${x} IS NOT NULL), 0)`;
    case 'dev.mean':
    case 'var.mean':
      return `avg(${x}::DOUBLE)`;
    case 'dev.m2':
    case 'var.m2':
      return `var_pop(${x}::DOUBLE) * count(${x})`;
    default:
      throw new Error(`no SQL for part ${a.op}.${part}`);
  }
}

/** Parts of every aggregation per group: the columns of partsLayout(plan), in order. */
export function partsSql(plan: Plan, fs: FileSet): { sql: string; params: Params } {
  const p = new Params();
  const where = whereSql(plan, p, !fs.covered);
  // Row numbers cost a little on every row; only first/last need them (to break time ties).
  const rowNumbers = plan.aggs.some((a) => a.op === 'first' || a.op === 'last');
  const select: string[] = [];
  for (const k of plan.keys) {
    if (k.barNs !== undefined) {
      // Epoch-aligned bars in integer nanoseconds (time_bucket aligns to 2000-01-03, not 1970).
      const s = `${k.barNs}::BIGINT`;
      const e = `epoch_ns(${ident(k.column)})`;
      select.push(`make_timestamp_ns(${e} - (((${e} % ${s}) + ${s}) % ${s})) AS ${ident(k.name)}`);
    } else select.push(`${ident(k.column)} AS ${ident(k.name)}`);
  }
  select.push(`count(*)::BIGINT AS ${ident(ROWS_PART)}`);
  for (const a of plan.aggs) for (const { part } of partsOf(a)) select.push(`${partSql(a, part)} AS ${ident(partName(a, part))}`);
  const group = plan.keys.length ? ` GROUP BY ${plan.keys.map((_, i) => i + 1).join(', ')}` : '';
  return { sql: `SELECT ${select.join(', ')} FROM ${source(fs.files, rowNumbers)} WHERE ${where}${group}`, params: p };
}

/**
 * kdb+'s aj as DuckDB's ASOF LEFT JOIN. The right side keeps one row per (sym, time): the last
 * in the default order (time, sym, arrival; arrival is the file row within a sym), so ties
 * resolve the way the RDB's binary search does, with or without a sym equality.
 */
export function asofSql(plan: AsofPlan, leftFiles: readonly string[], rightFiles: readonly string[]): { sql: string; params: Params } {
  const p = new Params();
  const left = plan.left;
  const lcols = [...new Set([...left.columns, 'time', 'sym'])];
  const lwhere = whereSql(left, p);
  const reversed = plan.limit !== undefined && plan.limit < 0;
  const llimit = plan.limit === undefined ? QUERY_ROWS_MAX + 1 : Math.abs(plan.limit);
  const lorder = orderSql(
    DEFAULT_ORDER.map((expr) => ({ expr, desc: false })),
    reversed,
  );
  const lsql = `SELECT ${lcols.map(ident).join(', ')}, file_row_number AS "_frn" FROM ${source(leftFiles)} WHERE ${lwhere} ORDER BY ${lorder} LIMIT ${llimit}`;
  const r = plan.right;
  const eq = plan.eq;
  const partition = eq ? `${ident(eq)}, "time"` : '"time"';
  const rcols = r.columns.map((c) => `${ident(c)} AS ${ident(`r.${c}`)}`);
  // No right files (no partitions in the window): an empty right side of the right types.
  const rsql = rightFiles.length
    ? `SELECT ${eq ? `${ident(eq)} AS "_req", ` : ''}"time" AS "_rt"${rcols.length ? ', ' + rcols.join(', ') : ''} FROM ${source(rightFiles)} ` +
      `WHERE ${whereSql(r, p)} QUALIFY row_number() OVER (PARTITION BY ${partition} ORDER BY "sym" DESC, file_row_number DESC) = 1`
    : `SELECT ${eq ? `NULL::VARCHAR AS "_req", ` : ''}NULL::TIMESTAMP_NS AS "_rt"${r.columns
        .map((c, i) => `, NULL::${sqlTypeOf(r.types[i]!)} AS ${ident(`r.${c}`)}`)
        .join('')} WHERE false`;
  const on = `${eq ? `l.${ident(eq)} = r."_req" AND ` : ''}l."time" >= r."_rt"`;
  const out = [...left.columns.map((c) => `l.${ident(c)}`), ...r.columns.map((c) => `r.${ident(`r.${c}`)}`)];
  const sql =
    `WITH l AS (${lsql}), r AS (${rsql}) SELECT ${out.join(', ')} FROM l ASOF LEFT JOIN r ON ${on} ` +
    `ORDER BY l."time" ASC, l."sym" ASC, l."_frn" ASC`;
  return { sql, params: p };
}
