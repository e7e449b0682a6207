// Appends to the log stream with pipelined acks, in order. When an append fails (timeout, server
// restart, error reply), new appends queue and the unacked ones are re-sent one at a time, in
// order, with the same Nats-Msg-Id, so JetStream's dedupe turns a re-send of an append that did
// land into a no-op. After appendRetryWindowMs without success the writer gives up: every
// waiting append fails with LOG_APPEND_FAILED (never acknowledged), the writer closes, and
// onFatal tells the tickerplant to recover from the log.
//
// Order is enforced by the server, not hoped for: every append carries
// Nats-Expected-Last-Sequence, the sequence its predecessor gets (the writer is the stream's only
// writer, so append k+1 expects the sequence predicted for append k). When a connection breaks,
// appends written into the dead socket are lost while later ones are re-sent from the client's
// reconnect buffer; without the check those later ones would land first and the log would be out
// of order (a Tb-Count running ahead, then going backwards). With it they are refused ("wrong
// last sequence"), and the retry re-sends everything unacked in order.
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Pipeline } from '../../bus/pipeline.ts';
import { Header } from '../../bus/subjects.ts';

export interface AppendRequest {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  /**
   * Nats-Msg-Id to use instead of the writer's own: a caller that may append the same message
   * again after a restart (a held part of a buffered update, a replayed buffer message) names it,
   * and JetStream's duplicate window turns the second append into a no-op (a duplicate ack).
   */
  msgId?: string;
  /** Called once: with the stream sequence, or with the error that made the append fail. */
  done: (err: TickbusError | undefined, seq: number, duplicate: boolean) => void;
}

interface Entry extends AppendRequest {
  msgId: string;
  hdrs: MsgHdrs;
  acked: boolean;
  seq: number;
  duplicate: boolean;
  attempt: Promise<void>;
  /** The stream sequence this append expects before it (its Nats-Expected-Last-Sequence). */
  expect: number;
}

/** JetStream's error code for an append whose Nats-Expected-Last-Sequence did not match. */
export const WRONG_LAST_SEQUENCE = 10071;

export interface LogWriterOptions {
  appendTimeoutMs: number;
  appendRetryWindowMs: number;
  appendRetryDelayMs: number;
  onFatal: (err: TickbusError) => void;
  logger: Logger;
  /** The stream's last sequence when the writer starts: the first append expects it. */
  lastSeq: number;
  /** Reads the stream's last sequence (used when an append finds another writer's message). */
  streamLastSeq: () => Promise<number>;
}

const decoder = new TextDecoder();

interface PubAck {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

export class LogWriter {
  private readonly inflight: Entry[] = [];
  private readonly queued: Entry[] = [];
  private retrying = false;
  private closed = false;
  private next = 1;
  private readonly bootId: string;
  private drainWaiters: Array<() => void> = [];
  /** The sequence the last appended entry is expected to get (its successor expects it as last). */
  private predicted: number;
  /** The sequence of the last completed (acked) entry. */
  private settledSeq: number;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly opts: LogWriterOptions,
  ) {
    this.bootId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
    this.predicted = opts.lastSeq;
    this.settledSeq = opts.lastSeq;
  }

  /** False once the writer gave up or was closed: appends fail with NOT_READY until a new writer. */
  get open(): boolean {
    return !this.closed;
  }

  /** Appends in flight or waiting. */
  get depth(): number {
    return this.inflight.length + this.queued.length;
  }

  append(req: AppendRequest): void {
    if (this.closed) {
      req.done(new TickbusError(ErrorCode.NOT_READY, 'log writer is closed', {}), 0, false);
      return;
    }
    const msgId = req.msgId ?? `${this.bootId}-${this.next++}`;
    const hdrs = natsHeaders();
    for (const [k, v] of Object.entries(req.headers)) hdrs.set(k, v);
    hdrs.set(Header.msgId, msgId);
    const e: Entry = { ...req, msgId, hdrs, acked: false, seq: 0, duplicate: false, attempt: Promise.resolve(), expect: 0 };
    if (this.retrying) this.queued.push(e);
    else this.send(e);
  }

