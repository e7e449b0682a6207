// Both engines compute the same parts per group (storage/query/request.ts partsLayout: sums,
// counts, Welford moments, first/last with their time), and this one module turns parts into the
// finished aggregates, orders, limits and renames. One code path finishing both engines is what
// makes their results identical; the same parts merged across processes give the gateway's answer.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { ColumnType } from '../schema.ts';
import { partName, partsLayout, ROWS_PART, type Plan, type PlanAgg } from './request.ts';
import {
  allocColumn,
  compareCells,
  NULL_LONG,
  QUERY_ROWS_MAX,
  RESULT_TYPE,
  sortIndex,
  takeColumn,
  takeRows,
  type QueryResult,
  type ResultColumn,
} from './result.ts';
import { bad } from './request.ts';

/** A parts table: key columns, `_rows`, then each aggregation's parts (partsLayout order). */
export interface Parts {
  n: number;
  cols: Record<string, ResultColumn>;
}

function num(c: ResultColumn, i: number): number {
  const v = (c as Float64Array | BigInt64Array)[i]!;
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Parts -> finished aggregates (before ordering). */
export function finishParts(plan: Plan, parts: Parts): QueryResult {
  const n = parts.n;
  const cols: Record<string, ResultColumn> = {};
  for (const k of plan.keys) cols[k.name] = parts.cols[k.name]!;
  const rows = parts.cols[ROWS_PART] as BigInt64Array;
  for (const a of plan.aggs) cols[a.name] = finishOne(a, parts, rows, n);
  return { type: RESULT_TYPE, table: plan.table, n, columns: plan.outColumns.slice(), types: plan.outTypes.slice(), cols };
}

function finishOne(a: PlanAgg, parts: Parts, rows: BigInt64Array, n: number): ResultColumn {
  const p = (part: string) => parts.cols[partName(a, part)]!;
  switch (a.op) {
    case 'count':
      return rows;
    case 'sum':
    case 'min':
    case 'max':
    case 'med':
      return a.op === 'sum' ? p('sum') : p('v');
    case 'first':
    case 'last':
      return p('v');
    case 'wsum':
      return p('wv');
    case 'avg':
    case 'wavg': {
      const top = a.op === 'avg' ? p('sum') : p('wv');
      const bottom = a.op === 'avg' ? p('n') : p('w');
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const d = num(bottom, i);
        out[i] = d === 0 ? NaN : num(top, i) / d;
      }
      return out;
    }
    case 'dev':
    case 'var': {
      const cnt = p('n');
      const m2 = p('m2') as Float64Array;
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const c = num(cnt, i);
        const v = c === 0 ? NaN : m2[i]! / c;
        out[i] = a.op === 'dev' ? Math.sqrt(v) : v;
      }
      return out;
    }
  }
}

/** Orders a grouped result (user ordering, then the keys ascending), limits and renames it. */
export function orderLimitRename(plan: Plan, r: QueryResult, defaultKeys: string[]): QueryResult {
  const keys = [...plan.ordering.map((o) => o.column), ...defaultKeys];
  const desc = [...plan.ordering.map((o) => o.desc), ...defaultKeys.map(() => false)];
  let idx: ArrayLike<number> = sortIndex(
    keys.map((k) => r.cols[k]!),
    desc,
    r.n,
  );
  if (plan.limit !== undefined) {
    const all = idx as Uint32Array;
    idx = plan.limit >= 0 ? all.subarray(0, plan.limit) : all.subarray(Math.max(0, all.length + plan.limit));
  }
  if (idx.length > QUERY_ROWS_MAX) throw bad('limit', `the result has ${idx.length} rows; at most ${QUERY_ROWS_MAX} per reply`, { rows: idx.length });
  return applyRename(takeRows(r, idx), plan.rename);
}

export function applyRename(r: QueryResult, rename: Record<string, string>): QueryResult {
  if (Object.keys(rename).length === 0) return r;
  const columns = r.columns.map((c) => rename[c] ?? c);
  const cols: Record<string, ResultColumn> = {};
  r.columns.forEach((c, i) => (cols[columns[i]!] = r.cols[c]!));
  return { ...r, columns, cols };
}

