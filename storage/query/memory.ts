// The RDB engine: runs a Plan (storage/query/request.ts) over MemTable chunks. It walks 64k-row
// chunks column at a time with monomorphic loops over typed arrays: no object per row, int64s
// read as int32 pairs (reading a BigInt64Array element allocates a BigInt), symbols compared as
// codes through per-query masks and ranks. Aggregations produce the same parts as the HDB's SQL
// and finish through the shared storage/query/finalize.ts.
//
// The engine's parts live in storage/query/memory/: chunks (chunk arithmetic, time statistics),
// select (predicates, the chunk scan), raw (raw selects), group (group ids), accs and accs_more
// (accumulators), aggregate, summaries (per-chunk partials), asof (the as-of join); the fused
// per-chunk loops in storage/query/kernel.ts. This file is the engine's entry point.
import type { MemTable } from '../table.ts';
import { finishAgg } from './finalize.ts';
import { planQuery, type Plan } from './request.ts';
import { takeColumn, type QueryResult } from './result.ts';
import { aggregate } from './memory/aggregate.ts';
import { runRaw } from './memory/raw.ts';
import { lookupFor, type RunOptions, type Tables } from './memory/tables.ts';

export { aggregate } from './memory/aggregate.ts';
export { planAsofFor, runAsof } from './memory/asof.ts';
export { GROUPS_MAX } from './memory/group.ts';
export { gatherColumn, orderByTimeSym, symRanks } from './memory/raw.ts';
export { SUMMARY_SYMS_MAX } from './memory/summaries.ts';
export type { RunOptions } from './memory/tables.ts';

/** Validates a request against the RDB's tables (the gateway uses the plan to merge parts). */
export function planFor(tables: Tables, request: unknown): Plan {
  return planQuery(request, lookupFor(tables), () => [...tables.keys()]);
}

/** Runs a getdata request over in-memory tables. */
export function runQuery(tables: Tables, request: unknown, options: RunOptions = {}): QueryResult {
  const plan = planFor(tables, request);
  return runPlan(tables.get(plan.table)!, plan, options);
}

export function runPlan(t: MemTable, plan: Plan, options: RunOptions = {}): QueryResult {
  if (plan.kind === 'raw') return runRaw(t, plan);
  return finishAgg(plan, aggregate(t, plan, options));
}

export { takeColumn };
