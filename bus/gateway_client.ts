// A TypeScript client of the gateway (bus/SUBJECTS.md, "Gateway"): sync calls (request/reply, many
// in flight on one pipelined inbox), async calls where the client waits for the result on its own
// postback inbox, and async calls with a postback subject the result is published to later.
// Errors come back as TickbusError (the one envelope), with the gateway's code.
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { decode, encode } from './codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from './errors.ts';
import { Pipeline } from './pipeline.ts';
import { acceptChunksHeaders, ChunkCollector, chunkOf } from './reply.ts';
import { Header, subjects } from './subjects.ts';
import { defaultUser } from './usage.ts';

export const GATEWAY_REQUEST_TYPE = 'tickbus.v1.gateway.request' as const;
export const GATEWAY_REPLY_TYPE = 'tickbus.v1.gateway.reply' as const;
export const GATEWAY_ACCEPTED_TYPE = 'tickbus.v1.gateway.accepted' as const;
/** A named-API call (actors/common/runtime.ts serves it on every process). */
export const CALL_TYPE = 'tickbus.v1.call' as const;

/** Process types, or an attribute filter (TorQ's servertype list or attribute dictionary). */
export type GatewayTarget =
  | string
  | string[]
  | { types?: string[]; attributes?: Record<string, unknown>; match?: 'cross' | 'independent'; bestEffort?: boolean };

export interface GatewayCallOptions {
  /** Join function by name; raze when omitted. */
  join?: string;
  /** Higher runs first. */
  priority?: number;
  /** The gateway answers QUERY_TIMEOUT after this long; the client waits a little longer. */
  timeoutMs?: number;
  /** The query id (echoed back); the gateway makes one when omitted. */
  id?: string;
  user?: string;
  /** Cost hint: `heavy` runs in the backends' heavy lane; `small` is believed until that kind is seen slow. */
  cost?: 'small' | 'heavy';
}

export interface GatewayReply<T = unknown> {
  type: typeof GATEWAY_REPLY_TYPE;
  id: string;
  result: T;
  parts: Array<{ name: string; proctype: string; ms: number }>;
  ms: number;
}

export interface GatewayAccepted {
  type: typeof GATEWAY_ACCEPTED_TYPE;
  id: string;
  gateway: string;
  postback: string;
}

export interface GatewayClientOptions {
  /** A gateway's name; any gateway (queue group) when omitted. */
  gateway?: string;
  /** Query timeout when a call gives none. */
  timeoutMs?: number;
  /** How much longer than the query's timeout the client waits for the gateway's own answer. */
  slackMs?: number;
  /** Calls in flight before new ones are refused with OVERLOADED. */
  inflightMax?: number;
  /**
   * Who asks, sent as the Tb-User header on every call (the usage log's user): default
   * $TICKBUS_USER, else the OS user name; '' sends none. Self-declared: see bus/SUBJECTS.md.
   */
  user?: string;
}

