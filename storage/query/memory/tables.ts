// The RDB engine's inputs: its tables by name, and the options of one run.
import type { MemTable } from '../../table.ts';

export type Tables = ReadonlyMap<string, MemTable>;

export function lookupFor(tables: Tables) {
  return (name: string) => tables.get(name)?.schema;
}

export interface RunOptions {
  /** Use (and build) the per-chunk summaries for `... by sym` aggregates; default true. */
  summaries?: boolean;
  /** Run count/sum/min/max as one compiled loop per chunk (storage/query/kernel.ts); default true. false: one loop per aggregation (the reference the kernels are tested against). */
  fused?: boolean;
}
