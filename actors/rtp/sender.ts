// Sending derived groups (groups.ts) to the tickerplant: one update per group with its id, acks
// pipelined (a bounded number in flight, the log loop waits past it), and the check behind the
// live idle flush: whether the input log holds anything after the group's last input.
import type { NatsConnection } from '@nats-io/nats-core';
import { toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { streams, subjects } from '../../bus/subjects.ts';
import type { ClosedGroup } from './groups.ts';
import { derivedId } from './published.ts';

/** Refusals logged one by one; past it, every 1000th (all are counted in status). */
const ERRORS_LOGGED = 10;

export interface SendCounts {
  /** Derived updates (publish() calls) acked by the tickerplant. */
  derivedAcked: number;
  /** Derived groups (one update to the tickerplant each) acked. */
  groupsAcked: number;
  /** Derived updates the tickerplant refused (after the publisher's retries), with their group. */
  publishErrors: number;
}

export class DerivedSender {
  readonly inflight = new Set<Promise<void>>();
  private readonly publisher: Publisher;

  constructor(
    nc: NatsConnection,
    private readonly name: string,
    tp: string,
    opts: { inflightMax: number; timeoutMs: number },
    private readonly counts: SendCounts,
    private readonly logger: Logger,
  ) {
    this.publisher = new Publisher(nc, { tp, ackTimeoutMs: opts.timeoutMs, inflightMax: opts.inflightMax + 64 });
  }

  /** Sends a closed group (nothing when all of it was already in the log); returns at once. */
  send(g: ClosedGroup | undefined): void {
    if (!g || g.updates === 0) return;
    const id = derivedId(this.name, g.first, g.last);
    const [only] = g.tables.size === 1 ? g.tables : [];
    const sent = only ? this.publisher.publish(only[0], only[1], id) : this.publisher.publishMulti(Object.fromEntries(g.tables), id);
    const done = sent.then(
      () => {
        this.counts.derivedAcked += g.updates;
        this.counts.groupsAcked++;
      },
      (err: unknown) => {
        this.counts.publishErrors += g.updates;
        const t = toTickbusError(err);
        if (this.counts.publishErrors <= ERRORS_LOGGED || this.counts.publishErrors % 1000 === 0) {
          this.logger.error({ id, tables: [...g.tables.keys()], updates: g.updates, code: t.code, err: t.message, errors: this.counts.publishErrors }, 'rtp derived update refused');
        }
      },
    );
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  /** Waits (bounded) for the groups in flight. */
  async settle(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all([...this.inflight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  close(): void {
    this.publisher.close();
  }
}

/**
 * Whether `tp`'s log holds a message after `seq` on a subject the RTP reads (its tables, the
 * multi-table subject): one read of the last message per subject (none: null). An error counts as
 * yes (the idle flush then waits for the next input, or tries again).
 */
export async function inputAfter(nc: NatsConnection, tp: string, tables: readonly string[], seq: number): Promise<boolean> {
  try {
    const jsm = await manager(nc);
    const stream = streams.log(tp);
    const lasts = await Promise.all([...tables.map((t) => subjects.tick(tp, t)), subjects.multi(tp)].map((subj) => jsm.streams.getMessage(stream, { last_by_subj: subj }).then((m) => m?.seq ?? 0)));
    return lasts.some((l) => l > seq);
  } catch {
    return true;
  }
}
