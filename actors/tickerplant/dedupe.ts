// Feed ids the tickerplant remembers for dedupe (decision 4): bounded by dedupeWindowMs and
// dedupeIdsMax, rebuilt after a restart from the Tb-Ids headers of the log (headers only).
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Header } from '../../bus/subjects.ts';
import type { Clock } from '../common/clock.ts';
import type { Waiter } from './feed.ts';
import type { TickerplantSettings } from './settings.ts';

export interface Seen {
  acked: boolean;
  seq: number;
  at: number;
  /** Retries of this id waiting for its first ack (allocated when the first one comes). */
  waiters: Waiter[] | undefined;
}

/** Nats-Msg-Id prefix of a held part of an update: `h.<feed id>`. */
export const HELD_ID_PREFIX = 'h.';

export class FeedIds {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly settings: Pick<TickerplantSettings, 'dedupeWindowMs' | 'dedupeIdsMax'>,
    private readonly clock: Clock,
  ) {}

  get(id: string): Seen | undefined {
    return this.seen.get(id);
  }

  delete(id: string): void {
    this.seen.delete(id);
  }

  remember(id: string): void {
    const now = this.clock.now();
    this.seen.set(id, { acked: false, seq: 0, at: now, waiters: undefined });
    // Forget acked ids past the window or over the bound, oldest first.
    const horizon = now - this.settings.dedupeWindowMs;
    for (const [k, s] of this.seen) {
      if (this.seen.size <= this.settings.dedupeIdsMax && s.at >= horizon) break;
      if (!s.acked) break;
      this.seen.delete(k);
    }
  }

  /**
   * Reads the Tb-Ids headers of the last dedupeWindowMs of the log (headers only), up to the
   * sequence that was last when recovery began. Bounded by `timeoutMs`.
   */
  async restore(nc: NatsConnection, stream: string, lastSeq: number, lastTs: string, timeoutMs: number, onHeld?: (id: string, subject: string, seq: number) => void): Promise<number> {
    this.seen.clear();
    // Stream timestamps are the server's clock, which may differ from this host's (skew, or an
    // injected clock in tests): the window is measured back from the log's last message, so no
    // id inside the server's window is missed whatever this process's clock says.
    if (lastSeq === 0) return 0;
    const sinceMs = Date.parse(lastTs) - this.settings.dedupeWindowMs;
    const consumer = await jetstream(nc).consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(sinceMs).toISOString(),
      headers_only: true,
    });
    let restored = 0;
    const iter = await consumer.consume({ max_messages: 5000 });
    const timer = setTimeout(() => void iter.close(), timeoutMs);
    try {
      for await (const m of iter) {
        // A buffer event's held part of an update (Nats-Msg-Id h.<feed id>, buffer.ts): its retry must not hold it again.
        const msgId = m.headers?.get(Header.msgId);
        if (onHeld && msgId?.startsWith(HELD_ID_PREFIX)) onHeld(msgId.slice(HELD_ID_PREFIX.length), m.subject, m.seq);
        const ids = m.headers?.get(Header.ids);
        if (ids) {
          for (const id of ids.split(',')) {
            this.seen.set(id, { acked: true, seq: m.seq, at: this.clock.now(), waiters: undefined });
            restored++;
          }
        }
        if (m.seq >= lastSeq || m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await iter.close();
    }
    return restored;
  }
}
