// The gateway's answers to its clients: a reply, an acceptance, a postback or an error, published
// in the client's encoding (results as JSON objects for a JSON client), in chunks when the result
// is too big for one message and the caller accepts them (bus/reply.ts), and each answered query
// recorded in the usage log (bus/usage.ts). Split from effects.ts, which owns when to answer.
import type { NatsConnection } from '@nats-io/nats-core';
import { encode, type Encoding } from '../../bus/codec.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { sendReply } from '../../bus/reply.ts';
import { Header } from '../../bus/subjects.ts';
import { queryKind, rowsOf, statusOf, type UsageLog, type UsageRecord } from '../../bus/usage.ts';
import { resultToJson } from '../../storage/query/result.ts';
import { isQueryResult } from './joins.ts';
import { GATEWAY_REPLY_TYPE, type GatewayReply } from './request.ts';

/** What the usage log keeps about a query's arrival: epoch ms and performance.now(), who asked, the subject. */
export interface Arrival {
  at: number;
  t0: number;
  user: string;
  subject: string;
}

/** A query result (or a list holding results) as a JSON client reads it. */
function jsonResult(v: unknown): unknown {
  if (isQueryResult(v)) return resultToJson(v);
  if (Array.isArray(v) && v.some(isQueryResult)) return v.map((x) => (isQueryResult(x) ? resultToJson(x) : x));
  return v;
}

/** The error envelope of a failed query, naming its id when it has one. */
export function errorBody(e: unknown, id: string | undefined) {
  const err = toTickbusError(e);
  return new TickbusError(err.code, err.message, id ? { ...err.detail, id } : err.detail).toEnvelope();
}

export class Replies {
  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly usage: UsageLog | undefined,
  ) {}

  /** Publishes a reply, acceptance, postback or error in the client's encoding (postbacks carry Tb-Query-Id); answers the bytes sent. */
  publish(to: string | undefined, enc: Encoding, body: { type: string }, postbackId?: string, chunks = false): number {
    if (!to) return 0;
    const out = enc === 'json' && body.type === GATEWAY_REPLY_TYPE ? { ...body, result: jsonResult((body as GatewayReply).result) } : body;
    let bytes: Uint8Array;
    try {
      bytes = encode(out, enc);
    } catch (e) {
      bytes = encode(new TickbusError(ErrorCode.INTERNAL, `the result cannot be encoded: ${(e as Error).message}`, {}).toEnvelope(), enc);
    }
    try {
      const how = sendReply(this.nc, to, bytes, { enc, chunks, headers: postbackId === undefined ? undefined : { [Header.queryId]: postbackId } });
      if (how === 'too-large') this.logger.warn({ to, bytes: bytes.length, id: postbackId }, 'result too large for one message and the caller does not accept chunks');
    } catch (e) {
      // Closed connection (stopping): the client's own deadline answers it.
      this.logger.debug({ err: (e as Error).message, to }, 'reply not sent');
    }
    return bytes.length;
  }

  /** The usage record of one answered gateway query (no encoding: the reply's size is already known). */
  logUsage(u: Arrival, query: unknown, id: string | undefined, body: { type: string }, bytes: number): void {
    if (!this.usage?.enabled) return;
    const status = statusOf(body);
    const { queryType, table } = queryKind(query);
    const r: UsageRecord = { at: u.at, user: u.user, subject: u.subject, queryType, durationMs: Math.round((performance.now() - u.t0) * 1000) / 1000, bytes, status };
    if (table !== undefined) r.table = table;
    if (status === 'ok') {
      const rows = rowsOf((body as { result?: unknown }).result);
      if (rows !== undefined) r.rows = rows;
    }
    if (id !== undefined) r.id = id;
    this.usage.record(r);
  }
}