/** The finished result of a grouped query from its parts (or the parts themselves when partial). */
export function finishAgg(plan: Plan, parts: Parts): QueryResult {
  if (plan.partial) {
    const layout = partsLayout(plan);
    return { type: RESULT_TYPE, table: plan.table, n: parts.n, columns: layout.columns, types: layout.types, cols: parts.cols, partial: true };
  }
  return orderLimitRename(plan, finishParts(plan, parts), plan.keys.map((k) => k.name));
}

/**
 * Merges partial results of one plan from several processes (e.g. HDB days and the RDB's today)
 * and finishes them: groups with equal keys combine part by part (sums add, min/max compare,
 * first/last compare their time then sym, moments combine with Chan's formula).
 */
export function mergePartials(plan: Plan, results: readonly QueryResult[], keepPartial = false): QueryResult {
  const layout = partsLayout(plan);
  for (const r of results) {
    if (!r.partial || r.columns.join(',') !== layout.columns.join(',')) {
      throw new TickbusError(ErrorCode.INTERNAL, 'mergePartials takes partial results of the same plan', { columns: r.columns });
    }
  }
  // Concatenate, then sort by keys so equal keys are adjacent, then fold runs.
  const total = results.reduce((a, r) => a + r.n, 0);
  const cat: Record<string, ResultColumn> = {};
  layout.columns.forEach((c, i) => (cat[c] = concatColumns(layout.types[i]!, results.map((r) => r.cols[c]!), total)));
  const keyCols = plan.keys.map((k) => cat[k.name]!);
  const rowsIn = cat[ROWS_PART] as BigInt64Array;
  // Groups without rows (an ungrouped query over no data) carry no values: leave them out.
  const order = sortIndex(keyCols, keyCols.map(() => false), total).filter((i) => rowsIn[i]! > 0n);
  const live = order.length;
  const runs: number[] = [];
  for (let i = 0; i < live; i++) {
    if (i === 0 || keyCols.some((c) => compareCells(c, order[i - 1]!, order[i]!) !== 0)) runs.push(i);
  }
  runs.push(live);
  const g = runs.length - 1;
  const out: Record<string, ResultColumn> = {};
  const firstOfRun = Uint32Array.from(runs.slice(0, g), (i) => order[i]!);
  for (const k of plan.keys) out[k.name] = takeColumn(cat[k.name]!, firstOfRun);
  const rowsOut = new BigInt64Array(g);
  for (let r = 0; r < g; r++) for (let i = runs[r]!; i < runs[r + 1]!; i++) rowsOut[r]! += rowsIn[order[i]!]!;
  out[ROWS_PART] = rowsOut;
  for (const a of plan.aggs) mergeAgg(a, cat, out, order, runs, g);
  const merged: Parts = { n: g, cols: out };
  // keepPartial: the merged parts themselves (a process answering for several of its days, whose
  // caller merges again), else the finished aggregates.
  if (plan.keys.length === 0 && g === 0) return finishAgg({ ...plan, partial: keepPartial }, noRowsParts(plan));
  return finishAgg({ ...plan, partial: keepPartial }, merged);
}

/** The parts of a query over no rows: no groups, or (ungrouped) one group of nulls and zeros. */
export function noRowsParts(plan: Plan): Parts {
  const layout = partsLayout(plan);
  const cols: Record<string, ResultColumn> = {};
  if (plan.keys.length > 0) {
    layout.columns.forEach((c, i) => (cols[c] = allocColumn(layout.types[i]!, 0)));
    return { n: 0, cols };
  }
  layout.columns.forEach((c, i) => (cols[c] = allocColumn(layout.types[i]!, 1)));
  for (const a of plan.aggs) {
    if (a.op === 'min' || a.op === 'max' || a.op === 'first' || a.op === 'last') {
      const v = cols[partName(a, 'v')]!;
      if (v instanceof Float64Array) v[0] = NaN;
      else if (v instanceof BigInt64Array) v[0] = NULL_LONG;
      else if (v instanceof Int32Array) v[0] = -(2 ** 31);
    }
    if (a.op === 'first' || a.op === 'last') (cols[partName(a, 't')] as BigInt64Array)[0] = NULL_LONG;
    if (a.op === 'dev' || a.op === 'var' || a.op === 'med') {
      for (const part of ['mean', 'm2', 'v']) {
        const c = cols[partName(a, part)];
        if (c instanceof Float64Array) c[0] = NaN;
      }
    }
  }
  return { n: 1, cols: { ...cols, [ROWS_PART]: new BigInt64Array(1) } };
}

