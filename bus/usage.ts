// The usage log (TorQ's .usage): one record per query a process answers (gateway queries, RDB and
// HDB queries, named-API calls), kept in the JetStream stream USAGE. The query path only pushes a
// small object onto a bounded in-process queue; a timer encodes the queue as a few batch messages
// (JSON, `tickbus.v1.usage`) and publishes them off the query path. A full queue drops records and
// counts the drops (status `usage.dropped`): the usage log never slows or blocks a query.
import type { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import type { Logger } from './log.ts';
import { isNotFound, manager } from './streams.ts';
import { Header, streams, subjects } from './subjects.ts';

export const USAGE_TYPE = 'tickbus.v1.usage' as const;

/** One answered query. `status` is 'ok' or the error code of the reply. */
export interface UsageRecord {
  /** Arrival, ms since the epoch. */
  at: number;
  /** Who asked: the Tb-User header (self-declared unless the server authenticates; see SUBJECTS.md), else the request's `user`, else ''. */
  user: string;
  /** The subject the query came on. */
  subject: string;
  /** The query's `type` (tickbus.v1.getdata, ...), `call:<api>` for a named API. */
  queryType: string;
  table?: string;
  /** Arrival to reply sent. */
  durationMs: number;
  /** Size of the reply as sent. */
  bytes: number;
  rows?: number;
  status: string;
  /** The gateway's query id (on the gateway, and forwarded to its backends as Tb-Query-Id). */
  id?: string;
}

/** A record as read back: the batch's process added. */
export interface UsageEntry extends UsageRecord {
  proctype: string;
  name: string;
}

/** One USAGE message: a batch of one process's records. */
export interface UsageBatch {
  type: typeof USAGE_TYPE;
  proctype: string;
  name: string;
  records: UsageRecord[];
}

export interface UsageSettings {
  /** false: no records at all (the query path then does nothing). */
  enabled: boolean;
  /** Records waiting to be published; beyond it new records are dropped and counted. */
  queueMax: number;
  /** How often the queue is published. */
  flushMs: number;
  /** Records per USAGE message (a message stays well under the server's 1 MB max_payload). */
  batchRecordsMax: number;
  /** How long USAGE keeps records (stream max_age). */
  maxAgeMs: number;
  /** USAGE's size bound (stream max_bytes, discard old). */
  maxBytes: number;
  /** Publish ack wait per batch message. */
  publishTimeoutMs: number;
  replicas: number;
}

export const defaultUsageSettings: UsageSettings = {
  enabled: true,
  queueMax: 50_000,
  flushMs: 250,
  batchRecordsMax: 1_000,
  maxAgeMs: 7 * 24 * 3_600_000,
  maxBytes: 256 * 1024 * 1024,
  publishTimeoutMs: 5_000,
  replicas: 1,
};

const NS_PER_MS = 1_000_000;

export function usageStreamConfig(s: Pick<UsageSettings, 'maxAgeMs' | 'maxBytes' | 'replicas'>): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.usage,
    subjects: [subjects.usageAll],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: s.maxAgeMs * NS_PER_MS,
    max_bytes: s.maxBytes,
    num_replicas: s.replicas,
  };
}

/** The type of a query for the log: its `type`, or `call:<api>` for a named-API call. */
export function queryKind(q: unknown): { queryType: string; table?: string } {
  if (typeof q !== 'object' || q === null) return { queryType: typeof q };
  const o = q as { type?: unknown; api?: unknown; table?: unknown };
  const type = typeof o.type === 'string' ? o.type : '?';
  const queryType = type === 'tickbus.v1.call' && typeof o.api === 'string' ? `call:${o.api}` : type;
  return typeof o.table === 'string' ? { queryType, table: o.table } : { queryType };
}

/** Rows of a reply value: a query result's `n`, a list's length, else undefined. */
export function rowsOf(v: unknown): number | undefined {
  if (Array.isArray(v)) return v.length;
  if (typeof v === 'object' && v !== null) {
    const n = (v as { n?: unknown }).n;
    if (typeof n === 'number') return n;
    const r = (v as { result?: unknown }).result;
    if (r !== undefined && r !== v) return rowsOf(r);
  }
  return undefined;
}

/** The user a request declares: the Tb-User header, else the fallback (a gateway request's `user`). */
export function userOf(h: MsgHdrs | undefined, fallback = ''): string {
  return h?.get(Header.user) || fallback;
}

/** The default user a client declares: $TICKBUS_USER, else the OS user name. */
export function defaultUser(): string {
  if (process.env.TICKBUS_USER) return process.env.TICKBUS_USER;
  return process.env.USER ?? process.env.LOGNAME ?? process.env.USERNAME ?? '';
}

