// The batches of a log message, as every reader decodes them: a tickbus.v1.batch (one table) or
// a tickbus.v1.multi (several tables in one atomic append, bus/SUBJECTS.md).
import type { Column } from '../storage/batch.ts';
import { isSymColumn } from '../storage/batch.ts';

/** One table's batch in a log message (tickbus.v1.batch, alone or inside a tickbus.v1.multi). */
export interface LogBatchBody {
  table: string;
  day: string;
  n: number;
  cols: Record<string, Column>;
}

/** A decoded tickbus.v1.batch, checked for shape (throws 'not a batch'). */
export function checkBatchBody(b: unknown): LogBatchBody {
  const x = b as LogBatchBody;
  if (typeof x?.n !== 'number' || typeof x.cols !== 'object' || x.cols === null || !isSymColumn(x.cols.sym)) throw new Error('not a batch');
  return x;
}

/** The table batches of a decoded tickbus.v1.multi message, in order (throws when it is not one). */
export function multiBodies(v: unknown): LogBatchBody[] {
  const bs = (v as { batches?: unknown })?.batches;
  if (!Array.isArray(bs) || bs.length === 0) throw new Error('not a multi-table message');
  return bs.map((b) => {
    const x = checkBatchBody(b);
    if (typeof x.table !== 'string') throw new Error('a batch of a multi-table message has no table');
    return x;
  });
}

