// Derived ids: `rtp.<name>.<inputSeq>.<k>`, the k-th publish() of the processor for the input batch
// at log sequence inputSeq. The same input gives the same ids on any run, so a derived update is
// appended at most once: the tickerplant's dedupe drops one still in its window (a retry, an
// update in flight when the RTP died), and the start-up scan below finds those already logged
// earlier today, which the RTP then does not send at all (the window is only minutes long).
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { manager } from '../../bus/streams.ts';
import { dayStartSeq } from '../../bus/subscriber.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';

export function derivedIdPrefix(name: string): string {
  return `rtp.${name}.`;
}

export function derivedId(name: string, inputSeq: number, k: number): string {
  return `${derivedIdPrefix(name)}${inputSeq}.${k}`;
}

/** Ids one input batch may have (`<k>` below this): the key of an id is `inputSeq * K_MAX + k`. */
const K_MAX = 1_000;

/**
 * The derived ids of this RTP already in today's log, as sorted numeric keys (8 bytes an id, a
 * binary search a lookup): held from the start-up scan until the replay is over.
 */
export class LoggedIds {
  private keys = new Float64Array(0);
  private n = 0;
  /** The ids found by the last scan (status). */
  found = 0;

  has(inputSeq: number, k: number): boolean {
    const key = inputSeq * K_MAX + k;
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.keys[mid]!;
      if (v === key) return true;
      if (v < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  get size(): number {
    return this.n;
  }

  /** Drops the ids (the replay is over: no input seen again can match them). */
  clear(): void {
    this.keys = new Float64Array(0);
    this.n = 0;
  }

  private add(key: number): void {
    if (this.n === this.keys.length) {
      const grown = new Float64Array(Math.max(1024, this.keys.length * 2));
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys[this.n++] = key;
  }

  /**
   * Reads the Tb-Ids headers (headers only) of `tp`'s log from its day start to its last message now,
   * keeping this RTP's ids. Bounded by `max` ids and `timeoutMs`; past either, a typed error.
   */
  async scan(nc: NatsConnection, tp: string, name: string, max: number, timeoutMs: number): Promise<number> {
    this.clear();
    this.found = 0;
    const jsm = await manager(nc);
    const from = await dayStartSeq(nc, tp);
    const last = (await jsm.streams.info(streams.log(tp))).state.last_seq;
    if (last < from) return 0;
    const prefix = derivedIdPrefix(name);
    const consumer = await jetstream(nc).consumers.get(streams.log(tp), {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      filter_subjects: subjects.tickAll(tp),
      headers_only: true,
    });
    const iter = await consumer.consume({ max_messages: 5_000 });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void iter.close();
    }, timeoutMs);
    try {
      for await (const m of iter) {
        const h = m.headers?.get(Header.ids);
        if (h && h.includes(prefix)) {
          for (const id of h.split(',')) {
            if (!id.startsWith(prefix)) continue;
            const [seq, k] = id.slice(prefix.length).split('.').map(Number);
            if (!Number.isSafeInteger(seq) || !Number.isInteger(k) || k! < 0 || k! >= K_MAX) continue; // not one of ours
            if (this.n >= max) {
              throw new TickbusError(ErrorCode.BAD_CONFIG, `rtp ${name}: more than replayIdsMax (${max}) derived ids in today's log of ${tp}; raise replayIdsMax`, { setting: 'replayIdsMax', max, tp });
            }
            this.add(seq! * K_MAX + k!);
          }
        }
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await iter.close().catch(() => {});
    }
    if (timedOut) throw new TickbusError(ErrorCode.TIMEOUT, `rtp ${name}: the scan of today's log of ${tp} for derived ids took longer than replayScanTimeoutMs (${timeoutMs} ms)`, { setting: 'replayScanTimeoutMs', tp });
    // Log order is nearly input order (retries may swap a few): one sort, then binary searches.
    this.keys = this.keys.slice(0, this.n).sort();
    this.found = this.n;
    return this.found;
  }
}
