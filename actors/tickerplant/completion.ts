// Answers to feeds: the ack of an update once every append holding its rows completed (or the
// error of the first that failed), and the answer to a retried id (a duplicate ack once the first
// is acked, or a wait for it). Bulk acks ride in one message per append completion (acks.ts).
import type { Encoding } from '../../bus/codec.ts';
import type { TickbusError } from '../../bus/errors.ts';
import type { BulkAcks, Replies } from './acks.ts';
import type { FeedIds } from './dedupe.ts';
import type { Waiter } from './feed.ts';

export const ACK_TYPE = 'tickbus.v1.ack';

export class Answers {
  constructor(
    private readonly seen: FeedIds,
    private readonly replies: Replies,
    private readonly acks: BulkAcks,
    private readonly stats: { duplicates: number },
  ) {}

  complete(w: Waiter, err: TickbusError | undefined, seq: number): void {
    if (w.failed) return;
    if (err) {
      w.failed = true;
      this.replies.respond(w.reply, w.encoding, err.toEnvelope());
      if (w.id !== undefined) {
        // Retries of this id waiting on it get the same error; recovery rebuilds the ids from the log.
        for (const other of this.seen.get(w.id)?.waiters ?? []) this.replies.respond(other.reply, other.encoding, err.toEnvelope());
        this.seen.delete(w.id);
      }
      return;
    }
    w.seq = Math.max(w.seq, seq);
    if (--w.remaining > 0) return;
    if (!(w.bulk && w.reply !== undefined && this.acks.add(w.reply, w.id, w.seq, w.rows))) {
      this.replies.respond(w.reply, w.encoding, w.id === undefined ? { type: ACK_TYPE, seq: w.seq, rows: w.rows } : { type: ACK_TYPE, id: w.id, seq: w.seq, rows: w.rows });
    }
    if (w.id !== undefined) {
      const s = this.seen.get(w.id);
      if (s) {
        s.acked = true;
        s.seq = w.seq;
        for (const other of s.waiters ?? []) this.replies.respond(other.reply, other.encoding, { type: ACK_TYPE, id: w.id, seq: w.seq, rows: w.rows, duplicate: true });
        s.waiters = undefined;
      }
    }
  }

  replyIfSeen(id: string, reply: string | undefined, encoding: Encoding): boolean {
    const s = this.seen.get(id);
    if (!s) return false;
    this.stats.duplicates++;
    if (s.acked) this.replies.respond(reply, encoding, { type: ACK_TYPE, id, seq: s.seq, rows: 0, duplicate: true });
    else (s.waiters ??= []).push({ reply, encoding, bulk: false, id, rows: 0, remaining: 1, seq: 0, failed: false });
    return true;
  }
}