  /** Resolves when every append made so far is acked (or failed). */
  drained(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private send(e: Entry): void {
    this.expectAfter(e, this.predicted++);
    this.inflight.push(e);
    e.attempt = this.attempt(e).then(
      () => this.settle(),
      (err: TickbusError) => {
        if (!this.retrying) void this.retry(err);
      },
    );
  }

  /** One try: resolves when acked, rejects otherwise. */
  private async attempt(e: Entry): Promise<void> {
    const msg = await this.pipeline.request(e.subject, e.data, e.hdrs, this.opts.appendTimeoutMs).catch((err: unknown) => {
      throw err instanceof TickbusError ? err : new TickbusError(ErrorCode.LOG_APPEND_FAILED, String(err), {});
    });
    let ack: PubAck;
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as PubAck;
    } catch {
      throw new TickbusError(ErrorCode.LOG_APPEND_FAILED, 'unreadable append ack', { subject: e.subject });
    }
    if (ack.error || typeof ack.seq !== 'number') {
      throw new TickbusError(ErrorCode.LOG_APPEND_FAILED, `append refused: ${ack.error?.description ?? 'no sequence in ack'}`, {
        subject: e.subject,
        errCode: ack.error?.err_code,
      });
    }
    if (!ack.duplicate && ack.seq !== e.expect + 1) {
      // Cannot happen while the server enforces the expected sequence; never hide it if it does.
      this.opts.logger.error({ seq: ack.seq, expectedLast: e.expect }, 'log append landed out of the expected order');
    }
    e.acked = true;
    e.seq = ack.seq;
    e.duplicate = ack.duplicate === true;
    // A duplicate (a caller's msgId seen before) did not advance the stream: when nothing was sent
    // after it, the next append expects what it expected; otherwise the later appends are refused
    // (wrong last sequence) and the retry re-sends them in order.
    if (e.duplicate && !this.retrying && this.inflight.at(-1) === e && this.queued.length === 0) this.predicted = e.expect;
  }

  private expectAfter(e: Entry, last: number): void {
    e.expect = last;
    e.hdrs.set(Header.expectedLastSeq, String(last));
  }

  /** Completes acked entries from the head, in order. */
  private settle(): void {
    while (this.inflight.length && this.inflight[0]!.acked) {
      const e = this.inflight.shift()!;
      if (!e.duplicate) this.settledSeq = e.seq;
      e.done(undefined, e.seq, e.duplicate);
    }
    if (this.depth === 0 && this.drainWaiters.length) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  private async retry(first: TickbusError): Promise<void> {
    this.retrying = true;
    const started = Date.now();
    this.opts.logger.warn({ err: first.message, inflight: this.inflight.length }, 'log append failed; re-sending in order');
    let lastErr = first;
    for (;;) {
      // Let every outstanding first attempt finish, then re-send what is still unacked, in order,
      // each expecting the sequence its predecessor actually got.
      await Promise.allSettled(this.inflight.map((e) => e.attempt));
      let ok = true;
      let prev = this.settledSeq;
      for (const e of this.inflight) {
        if (e.acked) {
          if (!e.duplicate) prev = e.seq;
          continue;
        }
        this.expectAfter(e, prev);
        try {
          await (e.attempt = this.attempt(e));
          if (!e.duplicate) prev = e.seq;
        } catch (err) {
          lastErr = err as TickbusError;
          ok = false;
          if (lastErr.detail?.errCode === WRONG_LAST_SEQUENCE) {
            // Everything before e is in the log, so the stream's last message is not ours:
            // another writer appended to this tickerplant's log. Continue after it, loudly.
            const last = await this.opts.streamLastSeq().catch(() => undefined);
            if (last !== undefined && last > prev) {
              this.opts.logger.error({ expected: prev, last }, 'the log has messages this tickerplant did not append; continuing after them');
              this.settledSeq = last;
            }
          }
          break;
        }
      }
      this.settle();
      if (ok) {
        this.predicted = prev;
        break;
      }
      if (Date.now() - started > this.opts.appendRetryWindowMs || this.closed) {
        this.giveUp(lastErr);
        return;
      }
      await new Promise((r) => setTimeout(r, this.opts.appendRetryDelayMs));
    }
    this.retrying = false;
    this.opts.logger.info({ retriedMs: Date.now() - started }, 'log appends recovered');
    const q = this.queued.splice(0);
    for (const e of q) this.send(e);
    this.settle();
  }

  private giveUp(err: TickbusError): void {
    const all = [...this.inflight, ...this.queued];
    this.inflight.length = 0;
    this.queued.length = 0;
    this.retrying = false;
    // Nothing more goes out with expectations that may be wrong: the tickerplant recovers from the
    // log (counts, ids, the last sequence) and starts a new writer.
    this.closed = true;
    const fatal = new TickbusError(ErrorCode.LOG_APPEND_FAILED, `log append failed for ${this.opts.appendRetryWindowMs} ms: ${err.message}`, {
      cause: err.code,
      appends: all.filter((e) => !e.acked).length,
    });
    for (const e of all) {
      if (e.acked) e.done(undefined, e.seq, e.duplicate);
      else e.done(fatal, 0, false);
    }
    this.settle();
    this.opts.onFatal(fatal);
  }

  /** Stops accepting appends; what is in flight still completes. */
  close(): void {
    this.closed = true;
  }
}
