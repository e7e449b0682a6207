// The chained tickerplant's rejected parent messages (decision 122): a parent log message it cannot
// forward (does not decode, does not fit its schema, too large for its own log) is counted, logged
// and kept on `tickerr.<name>.<table>` in stream TICKERR_<name>, the tickerplant's error stream
// (actors/tickerplant/acks.ts keepRejected), and the chained tp goes on with the next message. The
// watermark covers it like a filtered message; a restart that reads it again keeps it once
// (Nats-Msg-Id `<parent>:<seq>:<table>`, the stream's duplicate window).
import { ErrorCode, type ErrorCode as Code } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Pipeline } from '../../bus/pipeline.ts';
import { Header, parseTickSubject } from '../../bus/subjects.ts';
import { columnLength, isSymColumn, type Batch, type Column } from '../../storage/batch.ts';
import type { ColumnType, TableSchema } from '../../storage/schema.ts';
import { keepRejected } from '../tickerplant/acks.ts';

export interface Rejection {
  /** The parent log sequence and subject of the message. */
  seq: number;
  subject: string;
  /** The table it was for ('' when the message names none: a marker, a multi-table message). */
  table: string;
  code: Code;
  reason: string;
  /** The bytes kept: the parent's message as stored, or the batch as decoded (re-encoded). */
  data: Uint8Array;
}

export class Rejects {
  /** Parent messages (or parts of one) not forwarded, per error code. */
  readonly byCode: Record<string, number> = {};
  count = 0;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly name: string,
    private readonly parent: string,
    private readonly logger: Logger,
  ) {}

  keep(r: Rejection): void {
    this.count++;
    this.byCode[r.code] = (this.byCode[r.code] ?? 0) + 1;
    const table = r.table || (parseTickSubject(r.subject)?.kind === 'table' ? (parseTickSubject(r.subject) as { table: string }).table : '_unknown');
    this.logger.warn({ seq: r.seq, subject: r.subject, code: r.code, reason: r.reason }, 'chained tp rejected a parent log message');
    keepRejected(
      this.pipeline,
      this.name,
      table,
      r.data,
      { code: r.code, subject: r.subject, message: r.reason, contentType: 'application/cbor', extra: { [Header.parentSeq]: String(r.seq), [Header.msgId]: `${this.parent}:${r.seq}:${table}` } },
      this.logger,
    );
  }
}

/** Whether a column holds what a schema type is stored as (storage/batch.ts Column). */
function fits(type: ColumnType, c: Column): boolean {
  switch (type) {
    case 'symbol':
      return isSymColumn(c);
    case 'timestamp':
    case 'timespan':
    case 'long':
      return c instanceof BigInt64Array;
    case 'float':
      return c instanceof Float64Array;
    case 'int':
    case 'date':
      return c instanceof Int32Array;
    case 'bool':
      return c instanceof Uint8Array;
    case 'string':
      return Array.isArray(c);
  }
}

/** Why a parent batch does not fit the chained tp's table (undefined: it fits). O(columns). */
export function batchMismatch(schema: TableSchema, b: Batch): { code: Code; reason: string } | undefined {
  for (const c of schema.columns) {
    const col = b.cols[c.name];
    if (col === undefined) return { code: ErrorCode.MISSING_COLUMN, reason: `table ${schema.name}: column ${c.name} missing` };
    if (!fits(c.type, col)) return { code: ErrorCode.BAD_COLUMN_TYPE, reason: `table ${schema.name}: column ${c.name} is not ${c.type}` };
    if (columnLength(col) !== b.n) return { code: ErrorCode.RAGGED_COLUMNS, reason: `table ${schema.name}: column ${c.name} has ${columnLength(col)} rows, the batch ${b.n}` };
  }
  const extra = Object.keys(b.cols).filter((k) => !schema.index.has(k));
  if (extra.length) return { code: ErrorCode.EXTRA_COLUMN, reason: `table ${schema.name}: columns not in the schema: ${extra.slice(0, 8).join(', ')}` };
  return undefined;
}
