// Pipelined request/reply: many requests in flight on one inbox subscription, matched by a token
// in the reply subject, timed out by one sweeper. nats.js `request()` and `js.publish()` build a
// timer and an error object per call (~15k/s); this reaches ~10x that. Used for JetStream appends
// (a JetStream publish is a request whose reply is the PubAck) and by the Publisher client.
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { decode } from './codec.ts';
import { ErrorCode, TickbusError } from './errors.ts';
import { ChunkCollector, chunkOf } from './reply.ts';

/**
 * One reply that arrived inside a `tickbus.v1.acks` message on `<prefix>.acks` (bus/SUBJECTS.md,
 * "Bulk acks"): only requests whose payload asked for bulk acks get these.
 */
export interface BulkReply {
  bulk: true;
  id: string | null;
  seq: number;
  rows: number;
}

export interface PipelineOptions {
  /** Reply deadline for each request. */
  timeoutMs: number;
  /** Bound on requests in flight; request() rejects with OVERLOADED beyond it. */
  maxInflight: number;
  /** How often the sweeper looks for expired requests. */
  sweepMs?: number;
}

interface Pending {
  /** request(): the promise's (a reply, or a bulk ack); send(): undefined, `cb` answers. */
  resolve?: (m: Msg | BulkReply) => void;
  reject?: (e: Error) => void;
  cb?: ReplyCallback;
  deadline: number;
  subject: string;
  /** A reply arriving in chunks (bus/reply.ts), collected until its last one. */
  chunks?: ChunkCollector;
}

/** A request's answer for `send()`: the reply, or the error request() would reject with. */
export type ReplyCallback = (err: Error | undefined, m: Msg | undefined) => void;

export class Pipeline {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PipelineOptions,
  ) {
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (err) return;
        this.onReply(msg);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), opts.sweepMs ?? Math.max(5, Math.min(100, opts.timeoutMs / 4)));
    this.sweeper.unref();
  }

  get inflight(): number {
    return this.pending.size;
  }

  request(subject: string, data: Uint8Array, headers?: MsgHdrs, timeoutMs = this.opts.timeoutMs): Promise<Msg> {
    return this.requestAny(subject, data, headers, timeoutMs) as Promise<Msg>;
  }

  /** As request(), for payloads that may be answered in bulk: resolves with the Msg or its BulkReply. */
  requestAny(subject: string, data: Uint8Array, headers?: MsgHdrs, timeoutMs = this.opts.timeoutMs): Promise<Msg | BulkReply> {
    if (this.pending.size >= this.opts.maxInflight) {
      return Promise.reject(new TickbusError(ErrorCode.OVERLOADED, `more than ${this.opts.maxInflight} requests in flight`, { subject }));
    }
    const token = this.next++;
    return new Promise<Msg | BulkReply>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs, subject });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers });
      } catch (e) {
        this.pending.delete(token);
        reject(e);
      }
    });
  }

  /**
   * As request(), answered through `cb` instead of a promise (called as the reply is read; no
   * promise per request on hot paths). Never calls `cb` before returning: over maxInflight, or when
   * the publish throws, cb gets the error on the next microtask (a caller that sends again from
   * its callback cannot recurse).
   */
  send(subject: string, data: Uint8Array, timeoutMs: number, cb: ReplyCallback, headers?: MsgHdrs): void {
    if (this.pending.size >= this.opts.maxInflight) {
      const e = new TickbusError(ErrorCode.OVERLOADED, `more than ${this.opts.maxInflight} requests in flight`, { subject });
      queueMicrotask(() => cb(e, undefined));
      return;
    }
    const token = this.next++;
    this.pending.set(token, { cb, deadline: Date.now() + timeoutMs, subject });
    try {
      this.nc.publish(subject, data, { reply: this.prefix + token, headers });
    } catch (e) {
      this.pending.delete(token);
      queueMicrotask(() => cb(e as Error, undefined));
    }
  }

  private onReply(msg: Msg): void {
    const last = msg.subject.slice(this.prefix.length);
    if (last === 'acks') return this.onBulk(msg);
    const token = Number(last);
    const p = this.pending.get(token);
    if (!p) return; // a late reply to a request that already timed out
    if (msg.headers && chunkOf(msg)) {
      // A big reply in chunks (only to requests that sent Tb-Accept-Chunks): answered once whole.
      try {
        const whole = (p.chunks ??= new ChunkCollector()).add(msg);
        if (!whole) return;
        msg = whole;
      } catch (e) {
        this.pending.delete(token);
        Pipeline.fail(p, e as Error);
        return;
      }
    }
    this.pending.delete(token);
    // A 503 status with no payload is the server saying nobody subscribes to the subject.
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      Pipeline.fail(p, new TickbusError(ErrorCode.NO_RESPONDERS, `no responders on ${p.subject}`, { subject: p.subject }));
    } else if (p.cb) p.cb(undefined, msg);
    else p.resolve!(msg);
  }

  private static fail(p: Pending, e: Error): void {
    if (p.cb) p.cb(e, undefined);
    else p.reject!(e);
  }

  /** A tickbus.v1.acks message: [token, id, seq, rows] per request; unknown tokens are late (timed out). */
  private onBulk(msg: Msg): void {
    let acks: unknown;
    try {
      acks = decode<{ acks?: unknown }>(msg.data).acks;
    } catch {
      return; // unreadable: the requests it would answer time out and are retried
    }
    if (!Array.isArray(acks)) return;
    for (const a of acks as unknown[][]) {
      if (!Array.isArray(a)) continue;
      const token = Number(a[0]);
      const p = this.pending.get(token);
      if (!p) continue;
      if (!p.resolve) continue; // send() never asks for bulk acks; its request times out
      this.pending.delete(token);
      p.resolve({ bulk: true, id: typeof a[1] === 'string' ? a[1] : null, seq: Number(a[2]), rows: Number(a[3]) });
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(token);
      Pipeline.fail(p, new TickbusError(ErrorCode.TIMEOUT, `no reply on ${p.subject} within the deadline`, { subject: p.subject }));
    }
  }

  /** Rejects everything in flight and stops listening. */
  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    // Taken first: a callback that sends again must not be failed by this same loop.
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) Pipeline.fail(p, new TickbusError(ErrorCode.NOT_READY, 'pipeline closed', { subject: p.subject }));
  }
}