export class UsageLog {
  private queue: UsageRecord[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private js: JetStreamClient | undefined;
  private streamReady = false;
  private closed = false;
  private readonly s: UsageSettings;
  private readonly subject: string;
  readonly stats = { recorded: 0, published: 0, dropped: 0, failed: 0, messages: 0 };

  constructor(
    private readonly nc: NatsConnection,
    readonly proctype: string,
    readonly name: string,
    settings: Partial<UsageSettings> = {},
    private readonly logger?: Logger,
  ) {
    this.s = { ...defaultUsageSettings, ...settings };
    this.subject = subjects.usage(proctype, name);
  }

  get enabled(): boolean {
    return this.s.enabled && !this.closed;
  }

  /** Queues one record (O(1), no encoding); dropped and counted when the queue is full. */
  record(r: UsageRecord): void {
    if (!this.s.enabled || this.closed) return;
    if (this.queue.length >= this.s.queueMax) {
      this.stats.dropped++;
      return;
    }
    this.queue.push(r);
    this.stats.recorded++;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.s.flushMs);
      this.timer.unref?.();
    }
  }

  status(): Record<string, number> {
    return { ...this.stats, queued: this.queue.length };
  }

  /** Publishes what is queued; one flush at a time (a flush waits for the previous one). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.publishQueued());
    return this.flushing;
  }

  private async ensureStream(): Promise<void> {
    if (this.streamReady) return;
    const jsm = await manager(this.nc, this.s.publishTimeoutMs);
    try {
      await jsm.streams.info(streams.usage);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        await jsm.streams.add(usageStreamConfig(this.s));
      } catch (e2) {
        // Another process created it first (with its own bounds): use theirs.
        if (!/already in use/i.test(String((e2 as Error).message))) throw e2;
      }
    }
    this.js = jetstream(this.nc, { timeout: this.s.publishTimeoutMs });
    this.streamReady = true;
  }

  private async publishQueued(): Promise<void> {
    if (this.queue.length === 0) return;
    const records = this.queue;
    this.queue = [];
    try {
      await this.ensureStream();
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < records.length; i += this.s.batchRecordsMax) {
        const batch: UsageBatch = { type: USAGE_TYPE, proctype: this.proctype, name: this.name, records: records.slice(i, i + this.s.batchRecordsMax) };
        const n = batch.records.length;
        sends.push(
          this.js!.publish(this.subject, JSON.stringify(batch)).then(
            () => ((this.stats.published += n), this.stats.messages++),
            (e: Error) => {
              this.stats.failed += n;
              this.logger?.debug({ err: e.message, records: n }, 'usage batch not stored');
            },
          ),
        );
      }
      await Promise.all(sends);
    } catch (e) {
      this.stats.failed += records.length;
      this.logger?.debug({ err: (e as Error).message, records: records.length }, 'usage stream unavailable; records dropped');
    }
  }

  /**
   * Publishes what is left, then refuses new records. Waits at most closeWaitMs (a stopping
   * process with the server away must not hang on its usage log); what is unpublished then is lost.
   */
  async close(closeWaitMs = 2_000): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, closeWaitMs)))]);
    clearTimeout(timer);
    this.closed = true;
  }
}

export interface UsageReadOptions {
  /** Records at or after this time (ms since the epoch). */
  sinceMs: number;
  /** Stop reading after this long (a bound on a huge stream). */
  timeoutMs?: number;
  /** Messages read at most. */
  messagesMax?: number;
}

/** Reads USAGE from sinceMs to the stream's last message at the time of the call (an ordered consumer). */
export async function readUsage(nc: NatsConnection, o: UsageReadOptions): Promise<{ entries: UsageEntry[]; truncated: boolean }> {
  const jsm = await manager(nc);
  let last: number;
  try {
    const info = await jsm.streams.info(streams.usage);
    last = info.state.last_seq;
    if (info.state.messages === 0) return { entries: [], truncated: false };
  } catch (e) {
    if (isNotFound(e)) return { entries: [], truncated: false };
    throw e;
  }
  const js = jetstream(nc);
  const consumer = await js.consumers.get(streams.usage, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(o.sinceMs).toISOString() });
  const entries: UsageEntry[] = [];
  if ((await consumer.info(true)).num_pending === 0) return { entries, truncated: false };
  const messagesMax = o.messagesMax ?? 100_000;
  const messages = await consumer.consume({ max_messages: 256, expires: 2_000 });
  let truncated = false;
  const timer = setTimeout(() => ((truncated = true), void messages.close()), o.timeoutMs ?? 30_000);
  let read = 0;
  for await (const m of messages) {
    read++;
    try {
      const b = m.json<UsageBatch>();
      if (b.type === USAGE_TYPE && Array.isArray(b.records)) for (const r of b.records) if (r.at >= o.sinceMs) entries.push({ ...r, proctype: b.proctype, name: b.name });
    } catch {
      // not a usage batch: skipped
    }
    if (m.seq >= last) break;
    if (read >= messagesMax) {
      truncated = true;
      break;
    }
  }
  clearTimeout(timer);
  await messages.close().catch(() => {});
  return { entries, truncated };
}

/** The error code of a reply value, or 'ok'. */
export function statusOf(reply: unknown): string {
  if (typeof reply === 'object' && reply !== null && (reply as { type?: unknown }).type === 'tickbus.v1.error') return String((reply as { code?: unknown }).code ?? 'INTERNAL');
  return 'ok';
}

/**
 * Records one answered request on a process's query subject: `at` and `t0` (performance.now())
 * taken on arrival, `reply` the value sent and `bytes` its encoded size. Cheap: property reads and
 * one push; nothing is encoded here.
 */
export function recordReply(log: UsageLog | undefined, m: { subject: string; headers?: MsgHdrs }, at: number, t0: number, request: unknown, reply: unknown, bytes: number): void {
  if (!log?.enabled) return;
  const status = statusOf(reply);
  const { queryType, table } = queryKind(request);
  const r: UsageRecord = { at, user: userOf(m.headers), subject: m.subject, queryType, durationMs: Math.round((performance.now() - t0) * 1000) / 1000, bytes, status };
  if (table !== undefined) r.table = table;
  if (status === 'ok') {
    const rows = rowsOf(reply);
    if (rows !== undefined) r.rows = rows;
  }
  const id = m.headers?.get(Header.queryId);
  if (id) r.id = id;
  log.record(r);
}
