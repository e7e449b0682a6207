// Partial aggregates (`partial: true`): the parts of each aggregation that merge across processes
// (avg as sum and count, first/last with their time, dev/var as moments) and the parts table's
// layout. The gateway's merge (storage/query/finalize.ts mergePartials) reads the same names.
import type { ColumnType } from '../schema.ts';
import type { Plan, PlanAgg } from './request_types.ts';

/** Parts of each aggregation that merge across processes (avg -> sum + count, and so on). */
export function partsOf(a: PlanAgg): { part: string; type: ColumnType }[] {
  const src = a.srcType!;
  switch (a.op) {
    case 'count':
      return [];
    case 'sum':
      return [{ part: 'sum', type: a.type }];
    case 'min':
    case 'max':
    case 'med':
      return [{ part: 'v', type: a.type }];
    case 'avg':
      return [
        { part: 'sum', type: 'float' },
        { part: 'n', type: 'long' },
      ];
    case 'wavg':
      return [
        { part: 'wv', type: 'float' },
        { part: 'w', type: 'float' },
      ];
    case 'wsum':
      return [{ part: 'wv', type: 'float' }];
    case 'first':
    case 'last':
      return [
        { part: 'v', type: src },
        { part: 't', type: 'timestamp' },
        { part: 's', type: 'symbol' },
      ];
    case 'dev':
    case 'var':
      return [
        { part: 'n', type: 'long' },
        { part: 'mean', type: 'float' },
        { part: 'm2', type: 'float' },
      ];
  }
}

/** Name of the row-count part every partial result carries. */
export const ROWS_PART = '_rows';

export function partName(a: PlanAgg, part: string): string {
  return `${a.name}.${part}`;
}

/** The columns (and types) of the parts table: keys, row count, each aggregation's parts. */
export function partsLayout(plan: Plan): { columns: string[]; types: ColumnType[] } {
  const columns = plan.keys.map((k) => k.name);
  const types = plan.keys.map((k) => k.type);
  columns.push(ROWS_PART);
  types.push('long');
  for (const a of plan.aggs) {
    for (const p of partsOf(a)) {
      columns.push(partName(a, p.part));
      types.push(p.type);
    }
  }
  return { columns, types };
}
