// Aggregation: a grouper, the accumulators of a plan, and the scan (or the summaries) feeding them.
import { type ColumnType } from '../../schema.ts';
import { type MemTable } from '../../table.ts';
import { type Parts } from '../finalize.ts';
import { FusedScan, type KernelPart } from '../kernel.ts';
import { partName, ROWS_PART, type Plan, type PlanAgg } from '../request.ts';
import { type ResultColumn } from '../result.ts';
import { type Acc, RowsAcc, FloatView, SumFloatAcc, SumInt64Acc, MinMaxAcc } from './accs.ts';
import { WeightedAcc, MomentsAcc, MedianAcc, FirstLastAcc } from './accs_more.ts';
import { singleGrouper, symGrouper, generalGrouper } from './group.ts';
import { symMaskFor, scan } from './select.ts';
import { summarisable, scanWithSummaries } from './summaries.ts';
import type { RunOptions } from './tables.ts';

function accumulators(t: MemTable, plan: Plan): Acc[] {
  const views = new Map<string, FloatView>();
  const view = (c: string, type: ColumnType) => {
    let v = views.get(c);
    if (!v) views.set(c, (v = new FloatView(t, c, type)));
    return v;
  };
  const accs: Acc[] = [];
  const firsts = plan.aggs.filter((a) => a.op === 'first');
  const lasts = plan.aggs.filter((a) => a.op === 'last');
  if (firsts.length) accs.push(new FirstLastAcc(t, false, firsts));
  if (lasts.length) accs.push(new FirstLastAcc(t, true, lasts));
  for (const a of plan.aggs) {
    const src = a.srcType!;
    switch (a.op) {
      case 'count':
      case 'first':
      case 'last':
        break;
      case 'sum':
        accs.push(src === 'float' ? new SumFloatAcc(view(a.column!, src), a, 'sum') : new SumInt64Acc(t, a, 'sum', false));
        break;
      case 'avg':
        if (src === 'float') accs.push(new SumFloatAcc(view(a.column!, src), a, 'sum', 'n'));
        else accs.push(new SumInt64Acc(t, a, 'sum', true), new CountPartAcc(a));
        break;
      case 'min':
      case 'max':
        accs.push(new MinMaxAcc(t, a));
        break;
      case 'wavg':
      case 'wsum':
        accs.push(new WeightedAcc(view(a.weight!, a.weightType!), view(a.column!, src), a));
        break;
      case 'med':
        accs.push(new MedianAcc(view(a.column!, src), a));
        break;
      case 'dev':
      case 'var':
        accs.push(new MomentsAcc(view(a.column!, src), a));
        break;
    }
  }
  return accs;
}

/** avg over int and long columns: those have no nulls, so the count part is the row count. */
class CountPartAcc implements Acc {
  constructor(private readonly agg: PlanAgg) {}
  ensure() {}
  add() {}
  absorb() {}
  emit(groups: Int32Array, rowCounts: Float64Array, out: Record<string, ResultColumn>) {
    out[partName(this.agg, 'n')] = BigInt64Array.from(groups, (g) => BigInt(rowCounts[g]!));
  }
}

export function aggregate(t: MemTable, plan: Plan, options: RunOptions = {}): Parts {
  const keys = plan.keys;
  const grouper =
    keys.length === 0 ? singleGrouper() : keys.length === 1 && keys[0]!.type === 'symbol' && keys[0]!.barNs === undefined ? symGrouper(t, keys[0]!) : generalGrouper(t, keys);
  const rowsAcc = new RowsAcc(keys.length === 0);
  const accs = accumulators(t, plan);
  const all: Acc[] = [rowsAcc, ...accs];
  for (const a of all) a.ensure(grouper.count());
  // Accumulators with a kernel statement run as one fused loop per chunk; the rest loop alone.
  const parts: KernelPart[] = [];
  const loose: Acc[] = [];
  for (const a of all) {
    const p = options.fused === false ? undefined : a.kernelPart?.();
    if (p) parts.push(p);
    else loose.push(a);
  }
  const fused = new FusedScan(parts);
  const visit = (k: number, len: number, rows: Int32Array | null, n: number) => {
    const g = grouper.gids(k, len, rows, n);
    const groups = grouper.count();
    for (const a of all) a.ensure(groups);
    if (!fused.empty) fused.run(k, len, rows, n, g);
    for (const a of loose) a.add(k, len, rows, n, g);
  };
  if (options.summaries !== false && summarisable(plan) && all.every((a) => a.absorb)) {
    const bySym = keys.length === 1;
    const mask = plan.instruments ? symMaskFor(t.syms, (name) => plan.instruments!.includes(name)) : undefined;
    scanWithSummaries(t, plan, visit, (s) => {
      // A summary slot holds one sym code: its group is that code (by sym) or 0 (no grouping).
      const gids = new Int32Array(s.codes.length);
      for (let i = 0; i < gids.length; i++) gids[i] = mask && !mask[s.codes[i]!] ? -1 : bySym ? s.codes[i]! : 0;
      for (const a of all) a.absorb!(s, gids);
    });
  } else scan(t, plan, visit);
  for (const a of all) a.done?.();
  const counts = rowsAcc.counts;
  let groups: Int32Array;
  if (keys.length === 0) groups = Int32Array.of(0);
  else {
    const live: number[] = [];
    for (let gid = 0; gid < grouper.count(); gid++) if (counts[gid]! > 0) live.push(gid);
    groups = Int32Array.from(live);
  }
  const cols: Record<string, ResultColumn> = { ...grouper.keys(groups) };
  cols[ROWS_PART] = BigInt64Array.from(groups, (g) => BigInt(counts[g] ?? 0));
  for (const a of accs) a.emit(groups, counts, cols);
  return { n: groups.length, cols };
}
