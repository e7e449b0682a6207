// Bulk acks: a feed that sends `"ack": "bulk"` in a CBOR update lets the tickerplant answer many
// of its requests with one message (bus/SUBJECTS.md, "Bulk acks"). The acks of one append's
// completion that share a reply prefix (the reply subject without its last token) go out as one
// tickbus.v1.acks message on `<prefix>.acks`, each entry naming the request by that last token.
// Nothing waits here: the list is filled and sent within the same completion callback, so a bulk
// ack is never later than the individual ack it replaces; errors and duplicates stay individual.
import { headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { encode, type Encoding } from '../../bus/codec.ts';
import type { TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Pipeline } from '../../bus/pipeline.ts';
import { Header, subjects } from '../../bus/subjects.ts';

export const ACKS_TYPE = 'tickbus.v1.acks';
/** Most acks in one tickbus.v1.acks message (each ~40 bytes: far below the server's max_payload). */
export const bulkAcksMax = 4096;

/** One acknowledged request: [reply token, feed id or null, stream sequence, rows]. */
export type BulkAckEntry = [string, string | null, number, number];

export class BulkAcks {
  private readonly byPrefix = new Map<string, BulkAckEntry[]>();

  constructor(private readonly send: (subject: string, data: Uint8Array) => void) {}

  /** Queues the ack of request `reply`; false when the reply subject has no prefix to bulk on. */
  add(reply: string, id: string | undefined, seq: number, rows: number): boolean {
    const dot = reply.lastIndexOf('.');
    if (dot <= 0 || dot === reply.length - 1) return false;
    const prefix = reply.slice(0, dot);
    let list = this.byPrefix.get(prefix);
    if (!list) this.byPrefix.set(prefix, (list = []));
    list.push([reply.slice(dot + 1), id ?? null, seq, rows]);
    if (list.length >= bulkAcksMax) {
      this.byPrefix.delete(prefix);
      this.sendList(prefix, list);
    }
    return true;
  }

  /** Sends everything queued (called at the end of each append completion). */
  flush(): void {
    if (this.byPrefix.size === 0) return;
    for (const [prefix, list] of this.byPrefix) this.sendList(prefix, list);
    this.byPrefix.clear();
  }

  private sendList(prefix: string, acks: BulkAckEntry[]): void {
    this.send(`${prefix}.acks`, encode({ type: ACKS_TYPE, acks }));
  }
}

/** Replies to feeds, and the error stream for rejected updates. */
export class Replies {
  private readonly jsonHeaders = (() => {
    const h = natsHeaders();
    h.set(Header.contentType, 'application/json');
    return h;
  })();

  constructor(
    private readonly nc: NatsConnection,
    private readonly pipeline: Pipeline,
    private readonly tp: string,
    private readonly logger: Logger,
    private readonly stats: { rejected: number },
  ) {}

  respond(reply: string | undefined, encoding: Encoding, body: unknown): void {
    if (!reply) return;
    // A reply without Content-Type is CBOR (the protocol's default); JSON replies say so.
    this.publish(reply, encode(body, encoding), encoding === 'json');
  }

  publish(subject: string, data: Uint8Array, json = false): void {
    try {
      this.nc.publish(subject, data, json ? { headers: this.jsonHeaders } : undefined);
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'cannot send reply');
    }
  }

  /** Keeps a rejected message in TICKERR_<tp> (TorQ's error mode); best effort, never blocks. */
  reject(msg: Msg, err: TickbusError, table: string): void {
    this.stats.rejected++;
    keepRejected(this.pipeline, this.tp, table, msg.data, { code: err.code, subject: msg.subject, message: err.message, contentType: msg.headers?.get(Header.contentType) }, this.logger);
    this.logger.warn({ code: err.code, subject: msg.subject, reason: err.message }, 'update rejected');
  }
}

/** What a kept rejected message says about itself (headers Tb-Error-Code, Tb-Error-Subject, Tb-Error-Message). */
export interface RejectedInfo {
  code: string;
  /** The subject the message came on. */
  subject: string;
  message: string;
  contentType?: string;
  /** More headers (a chained tickerplant's Tb-Parent-Seq); a Nats-Msg-Id here dedupes a re-kept message. */
  extra?: Record<string, string>;
}

/**
 * Keeps a rejected message on `tickerr.<tp>.<table>` (stream TICKERR_<tp>; a table name that is not
 * one becomes `_unknown`): the tickerplant's refused updates and a chained tickerplant's parent
 * messages it cannot forward. Best effort: a failure is logged, never thrown, never waited for.
 */
export function keepRejected(pipeline: Pipeline, tp: string, table: string, data: Uint8Array, info: RejectedInfo, logger: Logger): void {
  try {
    const h = natsHeaders();
    // Header values may not hold CR/LF (an error message can quote the bad payload): one line each.
    h.set(Header.errorCode, headerValue(info.code));
    h.set(Header.errorSubject, headerValue(info.subject));
    h.set('Tb-Error-Message', headerValue(info.message.slice(0, 512)));
    if (info.contentType) h.set(Header.contentType, headerValue(info.contentType));
    for (const [k, v] of Object.entries(info.extra ?? {})) h.set(k, headerValue(v));
    const safeTable = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(table) ? table : '_unknown';
    pipeline.request(subjects.rejected(tp, safeTable), data, h).catch((e: Error) => {
      logger.warn({ err: e.message }, 'cannot keep a rejected message in the error stream');
    });
  } catch (e) {
    // Keeping the message is best effort; it must never take the process down.
    logger.warn({ err: (e as Error).message }, 'cannot keep a rejected message in the error stream');
  }
}

/** A header value on one line (NATS refuses CR and LF in header values). */
function headerValue(v: string): string {
  return v.replace(/[\r\n]+/g, ' ');
}
