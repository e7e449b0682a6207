// As-of join over in-memory tables.
import { type MemTable } from '../../table.ts';
import { applyRename } from '../finalize.ts';
import { bad, planAsof, type AsofPlan } from '../request.ts';
import { QUERY_ROWS_MAX, RESULT_TYPE, type QueryResult, type ResultColumn } from '../result.ts';
import { CHUNK_SHIFT, CHUNK_MASK, lt } from './chunks.ts';
import { selectRows, symRanks, orderByTimeSym, gatherColumn, limitRows } from './raw.ts';
import { lookupFor, type Tables } from './tables.ts';

// As-of join (kdb+'s aj): each left row takes the last right row with the same sym and a time at
// or before its own; among right rows with equal time the last to arrive wins.

export function planAsofFor(tables: Tables, request: unknown): AsofPlan {
  return planAsof(request, lookupFor(tables), () => [...tables.keys()]);
}

export function runAsof(tables: Tables, request: unknown): QueryResult {
  const plan = planAsofFor(tables, request);
  const lt_ = tables.get(plan.left.table)!;
  const rt = tables.get(plan.right.table)!;
  let lrows = orderByTimeSym(lt_, selectRows(lt_, plan.left));
  if (plan.limit !== undefined) lrows = limitRows(lrows, plan.limit);
  if (lrows.length > QUERY_ROWS_MAX) throw bad('limit', `the result has ${lrows.length} rows; at most ${QUERY_ROWS_MAX} per reply`, { rows: lrows.length });
  const match = asofMatch(lt_, lrows, rt, selectRows(rt, plan.right), plan.eq);
  const cols: Record<string, ResultColumn> = {};
  for (const c of plan.left.columns) cols[c] = gatherColumn(lt_, c, lrows);
  for (const c of plan.right.columns) cols[c] = gatherColumn(rt, c, match);
  const r: QueryResult = { type: RESULT_TYPE, table: plan.left.table, n: lrows.length, columns: plan.outColumns.slice(), types: plan.outTypes.slice(), cols };
  return applyRename(r, plan.rename);
}

/** For each left row, the matching right row number, or -1. */
function asofMatch(lt_: MemTable, lrows: Uint32Array, rt: MemTable, rrows: Uint32Array, eq: string | undefined): Float64Array {
  // Bucket right rows by equality code (stable, so arrival order is kept), then order each bucket
  // by time (stable again: equal times stay in arrival order, and the search takes the last).
  const rCodes = eq ? (gatherColumn(rt, eq, rrows) as string[]) : undefined;
  const bucketOf = new Map<string, number>();
  const bucketIds = new Int32Array(rrows.length);
  for (let i = 0; i < rrows.length; i++) {
    const key = rCodes ? rCodes[i]! : '';
    let b = bucketOf.get(key);
    if (b === undefined) bucketOf.set(key, (b = bucketOf.size));
    bucketIds[i] = b;
  }
  const rt64 = gatherColumn(rt, 'time', rrows) as BigInt64Array;
  const rp = new Int32Array(rt64.buffer);
  // Within a bucket: (time, sym, arrival), the default order, so the last of equal times is the
  // same row on both engines even without a sym equality.
  const ranks = symRanks(rt.syms);
  const symChunks = rt.columns.get('sym')!.chunks as Int32Array[];
  const rRank = Int32Array.from(rrows, (r) => ranks[symChunks[r >>> CHUNK_SHIFT]![r & CHUNK_MASK]!]!);
  const idx = Uint32Array.from(rrows.keys());
  idx.sort(
    (a, b) => bucketIds[a]! - bucketIds[b]! || rp[2 * a + 1]! - rp[2 * b + 1]! || (rp[2 * a]! >>> 0) - (rp[2 * b]! >>> 0) || rRank[a]! - rRank[b]! || a - b,
  );
  const start = new Int32Array(bucketOf.size + 1);
  for (let i = 0; i < idx.length; i++) start[bucketIds[idx[i]!]! + 1]!++;
  for (let b = 0; b < bucketOf.size; b++) start[b + 1]! += start[b]!;
  const sHi = Int32Array.from(idx, (i) => rp[2 * i + 1]!);
  const sLo = Float64Array.from(idx, (i) => rp[2 * i]! >>> 0);
  const lKeys = eq ? (gatherColumn(lt_, eq, lrows) as string[]) : undefined;
  const lt64 = gatherColumn(lt_, 'time', lrows) as BigInt64Array;
  const lp = new Int32Array(lt64.buffer);
  const out = new Float64Array(lrows.length);
  for (let i = 0; i < lrows.length; i++) {
    const b = bucketOf.get(lKeys ? lKeys[i]! : '');
    out[i] = -1;
    if (b === undefined) continue;
    const h = lp[2 * i + 1]!;
    const l = lp[2 * i]! >>> 0;
    // Last position in [start[b], start[b+1]) whose time is <= (h, l).
    let a = start[b]!;
    let z = start[b + 1]!;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (lt(h, l, sHi[m]!, sLo[m]!)) z = m;
      else a = m + 1;
    }
    if (a > start[b]!) out[i] = rrows[idx[a - 1]!]!;
  }
  return out;
}
