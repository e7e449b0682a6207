// Derived ids: `rtp.<name>.<firstSeq>-<lastSeq>`, one per derived group (actors/rtp/groups.ts):
// the publish() calls of the input batches at log sequences firstSeq..lastSeq, sent as one update.
// Groups are a function of the input log alone (sizes and log timestamps, decision 113), so the same
// input gives the same groups and ids on any run, and a derived update is appended at most once:
// the tickerplant's dedupe drops one still in its window (a retry, a group in flight when the RTP
// died), and the start-up scan below finds those already logged earlier today, which the RTP then
// does not send at all (the window is only minutes long). Ids of the earlier form
// `rtp.<name>.<inputSeq>.<k>` (one publish per input batch) are still read back.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { manager } from '../../bus/streams.ts';
import { dayStartSeq } from '../../bus/subscriber.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';

export function derivedIdPrefix(name: string): string {
  return `rtp.${name}.`;
}

/** The id of a derived group: the input sequences of its first and last publish() calls. */
export function derivedId(name: string, firstSeq: number, lastSeq: number): string {
  return `${derivedIdPrefix(name)}${firstSeq}-${lastSeq}`;
}

/** Ids one input batch may have in the per-batch form (`<k>` below this): the key is `inputSeq * K_MAX + k`. */
const K_MAX = 1_000;

/** A derived id of `name` parsed: a group's input range, or a per-batch id's key; undefined when not one of ours. */
export function parseDerivedId(id: string, prefix: string): { first: number; last: number } | { key: number } | undefined {
  if (!id.startsWith(prefix)) return undefined;
  const rest = id.slice(prefix.length);
  const dash = rest.indexOf('-');
  if (dash > 0) {
    const first = Number(rest.slice(0, dash));
    const last = Number(rest.slice(dash + 1));
    return Number.isSafeInteger(first) && Number.isSafeInteger(last) && first > 0 && first <= last ? { first, last } : undefined;
  }
  const [seq, k] = rest.split('.').map(Number);
  if (!Number.isSafeInteger(seq) || !Number.isInteger(k) || k! < 0 || k! >= K_MAX) return undefined;
  return { key: seq! * K_MAX + k! };
}

/**
 * The derived ids of this RTP already in today's log: group ranges as sorted, merged input
 * sequence intervals (16 bytes a group), per-batch ids as sorted numeric keys (8 bytes an id);
 * a lookup is a binary search. Held from the start-up scan until the replay is over.
 */
export class LoggedIds {
  private keys = new Float64Array(0);
  private n = 0;
  /** Interval i is firsts[i]..lasts[i] (inclusive), sorted, disjoint. */
  private firsts = new Float64Array(0);
  private lasts = new Float64Array(0);
  private r = 0;
  /** The ids found by the last scan (status). */
  found = 0;

  /** Whether the k-th publish() of the input batch at inputSeq is in the log: in a logged group's range, or a logged per-batch id. */
  has(inputSeq: number, k: number): boolean {
    let lo = 0;
    let hi = this.r - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lasts[mid]! < inputSeq) lo = mid + 1;
      else if (this.firsts[mid]! > inputSeq) hi = mid - 1;
      else return true;
    }
    const key = inputSeq * K_MAX + k;
    lo = 0;
    hi = this.n - 1;
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
    return this.n + this.r;
  }

  /** Drops the ids (the replay is over: no input seen again can match them). */
  clear(): void {
    this.keys = new Float64Array(0);
    this.n = 0;
    this.firsts = new Float64Array(0);
    this.lasts = new Float64Array(0);
    this.r = 0;
  }

  private add(key: number): void {
    if (this.n === this.keys.length) this.keys = grown(this.keys);
    this.keys[this.n++] = key;
  }

  private addRange(first: number, last: number): void {
    if (this.r === this.firsts.length) {
      this.firsts = grown(this.firsts);
      this.lasts = grown(this.lasts);
    }
    this.firsts[this.r] = first;
    this.lasts[this.r++] = last;
  }

  /** Sorts the intervals by start and merges overlapping ones (groups of runs with other group settings may overlap). */
  private mergeRanges(): void {
    const order = Array.from({ length: this.r }, (_, i) => i).sort((a, b) => this.firsts[a]! - this.firsts[b]!);
    const f = new Float64Array(this.r);
    const l = new Float64Array(this.r);
    let m = 0;
    for (const i of order) {
      if (m > 0 && this.firsts[i]! <= l[m - 1]! + 1) l[m - 1] = Math.max(l[m - 1]!, this.lasts[i]!);
      else {
        f[m] = this.firsts[i]!;
        l[m++] = this.lasts[i]!;
      }
    }
    this.firsts = f.slice(0, m);
    this.lasts = l.slice(0, m);
    this.r = m;
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
            if (this.record(id, prefix) && this.n + this.r > max) {
              throw new TickbusError(ErrorCode.BAD_CONFIG, `rtp ${name}: more than replayIdsMax (${max}) derived ids in today's log of ${tp}; raise replayIdsMax`, { setting: 'replayIdsMax', max, tp });
            }
          }
        }
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await iter.close().catch(() => {});
    }
    if (timedOut) throw new TickbusError(ErrorCode.TIMEOUT, `rtp ${name}: the scan of today's log of ${tp} for derived ids took longer than replayScanTimeoutMs (${timeoutMs} ms)`, { setting: 'replayScanTimeoutMs', tp });
    return this.seal();
  }

  /** Keeps `id` when it is one of ours (`prefix`: derivedIdPrefix); call seal() once all are in. */
  record(id: string, prefix: string): boolean {
    const parsed = parseDerivedId(id, prefix);
    if (!parsed) return false;
    if ('key' in parsed) this.add(parsed.key);
    else this.addRange(parsed.first, parsed.last);
    return true;
  }

  /** Sorts what record() kept, for the binary searches of has(); returns the ids found. */
  seal(): number {
    // Log order is nearly input order (retries may swap a few): one sort, then binary searches.
    this.keys = this.keys.slice(0, this.n).sort();
    this.found = this.n + this.r;
    this.mergeRanges();
    return this.found;
  }
}

function grown(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(Math.max(1024, a.length * 2));
  b.set(a);
  return b;
}
