// Whether the tickerplant takes a feed request: the typed refusals (MESSAGE_TOO_LARGE for a
// request or a multi-table update over its bound, BAD_TYPE, UNKNOWN_TABLE, OVERLOADED when the
// pending rows or the appends in flight are at their bound) and the waiter of a request taken.
// Pure; split from ingest.ts, which reads the requests and queues them.
import { decode, type Encoding } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { type Batch, estimateBytes } from '../../storage/batch.ts';
import type { Schema, TableSchema } from '../../storage/schema.ts';
import type { FeedRequest, Waiter } from './feed.ts';
import type { TickerplantSettings } from './settings.ts';

export const UPD_TYPE = 'tickbus.v1.upd';

/** A request of `size` bytes over maxMessageBytes is refused before it is decoded. */
export function checkSize(size: number, maxMessageBytes: number): void {
  if (size > maxMessageBytes) {
    throw new TickbusError(ErrorCode.MESSAGE_TOO_LARGE, `message of ${size} bytes exceeds the limit of ${maxMessageBytes}`, { bytes: size, max: maxMessageBytes });
  }
}

/** A feed request's body: an object of type tickbus.v1.upd (BAD_TYPE otherwise). */
export function updBody(data: Uint8Array, encoding: Encoding): Record<string, unknown> {
  const body = decode<Record<string, unknown>>(data, encoding);
  if (typeof body !== 'object' || body === null || body.type !== UPD_TYPE) {
    throw new TickbusError(ErrorCode.BAD_TYPE, `payload type must be ${UPD_TYPE}`, { got: (body as { type?: unknown })?.type ?? null });
  }
  return body;
}

/** The schema of a table the tickerplant carries (UNKNOWN_TABLE naming the tables otherwise). */
export function tableSchemaOf(schema: Schema, table: string): TableSchema {
  const t = schema.get(table);
  if (!t) throw new TickbusError(ErrorCode.UNKNOWN_TABLE, `unknown table ${table}`, { table, tables: [...schema.keys()] });
  return t;
}

/**
 * A multi-table update is one log message (all or none): one that cannot fit one message
 * (batchBytesMax) is refused whole with MESSAGE_TOO_LARGE, never split across appends.
 */
export function checkMultiFits(batches: readonly Batch[], batchBytesMax: number): void {
  let bytes = 0;
  for (const b of batches) bytes += estimateBytes(b);
  if (bytes > batchBytesMax) {
    throw new TickbusError(ErrorCode.MESSAGE_TOO_LARGE, `a multi-table update is one log message and this one needs about ${bytes} bytes, over batchBytesMax ${batchBytesMax}; send its tables as separate updates`, {
      bytes,
      max: batchBytesMax,
      tables: batches.map((b) => b.table),
    });
  }
}

type Bounds = Pick<TickerplantSettings, 'pendingRowsMax' | 'appendsInflightMax'>;

/** Room for `rows` more: the pending rows stay within pendingRowsMax and an append slot is free. */
export function hasRoom(pendingRows: number, rows: number, appends: number, s: Bounds): boolean {
  return pendingRows + rows <= s.pendingRowsMax && appends < s.appendsInflightMax;
}

/** OVERLOADED when there is no room for `rows` more (the feed retries with the same id). */
export function checkRoom(pendingRows: number, rows: number, appends: number, s: Bounds): void {
  if (!hasRoom(pendingRows, rows, appends, s)) {
    throw new TickbusError(ErrorCode.OVERLOADED, 'tickerplant queue is full; retry with the same id', { pendingRows, appends });
  }
}

/** The waiter of a request taken: answered once its `remaining` appends (live, held) are done. */
export function waiterFor(r: FeedRequest, rows: number, remaining = 1): Waiter {
  return { reply: r.msg.reply, encoding: r.encoding, bulk: r.bulk, id: r.id, rows, remaining, seq: 0, failed: false };
}
