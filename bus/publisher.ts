// Publisher: the feed-side client. Sends updates to a tickerplant, optionally coalescing small
// ones per table for up to coalesceMs / coalesceRowsMax, waits for the tickerplant's ack (sent
// only once the rows are durable in the log), and retries transient failures with the same
// message id, so a retry is never appended twice.
import { headers as natsHeaders, nuid, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { writeMap } from './cbor_writer.ts';
import { decode, encode, type Encoding, ContentType } from './codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from './errors.ts';
import { type BulkReply, Pipeline } from './pipeline.ts';
import { Header, subjects } from './subjects.ts';

export interface Ack {
  type: 'tickbus.v1.ack';
  id?: string;
  /** Stream sequence of the (last) log message holding the rows. */
  seq: number;
  rows: number;
  duplicate?: boolean;
}

export type Rows = unknown[][];
export type Cols = Record<string, unknown>;
export type Update = { rows: Rows } | { cols: Cols };

export interface PublisherOptions {
  tp: string;
  /** Hold updates of a table for up to this long to send them as one message (0 = send each). */
  coalesceMs?: number;
  /** ... but send as soon as this many rows are held. */
  coalesceRowsMax?: number;
  /** Deadline for each ack. */
  ackTimeoutMs?: number;
  /** Retries of transient failures (timeout, overloaded, not ready), each with the same id. */
  retriesMax?: number;
  retryDelayMs?: number;
  /** Bound on requests in flight. */
  inflightMax?: number;
  encoding?: Encoding;
  /**
   * Ask the tickerplant for bulk acks (`"ack": "bulk"`, CBOR only; default true): acks of many
   * requests may come as one tickbus.v1.acks message. Same guarantees, fewer messages.
   */
  bulkAcks?: boolean;
}

const UPD = 'tickbus.v1.upd';
const RETRYABLE = new Set<string>([ErrorCode.TIMEOUT, ErrorCode.OVERLOADED, ErrorCode.NOT_READY, ErrorCode.NO_RESPONDERS, ErrorCode.LOG_APPEND_FAILED]);

interface Held {
  form: 'rows' | 'cols';
  items: Update[];
  rows: number;
  waiters: Array<{ resolve: (a: Ack) => void; reject: (e: Error) => void }>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class Publisher {
  private readonly pipeline: Pipeline;
  private readonly prefix = nuid.next();
  private seq = 0;
  private readonly held = new Map<string, Held>();
  /** Update subject per table (bounded: cleared past 1024 tables). */
  private readonly subjects = new Map<string, string>();
  private readonly o: Required<PublisherOptions>;

  constructor(
    private readonly nc: NatsConnection,
    opts: PublisherOptions,
  ) {
    this.o = {
      coalesceMs: 0,
      coalesceRowsMax: 1000,
      ackTimeoutMs: 5_000,
      retriesMax: 10,
      retryDelayMs: 200,
      inflightMax: 4096,
      encoding: 'cbor',
      bulkAcks: true,
      ...opts,
    };
    this.pipeline = new Pipeline(nc, { timeoutMs: this.o.ackTimeoutMs, maxInflight: this.o.inflightMax });
  }

  /** Publishes rows or columns of one table; resolves with the ack once they are durable. */
  publish(table: string, update: Update, id?: string): Promise<Ack> {
    if (this.o.coalesceMs <= 0) return this.send(this.subject(table), update, id ?? this.nextId());
    const form = 'rows' in update ? 'rows' : 'cols';
    let h = this.held.get(table);
    if (h && h.form !== form) {
      this.release(table);
      h = undefined;
    }
    if (!h) {
      h = { form, items: [], rows: 0, waiters: [], timer: undefined };
      this.held.set(table, h);
      h.timer = setTimeout(() => this.release(table), this.o.coalesceMs);
    }
    h.items.push(update);
    h.rows += 'rows' in update ? update.rows.length : lengthOf(Object.values(update.cols)[0]);
    const p = new Promise<Ack>((resolve, reject) => h.waiters.push({ resolve, reject }));
    if (h.rows >= this.o.coalesceRowsMax) this.release(table);
    return p;
  }

  /** Sends every held update now. */
  flush(): void {
    for (const t of [...this.held.keys()]) this.release(t);
  }

  private release(table: string): void {
    const h = this.held.get(table);
    if (!h) return;
    this.held.delete(table);
    clearTimeout(h.timer);
    const body = h.form === 'rows' ? { rows: h.items.flatMap((u) => (u as { rows: Rows }).rows) } : { cols: concatCols(h.items.map((u) => (u as { cols: Cols }).cols)) };
    this.send(this.subject(table), body, this.nextId()).then(
      (a) => h.waiters.forEach((w) => w.resolve(a)),
      (e: Error) => h.waiters.forEach((w) => w.reject(e)),
    );
  }

  /** Publishes a multi-table update in one message (all tables accepted or none). */
  publishMulti(tables: Record<string, Update>, id?: string): Promise<Ack> {
    return this.send(subjects.updMulti(this.o.tp), { tables }, id ?? this.nextId());
  }

  private subject(table: string): string {
    let s = this.subjects.get(table);
    if (s === undefined) {
      if (this.subjects.size >= 1024) this.subjects.clear();
      this.subjects.set(table, (s = subjects.upd(this.o.tp, table)));
    }
    return s;
  }

  private nextId(): string {
    return `${this.prefix}-${++this.seq}`;
  }

  /** Sends `{type, <rows|cols|tables>, id[, ack]}`; `body` holds the one update key. */
  private send(subject: string, body: Update | { tables: Record<string, Update> }, id: string): Promise<Ack> {
    // The id rides in the payload: headers cost a parse on every hop, and CBOR is the default
    // when no Content-Type is given.
    const cbor = this.o.encoding === 'cbor';
    const key = 'rows' in body ? 'rows' : 'cols' in body ? 'cols' : 'tables';
    const v = (body as Record<string, unknown>)[key];
    const data = cbor
      ? (writeMap([['type', UPD], [key, v], ['id', id], ['ack', this.o.bulkAcks ? 'bulk' : undefined]]) ??
        encode(this.o.bulkAcks ? { type: UPD, [key]: v, id, ack: 'bulk' } : { type: UPD, [key]: v, id }))
      : encode({ type: UPD, [key]: v, id }, this.o.encoding);
    let h: ReturnType<typeof natsHeaders> | undefined;
    if (!cbor) {
      h = natsHeaders();
      h.set(Header.contentType, ContentType.json);
    }
    // The first attempt without an async frame (the common case); retries in retry().
    return this.pipeline.requestAny(subject, data, h).then(
      (r) => this.toAck(r, id, subject, data, h, 0),
      (e: unknown) => this.retry(toError(e), subject, data, h, 0),
    );
  }

  private toAck(r: Msg | BulkReply, id: string, subject: string, data: Uint8Array, h: MsgHdrs | undefined, attempt: number): Ack | Promise<Ack> {
    if ('bulk' in r) {
      const a: Ack = { type: 'tickbus.v1.ack', id, seq: r.seq, rows: r.rows };
      return a;
    }
    let reply: Ack | Record<string, unknown>;
    try {
      reply = decode<Ack | Record<string, unknown>>(r.data, this.o.encoding);
    } catch (e) {
      return this.retry(toError(e), subject, data, h, attempt);
    }
    if (!isErrorEnvelope(reply)) return reply as Ack;
    return this.retry(TickbusError.fromEnvelope(reply), subject, data, h, attempt);
  }

  private async retry(err: TickbusError, subject: string, data: Uint8Array, h: MsgHdrs | undefined, attempt: number): Promise<Ack> {
    for (;;) {
      if (!RETRYABLE.has(err.code) || attempt >= this.o.retriesMax) throw err;
      await new Promise((r) => setTimeout(r, this.o.retryDelayMs * Math.min(8, attempt + 1)));
      attempt++;
      try {
        const r = await this.pipeline.requestAny(subject, data, h);
        if ('bulk' in r) return { type: 'tickbus.v1.ack', id: r.id ?? undefined, seq: r.seq, rows: r.rows };
        const reply = decode<Ack | Record<string, unknown>>(r.data, this.o.encoding);
        if (!isErrorEnvelope(reply)) return reply as Ack;
        err = TickbusError.fromEnvelope(reply);
      } catch (e) {
        err = toError(e);
      }
    }
  }

  close(): void {
    this.flush();
    this.pipeline.close();
  }
}

function toError(e: unknown): TickbusError {
  return e instanceof TickbusError ? e : new TickbusError(ErrorCode.INTERNAL, String(e), {});
}

function lengthOf(v: unknown): number {
  if (v && typeof v === 'object' && 'codes' in v) return (v as { codes: ArrayLike<number> }).codes.length;
  return (v as ArrayLike<unknown>)?.length ?? 0;
}

/**
 * Concatenates column sets (the same column names): same-typed typed arrays into one, {dict, codes}
 * symbols with their dictionaries merged, anything else (plain arrays, or parts of different forms)
 * as a plain array.
 */
export function concatCols(parts: Cols[]): Cols {
  if (parts.length === 1) return parts[0]!;
  const out: Cols = {};
  for (const k of Object.keys(parts[0]!)) {
    const vs = parts.map((p) => p[k]);
    const first = vs[0];
    if (vs.every(isSyms)) {
      const dict: string[] = [];
      const index = new Map<string, number>();
      const codes: number[] = [];
      for (const v of vs as Array<{ dict: string[]; codes: ArrayLike<number> }>) {
        const remap = v.dict.map((s) => {
          let c = index.get(s);
          if (c === undefined) index.set(s, (c = dict.push(s) - 1));
          return c;
        });
        for (let i = 0; i < v.codes.length; i++) codes.push(remap[v.codes[i]!]!);
      }
      out[k] = { dict, codes: Uint32Array.from(codes) };
    } else if (ArrayBuffer.isView(first) && vs.every((v) => ArrayBuffer.isView(v) && v.constructor === first.constructor)) {
      const arrs = vs as Float64Array[];
      const total = arrs.reduce((a, x) => a + x.length, 0);
      const r = new (first.constructor as { new (n: number): Float64Array })(total);
      let at = 0;
      for (const a of arrs) {
        r.set(a, at);
        at += a.length;
      }
      out[k] = r;
    } else out[k] = vs.flatMap(plain);
  }
  return out;
}

function isSyms(v: unknown): v is { dict: string[]; codes: ArrayLike<number> } {
  return !!v && typeof v === 'object' && 'codes' in v && 'dict' in v;
}

/** A column part as a plain array (symbols decoded). */
function plain(v: unknown): unknown[] {
  if (isSyms(v)) return Array.from(v.codes, (c) => v.dict[c]);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>);
  return Array.isArray(v) ? v : [v];
}