function concatColumns(type: ColumnType, parts: ResultColumn[], n: number): ResultColumn {
  const out = allocColumn(type, n);
  let at = 0;
  for (const p of parts) {
    if (Array.isArray(out)) for (let i = 0; i < p.length; i++) out[at + i] = (p as string[])[i]!;
    else (out as Float64Array).set(p as Float64Array, at);
    at += p.length;
  }
  return out;
}

function mergeAgg(a: PlanAgg, cat: Record<string, ResultColumn>, out: Record<string, ResultColumn>, order: Uint32Array, runs: number[], g: number): void {
  const src = (part: string) => cat[partName(a, part)]!;
  const put = (part: string, c: ResultColumn): void => {
    out[partName(a, part)] = c;
  };
  const each = (fn: (r: number, i: number, first: boolean) => void) => {
    for (let r = 0; r < g; r++) for (let i = runs[r]!; i < runs[r + 1]!; i++) fn(r, order[i]!, i === runs[r]);
  };
  const addParts = (part: string) => {
    const s = src(part);
    const o = allocColumn(s instanceof BigInt64Array ? 'long' : 'float', g) as Float64Array | BigInt64Array;
    each((r, i) => ((o as Float64Array)[r]! += (s as Float64Array)[i]!));
    put(part, o);
  };
  switch (a.op) {
    case 'count':
      return;
    case 'sum':
      return addParts('sum');
    case 'avg':
      addParts('sum');
      return addParts('n');
    case 'wavg':
      addParts('wv');
      return addParts('w');
    case 'wsum':
      return addParts('wv');
    case 'min':
    case 'max': {
      const s = src('v');
      const pick = new Uint32Array(g);
      each((r, i, first) => {
        if (first) pick[r] = i;
        else {
          const d = compareCells(s, i, pick[r]!);
          // A null loses to any value on both sides (kdb+'s min/max skip nulls).
          const iNull = isNullCell(s, i);
          const pNull = isNullCell(s, pick[r]!);
          if (pNull && !iNull) pick[r] = i;
          else if (!iNull && (a.op === 'min' ? d < 0 : d > 0)) pick[r] = i;
        }
      });
      return put('v', takeColumn(s, pick));
    }
    case 'first':
    case 'last': {
      const t = src('t');
      const sy = src('s');
      const pick = new Uint32Array(g);
      each((r, i, first) => {
        if (first) pick[r] = i;
        else {
          let d = compareCells(t, i, pick[r]!);
          if (d === 0) d = compareCells(sy, i, pick[r]!);
          if (a.op === 'first' ? d < 0 : d >= 0) pick[r] = i;
        }
      });
      put('v', takeColumn(src('v'), pick));
      put('t', takeColumn(t, pick));
      return put('s', takeColumn(sy, pick));
    }
    case 'dev':
    case 'var': {
      const n = src('n') as BigInt64Array;
      const mean = src('mean') as Float64Array;
      const m2 = src('m2') as Float64Array;
      const on = new BigInt64Array(g);
      const om = new Float64Array(g);
      const o2 = new Float64Array(g);
      each((r, i) => {
        const nb = Number(n[i]!);
        if (nb === 0) return;
        const na = Number(on[r]!);
        const tot = na + nb;
        const delta = mean[i]! - (na === 0 ? 0 : om[r]!);
        om[r] = na === 0 ? mean[i]! : om[r]! + (delta * nb) / tot;
        o2[r] = (na === 0 ? 0 : o2[r]!) + m2[i]! + (na === 0 ? 0 : (delta * delta * na * nb) / tot);
        on[r] = BigInt(tot);
      });
      put('n', on);
      put('mean', om);
      return put('m2', o2);
    }
    case 'med':
      throw bad('partial', 'med cannot be merged from parts');
  }
}

function isNullCell(c: ResultColumn, i: number): boolean {
  if (c instanceof Float64Array) return Number.isNaN(c[i]!);
  if (c instanceof BigInt64Array) return c[i] === NULL_LONG;
  if (c instanceof Int32Array) return c[i] === -(2 ** 31);
  return false;
}
