// Join functions by name (TorQ's join argument): the backends' results in part order in, one result
// out. `raze` (the default) concatenates tables with the same columns (or lists); `list` returns
// the results as they are. Custom joins are registered in TypeScript on the gateway. A join that
// throws fails the query with JOIN_FAILED; joins run on the gateway's event loop, so they should
// be cheap (columnar concatenation, not per-row work).
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { RESULT_TYPE, type QueryResult, type ResultColumn } from '../../storage/query/result.ts';

export interface JoinContext {
  /** The backend behind each result, in the same order. */
  parts: ReadonlyArray<{ name: string; proctype: string }>;
  /** The query every backend ran (the first part's, when parts differ). */
  query: unknown;
}

export type JoinFn = (results: unknown[], ctx: JoinContext) => unknown;

export function isQueryResult(v: unknown): v is QueryResult {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === RESULT_TYPE && Array.isArray((v as QueryResult).columns);
}

/** Concatenates columns of one type from several results into one column. */
export function concatColumn(parts: readonly unknown[], column: string): ResultColumn {
  const first = parts[0];
  if (Array.isArray(first)) {
    const out: string[] = [];
    for (const p of parts) {
      if (!Array.isArray(p)) throw new Error(`column ${column} is a list in one result and not in another`);
      for (let i = 0; i < p.length; i++) out.push(p[i] as string);
    }
    return out;
  }
  const ctor = (first as object).constructor as new (n: number) => Float64Array;
  let n = 0;
  for (const p of parts) {
    if (!(p instanceof ctor)) throw new Error(`column ${column} has different types in different results`);
    n += (p as Float64Array).length;
  }
  const out = new ctor(n);
  let at = 0;
  for (const p of parts) {
    out.set(p as Float64Array, at);
    at += (p as Float64Array).length;
  }
  return out as unknown as ResultColumn;
}

/** Concatenates query results with the same columns (kdb+'s raze of tables). */
export function razeResults(results: readonly QueryResult[]): QueryResult {
  if (results.length === 1) return results[0]!;
  const head = results[0]!;
  for (const r of results) {
    if (r.columns.join(',') !== head.columns.join(',')) {
      throw new Error(`raze: results have different columns: [${head.columns.join(', ')}] and [${r.columns.join(', ')}]`);
    }
    if (r.partial) throw new Error('raze: partial aggregates are merged, not concatenated');
  }
  const cols: Record<string, ResultColumn> = {};
  for (const c of head.columns) {
    cols[c] = concatColumn(
      results.map((r) => r.cols[c]),
      c,
    );
  }
  return { type: RESULT_TYPE, table: head.table, n: results.reduce((a, r) => a + r.n, 0), columns: head.columns.slice(), types: head.types.slice(), cols };
}

/** kdb+'s raze: tables concatenate, lists flatten one level, atoms make a list; one result is itself. */
export function raze(results: unknown[]): unknown {
  if (results.length === 1) return results[0];
  if (results.every(isQueryResult)) return razeResults(results);
  if (results.some(isQueryResult)) throw new Error('raze: cannot join tables with other values');
  return results.flatMap((r) => (Array.isArray(r) ? r : [r]));
}

export const builtinJoins: Record<string, JoinFn> = {
  raze: (results) => raze(results),
  list: (results) => results,
};

const JOIN_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export class Joins {
  private readonly fns = new Map<string, JoinFn>(Object.entries(builtinJoins));

  register(name: string, fn: JoinFn): void {
    if (!JOIN_NAME_RE.test(name)) throw new TickbusError(ErrorCode.BAD_CONFIG, `join name ${JSON.stringify(name)} is invalid`, { name });
    this.fns.set(name, fn);
  }

  has(name: string): boolean {
    return this.fns.has(name);
  }

  names(): string[] {
    return [...this.fns.keys()].sort();
  }

  /** Applies a join; any exception becomes JOIN_FAILED (TorQ: "failed to apply join function to result sets"). */
  apply(name: string, results: unknown[], ctx: JoinContext): unknown {
    const fn = this.fns.get(name);
    if (!fn) throw new TickbusError(ErrorCode.BAD_QUERY, `join: unknown join function ${name}`, { param: 'join', joins: this.names() });
    try {
      return fn(results, ctx);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw new TickbusError(ErrorCode.JOIN_FAILED, `failed to apply join function ${name} to the results: ${message}`, { join: name, parts: ctx.parts.map((p) => p.name) }, { cause: e });
    }
  }
}
