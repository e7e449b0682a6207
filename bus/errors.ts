// The error catalogue and the one error envelope every reply uses: {type, code, message, detail}.
// Codes are stable strings (clients switch on them); messages are for people.

export const ERROR_TYPE = 'tickbus.v1.error' as const;

export const ErrorCode = {
  /** The payload could not be decoded with the declared Content-Type. */
  BAD_ENCODING: 'BAD_ENCODING',
  /** The Content-Type header names an encoding the bus does not speak. */
  BAD_CONTENT_TYPE: 'BAD_CONTENT_TYPE',
  /** The payload's `type` is missing or not the one this subject takes. */
  BAD_TYPE: 'BAD_TYPE',
  /** The update's id (body `id` or header Tb-Msg-Id) is not 1-128 printable ASCII characters without commas. */
  BAD_ID: 'BAD_ID',
  /** The table is not in the tickerplant's schema. */
  UNKNOWN_TABLE: 'UNKNOWN_TABLE',
  /** A column the schema requires is absent. */
  MISSING_COLUMN: 'MISSING_COLUMN',
  /** A column is present that the schema does not have. */
  EXTRA_COLUMN: 'EXTRA_COLUMN',
  /** A column's values are not of the schema's type. */
  BAD_COLUMN_TYPE: 'BAD_COLUMN_TYPE',
  /** Columns (or rows) differ in length. */
  RAGGED_COLUMNS: 'RAGGED_COLUMNS',
  /** The message is larger than the tickerplant accepts. */
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** The update holds no rows, or more rows than one update may hold. */
  BAD_ROW_COUNT: 'BAD_ROW_COUNT',
  /** The tickerplant's bounded queue is full; retry later with the same id. */
  OVERLOADED: 'OVERLOADED',
  /** A buffer event's log would pass bufferLimitMb with this update's held rows; nothing of the update was logged or acked. */
  BUFFER_FULL: 'BUFFER_FULL',
  /** The tickerplant is not accepting updates (starting, stopping). */
  NOT_READY: 'NOT_READY',
  /** Appending to the log failed (after bounded retries); the rows were NOT acknowledged. */
  LOG_APPEND_FAILED: 'LOG_APPEND_FAILED',
  /** A request did not get its reply within the stated timeout. */
  TIMEOUT: 'TIMEOUT',
  /** No process listens on the subject. */
  NO_RESPONDERS: 'NO_RESPONDERS',
  /** A query parameter is missing or invalid. */
  BAD_QUERY: 'BAD_QUERY',
  /** A configuration value is invalid. */
  BAD_CONFIG: 'BAD_CONFIG',
  /** The `actors` command line is wrong: an unknown command or flag, a missing or bad argument; detail.flag, detail.valid. */
  BAD_USAGE: 'BAD_USAGE',
  /** Gateway: a target names process types with no live instance (answered at once); detail.missing, detail.available. */
  TYPE_NOT_AVAILABLE: 'TYPE_NOT_AVAILABLE',
  /** Gateway: no live process matches the attribute filter or holds the requested time range; detail says what is unmatched. */
  NO_MATCHING_PROCESS: 'NO_MATCHING_PROCESS',
  /** Gateway: the query did not finish within its timeoutMs (TorQ: "query has exceeded specified timeout value"). */
  QUERY_TIMEOUT: 'QUERY_TIMEOUT',
  /** Gateway: a backend answered its part with an error; detail.backend, detail.error (the backend's envelope). */
  BACKEND_ERROR: 'BACKEND_ERROR',
  /** Gateway: the client that asked disconnected; its queued query was dropped (seen in the usage log, never by the client). */
  CLIENT_GONE: 'CLIENT_GONE',
  /** Gateway: a backend stopped, died or lost its heartbeat while it held a part of the query. */
  BACKEND_GONE: 'BACKEND_GONE',
  /** Gateway: the join function threw on the backends' results; detail.join. */
  JOIN_FAILED: 'JOIN_FAILED',
  /** Gateway: a query needs a day being handed from the RDB to the HDB and the hand-off outlasted eodHoldMs. */
  EOD_IN_PROGRESS: 'EOD_IN_PROGRESS',
  /** A named API (tickbus.v1.call) is not registered on the process; detail.apis lists those that are. */
  UNKNOWN_API: 'UNKNOWN_API',
  /** A named API threw; detail.api names it. */
  API_FAILED: 'API_FAILED',
  /** A query needed more memory than its process may use (the HDB's DuckDB memoryLimit); it was stopped, nothing else was affected. */
  RESOURCE_LIMIT: 'RESOURCE_LIMIT',
  /** A reply is bigger than one NATS message and the request did not accept chunks (bus/reply.ts); detail.bytes, detail.maxPayload. */
  RESULT_TOO_LARGE: 'RESULT_TOO_LARGE',
  /** End of day: the rows written (intraday area, a partition) differ from the end-of-day marker's counts; nothing was moved into the HDB. detail.table, detail.expected. */
  COUNT_MISMATCH: 'COUNT_MISMATCH',
  /** End of day: the HDB already holds the table's partition with other rows than the log's day; both were kept, nothing overwritten. detail.hdbRows, detail.logRows. */
  PARTITION_CONFLICT: 'PARTITION_CONFLICT',
  /** Anything else: a bug. The detail says what happened. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorEnvelope {
  type: typeof ERROR_TYPE;
  code: ErrorCode;
  message: string;
  detail: Record<string, unknown>;
}

/** The one error class for expected failures; it converts to and from the wire envelope. */
export class TickbusError extends Error {
  override name = 'TickbusError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toEnvelope(): ErrorEnvelope {
    return { type: ERROR_TYPE, code: this.code, message: this.message, detail: this.detail };
  }

  static fromEnvelope(e: ErrorEnvelope): TickbusError {
    return new TickbusError(e.code, e.message, e.detail ?? {});
  }
}

export function isErrorEnvelope(v: unknown): v is ErrorEnvelope {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === ERROR_TYPE;
}

/** Wraps an unexpected exception in the envelope so a requester always gets a reply. */
export function toTickbusError(e: unknown): TickbusError {
  if (e instanceof TickbusError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new TickbusError(ErrorCode.INTERNAL, message, {}, { cause: e });
}