interface Waiter {
  chunks?: ChunkCollector;
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class GatewayClient {
  private readonly pipe: Pipeline;
  private readonly prefix = `${createInbox()}.`;
  private readonly sub: Subscription;
  private readonly waiters = new Map<string, Waiter>();
  private next = 0;
  private readonly timeoutMs: number;
  private readonly slackMs: number;
  /** Every request's headers: Tb-Accept-Chunks (big results come in chunks), Tb-User when known. */
  private readonly hdrs: MsgHdrs;

  constructor(
    nc: NatsConnection,
    private readonly o: GatewayClientOptions = {},
  ) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.slackMs = o.slackMs ?? 2_000;
    const user = o.user ?? defaultUser();
    this.hdrs = acceptChunksHeaders();
    // The gateway probes this subject while our queries wait: answered while we are connected,
    // "no responders" once we are gone, and the gateway drops our queries from its queue.
    this.hdrs.set(Header.clientAlive, `${this.prefix}alive`);
    if (user) this.hdrs.set(Header.user, user.replace(/[\r\n]+/g, ' '));
    this.pipe = new Pipeline(nc, { timeoutMs: this.timeoutMs + this.slackMs, maxInflight: o.inflightMax ?? 10_000 });
    // One subscription receives every postback of `async()`: the token after the prefix finds the waiter.
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, m) => {
        if (err) return;
        if (m.subject === `${this.prefix}alive`) {
          m.respond();
          return;
        }
        const w = this.waiters.get(m.subject);
        if (!w) return;
        if (m.headers && chunkOf(m)) {
          // A big result arrives in chunks (bus/reply.ts): answered once whole.
          try {
            const whole = (w.chunks ??= new ChunkCollector()).add(m);
            if (!whole) return;
            m = whole;
          } catch (e) {
            this.waiters.delete(m.subject);
            clearTimeout(w.timer);
            w.reject(e as Error);
            return;
          }
        }
        this.waiters.delete(m.subject);
        clearTimeout(w.timer);
        w.resolve(m);
      },
    });
  }

  /** The request body: the query each backend runs, where, and how. */
  request(query: unknown, target: GatewayTarget | undefined, o: GatewayCallOptions = {}, postback?: string): Record<string, unknown> {
    const body: Record<string, unknown> = { type: GATEWAY_REQUEST_TYPE, query, timeoutMs: o.timeoutMs ?? this.timeoutMs };
    if (target !== undefined) body.target = target;
    if (o.join !== undefined) body.join = o.join;
    if (o.priority !== undefined) body.priority = o.priority;
    if (o.id !== undefined) body.id = o.id;
    if (o.user !== undefined) body.user = o.user;
    if (o.cost !== undefined) body.cost = o.cost;
    if (postback !== undefined) body.postback = postback;
    return body;
  }

  private syncSubject(): string {
    return this.o.gateway ? subjects.gatewaySync(this.o.gateway) : subjects.gatewaySyncAny;
  }

  private asyncSubject(): string {
    return this.o.gateway ? subjects.gatewayAsync(this.o.gateway) : subjects.gatewayAsyncAny;
  }

  private static unwrap<T>(m: Msg): T {
    const v = decode<T>(m.data);
    if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
    return v;
  }

  /** Sync: the reply is the result (or a TickbusError). Many may be in flight. */
  async sync<T = unknown>(query: unknown, target?: GatewayTarget, o: GatewayCallOptions = {}): Promise<GatewayReply<T>> {
    const body = this.request(query, target, o);
    const m = await this.pipe.request(this.syncSubject(), encode(body), this.hdrs, (body.timeoutMs as number) + this.slackMs);
    return GatewayClient.unwrap<GatewayReply<T>>(m);
  }

  /** A named API on the target's processes: `call('vwap', ['AAPL'], 'rdb')`. */
  async call<T = unknown>(api: string, args: unknown[], target: GatewayTarget, o: GatewayCallOptions = {}): Promise<GatewayReply<T>> {
    return await this.sync<T>({ type: CALL_TYPE, api, args }, target, o);
  }

  /** Async with a postback subject: resolves with the acceptance; the result is published there later. */
  async postback(query: unknown, target: GatewayTarget | undefined, subject: string, o: GatewayCallOptions = {}): Promise<GatewayAccepted> {
    const m = await this.pipe.request(this.asyncSubject(), encode(this.request(query, target, o, subject)), this.hdrs, this.slackMs + 5_000);
    return GatewayClient.unwrap<GatewayAccepted>(m);
  }

  /** Async where the client waits: queued like any async query, the result comes back on this client's postback inbox. */
  async async<T = unknown>(query: unknown, target?: GatewayTarget, o: GatewayCallOptions = {}): Promise<GatewayReply<T>> {
    const inbox = `${this.prefix}${++this.next}`;
    const timeoutMs = (o.timeoutMs ?? this.timeoutMs) + this.slackMs;
    const result = new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(inbox);
        reject(new TickbusError(ErrorCode.TIMEOUT, `no result of the async query within ${timeoutMs} ms`, { inbox }));
      }, timeoutMs);
      this.waiters.set(inbox, { resolve, reject, timer });
    });
    try {
      await this.postback(query, target, inbox, o);
    } catch (e) {
      const w = this.waiters.get(inbox);
      if (w) {
        clearTimeout(w.timer);
        this.waiters.delete(inbox);
      }
      throw e;
    }
    return GatewayClient.unwrap<GatewayReply<T>>(await result);
  }

  /** Decodes a message published to a postback subject: the reply, or throws the error. */
  static decodePostback<T = unknown>(m: Msg): GatewayReply<T> {
    return GatewayClient.unwrap<GatewayReply<T>>(m);
  }

  /** The query id a postback message answers. */
  static postbackId(m: Msg): string | undefined {
    return m.headers?.get(Header.queryId) || undefined;
  }

  close(): void {
    this.pipe.close();
    this.sub.unsubscribe();
    for (const [, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new TickbusError(ErrorCode.NOT_READY, 'gateway client closed', {}));
    }
    this.waiters.clear();
  }
}
