// The process runtime: connects to NATS, registers the process in the discovery bucket, beats a
// heartbeat, answers ctl.<name>.status / ctl.<name>.stop, serves named APIs (PyKX's
// register_api) on the process's query subject, and stops everything in order.
import { hostname } from 'node:os';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import { decode, encode, encodingOf, type Encoding } from '../../bus/codec.ts';
import { connectBus } from '../../bus/connection.ts';
import { acceptsChunks, sendReply } from '../../bus/reply.ts';
import { CALL_TYPE } from '../../bus/gateway_client.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { LogForwarder } from '../../bus/log_forward.ts';
import { Header, kv, subjects } from '../../bus/subjects.ts';
import type { Clock } from './clock.ts';
import { RESULT_TYPE, resultToJson, type QueryResult } from '../../storage/query/result.ts';
import { recordReply, UsageLog, type UsageSettings } from '../../bus/usage.ts';

export interface RunningProcess {
  /** Resolves once the process does its job (TP recovered, RDB caught up). */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
  /**
   * Attributes that change while the process runs (dates held, tables): polled once per heartbeat
   * and re-registered when they differ, so discovery watchers (the gateway) see them.
   */
  attributes?(): Record<string, unknown>;
  /**
   * True when the process subscribes to q.<type>.<name> and q.<type> itself (the RDB) and hands
   * `tickbus.v1.call` messages to ProcessContext.apis; otherwise the runtime serves those subjects.
   */
  ownsQuerySubjects?: boolean;
  /** Answers a request on the query subject that is not a named-API call (when the runtime serves it). */
  query?(request: unknown): unknown;
}

export interface ProcessInfo {
  type: 'tickbus.v1.proc';
  name: string;
  proctype: string;
  host: string;
  pid: number;
  subjects: string[];
  startedAt: string;
  attributes: Record<string, unknown>;
  /** The heartbeat period, so watchers can tell a missed beat from a slow one. */
  heartbeatMs?: number;
  /** Named APIs callable with tickbus.v1.call on the process's query subject. */
  apis?: string[];
}

/** What a process gets from the runtime when it starts. */
export interface ProcessContext {
  proctype: string;
  name: string;
  apis: ApiTable;
  /** Re-register now (attributes changed at a moment that matters, e.g. the RDB's end of day). */
  refreshAttributes: () => void;
  /** The clock the process runs on (tests inject one; absent = the system clock). */
  clock?: Clock;
  /** The usage log: a process serving its own query subjects records each answer here. */
  usage?: UsageLog;
}

export interface RuntimeOptions {
  proctype: string;
  name: string;
  servers: string | string[];
  logger: Logger;
  /** Heartbeat period. */
  heartbeatMs?: number;
  /** Registry bucket replicas (3 on a cluster). */
  registryReplicas?: number;
  attributes?: Record<string, unknown>;
  subjects?: string[];
  /** Injected time for the process (its day, stamps and timers); default the system clock. */
  clock?: Clock;
  start: (nc: NatsConnection, ctx: ProcessContext) => Promise<RunningProcess>;
  /**
   * The logger's forwarder (createLogger's third argument): attached once connected, so the
   * process's warn/error lines go out on log.<proctype>.<name>; detached before the connection drains.
   */
  logForwarder?: LogForwarder;
  /** The usage log's settings (bus/usage.ts; `usage` in the process's config). */
  usage?: Partial<UsageSettings>;
}

// ---------------------------------------------------------------------------------------------
// Named APIs

export { CALL_TYPE };

/** A named-API call: `{type: 'tickbus.v1.call', api: 'vwap', args: ['AAPL']}`; args are positional. */
export interface ApiCall {
  type: typeof CALL_TYPE;
  api: string;
  args?: unknown[];
}

export type ApiFn = (...args: any[]) => unknown;

/** Bounds on a call (a call is untrusted input). */
export const apiLimits = {
  /** Positional arguments one call may pass. */
  argsMax: 64,
  /** APIs one process may register. */
  apisMax: 1_024,
} as const;

const API_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Checks an API name (BAD_CONFIG naming it): a letter or _, then letters, digits, _ . -, at most 64. */
export function assertApiName(name: string): void {
  if (!API_NAME_RE.test(name)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `API name ${JSON.stringify(name)} is invalid`, { name, rule: API_NAME_RE.source });
  }
}

export function isCall(v: unknown): v is ApiCall {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === CALL_TYPE;
}

/** A process's named APIs: register by name, call by name, serve calls from the bus. */
export class ApiTable {
  private readonly fns = new Map<string, { fn: ApiFn; description: string }>();
  /** Called after each registration (the runtime re-registers the process to list its APIs). */
  onChange: (() => void) | undefined;
  /** Where served calls are recorded (set by the runtime). */
  usage: UsageLog | undefined;

  register(name: string, fn: ApiFn, description = ''): void {
    assertApiName(name);
    if (!this.fns.has(name) && this.fns.size >= apiLimits.apisMax) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `at most ${apiLimits.apisMax} APIs per process`, { name });
    }
    this.fns.set(name, { fn, description });
    this.onChange?.();
  }

  names(): string[] {
    return [...this.fns.keys()].sort();
  }

  describe(): Array<{ api: string; description: string; params: number }> {
    return this.names().map((api) => ({ api, description: this.fns.get(api)!.description, params: this.fns.get(api)!.fn.length }));
  }

  /** Runs a call; expected failures are TickbusErrors (UNKNOWN_API, BAD_QUERY, API_FAILED). */
  async call(request: unknown): Promise<unknown> {
    if (!isCall(request)) throw new TickbusError(ErrorCode.BAD_TYPE, `a named-API call has type ${CALL_TYPE}`, {});
    const { api, args = [] } = request;
    if (typeof api !== 'string') throw new TickbusError(ErrorCode.BAD_QUERY, 'api: the API name is required', { param: 'api' });
    if (!Array.isArray(args)) throw new TickbusError(ErrorCode.BAD_QUERY, 'args: must be a list of positional arguments', { param: 'args' });
    if (args.length > apiLimits.argsMax) throw new TickbusError(ErrorCode.BAD_QUERY, `args: at most ${apiLimits.argsMax}`, { param: 'args' });
    const entry = this.fns.get(api);
    if (!entry) throw new TickbusError(ErrorCode.UNKNOWN_API, `no API ${api} on this process`, { api, apis: this.names() });
    try {
      return await entry.fn(...args);
    } catch (e) {
      if (e instanceof TickbusError) throw e;
      throw new TickbusError(ErrorCode.API_FAILED, `API ${api} failed: ${(e as Error)?.message ?? String(e)}`, { api }, { cause: e });
    }
  }

  /** Answers one call that arrived on a query subject, in the request's encoding. */
  serve(nc: NatsConnection, m: Msg, request: unknown, enc: Encoding, at = Date.now(), t0 = performance.now()): void {
    const done = (v: unknown) => recordReply(this.usage, m, at, t0, request, v, respond(nc, m, v, enc));
    void this.call(request).then(done, (e) => done(toTickbusError(e).toEnvelope()));
  }
}

/** The body of a reply in an encoding: a query result becomes JSON-friendly columns for JSON. */
export function replyBody(value: unknown, enc: Encoding): unknown {
  if (enc === 'json' && typeof value === 'object' && value !== null && (value as { type?: unknown }).type === RESULT_TYPE) {
    return resultToJson(value as QueryResult);
  }
  return value;
}

/**
 * Replies to a request in its encoding (JSON replies carry their Content-Type); big replies go in
 * chunks to callers that accept them (bus/reply.ts). Answers the bytes sent, for the usage log.
 */
export function respond(nc: NatsConnection, m: Msg, value: unknown, enc: Encoding): number {
  if (!m.reply) return 0;
  let bytes: Uint8Array;
  try {
    bytes = encode(replyBody(value, enc), enc);
  } catch (e) {
    bytes = encode(new TickbusError(ErrorCode.INTERNAL, `reply cannot be encoded: ${(e as Error).message}`, {}).toEnvelope(), enc);
  }
  try {
    sendReply(nc, m.reply, bytes, { enc, chunks: acceptsChunks(m) });
  } catch {
    // The connection closed while the call ran (the process is stopping): the caller times out.
  }
  return bytes.length;
}

// ---------------------------------------------------------------------------------------------

export class ProcessRuntime {
  private nc!: NatsConnection;
  private proc!: RunningProcess;
  private registry: KV | undefined;
  private hbTimer: ReturnType<typeof setInterval> | undefined;
  private ctlSubs: Subscription[] = [];
  private querySubs: Subscription[] = [];
  private stopping: Promise<void> | undefined;
  private hbSeq = 0;
  /** ctl messages pushed from a stream (reply `$JS.ACK...`) and ignored; in the status body when any. */
  private ctlRefused = 0;
  private info: ProcessInfo | undefined;
  /** The registry entry last written, to re-register only on change. */
  private registered = '';
  private registering: Promise<void> = Promise.resolve();
  private registerQueued = false;
  /** Named APIs; register before or after start. */
  readonly apis = new ApiTable();
  /** The usage log (created on connect). */
  private usage: UsageLog | undefined;
  /** Resolves when the process has stopped (by ctl.stop, a signal or stop()). */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;

  constructor(private readonly o: RuntimeOptions) {
    this.stopped = new Promise((r) => (this.markStopped = r));
    this.apis.register('apis', () => this.apis.describe(), 'the named APIs of this process (TorQ .api.p)');
  }

  get connection(): NatsConnection {
    return this.nc;
  }

  /** Registers a named API, callable as {type: 'tickbus.v1.call', api: name, args} (PyKX register_api). */
  registerApi(name: string, fn: ApiFn, description = ''): this {
    this.apis.register(name, fn, description);
    return this;
  }

  private heartbeatMs(): number {
    return this.o.heartbeatMs ?? 1_000;
  }

  async start(readyTimeoutMs = 60_000): Promise<void> {
    const { o } = this;
    this.nc = await connectBus({ servers: o.servers, name: `${o.proctype}.${o.name}`, logger: o.logger });
    o.logForwarder?.attach(this.nc, o.proctype, o.name);
    this.usage = new UsageLog(this.nc, o.proctype, o.name, o.usage, o.logger);
    this.apis.usage = this.usage;
    this.proc = await o.start(this.nc, { proctype: o.proctype, name: o.name, apis: this.apis, refreshAttributes: () => void this.register(), clock: o.clock, usage: this.usage });
    await this.proc.ready(readyTimeoutMs);
    // Serve the query subjects before registering: a watcher that sees the registration may send
    // at once.
    const querySubjects = [subjects.query(o.proctype, o.name), subjects.queryGroup(o.proctype)];
    if (!this.proc.ownsQuerySubjects) {
      this.querySubs = [
        this.nc.subscribe(querySubjects[0]!, { callback: (_e, m) => this.serveQuery(m) }),
        this.nc.subscribe(querySubjects[1]!, { queue: o.proctype, callback: (_e, m) => this.serveQuery(m) }),
      ];
    }
    this.info = {
      type: 'tickbus.v1.proc',
      name: o.name,
      proctype: o.proctype,
      host: hostname(),
      pid: process.pid,
      subjects: [...new Set([...(o.subjects ?? []), ...querySubjects])],
      startedAt: new Date().toISOString(),
      attributes: o.attributes ?? {},
      heartbeatMs: this.heartbeatMs(),
      apis: this.apis.names(),
    };
    try {
      this.registry = await new Kvm(this.nc).create(kv.registryBucket, { history: 1, replicas: o.registryReplicas ?? 1 });
      await this.register();
    } catch (e) {
      o.logger.warn({ err: (e as Error).message }, 'cannot register in the discovery bucket');
    }
    this.apis.onChange = () => void this.register();
    const enc = new TextEncoder();
    const reply = (subject: string, fn: () => Promise<unknown> | unknown) =>
      this.nc.subscribe(subject, {
        callback: (_e, m) => {
          // A message the server pushed from a stream (a JetStream consumer whose deliver subject
          // names this one; its reply subject is `$JS.ACK...`) is no request from anyone: never
          // act on it (docs/security.md, decision 62).
          if (m.reply?.startsWith('$JS.')) return void this.ctlRefused++;
          void (async () => {
            try {
              m.respond(enc.encode(JSON.stringify(await fn())));
            } catch (e) {
              m.respond(enc.encode(JSON.stringify({ type: 'tickbus.v1.error', code: 'INTERNAL', message: (e as Error).message, detail: {} })));
            }
          })();
        },
      });
    this.ctlSubs = [
      reply(subjects.ctl(o.name, 'status'), () => this.statusBody()),
      reply(subjects.ctl(o.name, 'stop'), () => {
        setTimeout(() => void this.stop(), 10);
        return { type: 'tickbus.v1.ok', name: o.name };
      }),
    ];
    this.hbTimer = setInterval(() => {
      try {
        this.nc.publish(subjects.heartbeat(o.proctype, o.name), enc.encode(JSON.stringify({ ...this.statusBody(), type: 'tickbus.v1.hb', seq: ++this.hbSeq })));
      } catch {
        // disconnected: the heartbeat gap is the signal
      }
      void this.register();
    }, this.heartbeatMs());
    this.hbTimer.unref();
    o.logger.info({ proctype: o.proctype, name: o.name }, 'process ready');
  }

  /**
   * Writes the registry entry when it changed (attributes, APIs). One write at a time, and at most
   * one more queued behind it: during an outage the beats do not pile up writes.
   */
  private register(): Promise<void> {
    if (this.registerQueued) return this.registering;
    this.registerQueued = true;
    this.registering = this.registering.then(async () => {
      this.registerQueued = false;
      if (!this.registry || !this.info || this.stopping) return;
      let live: Record<string, unknown> = {};
      try {
        live = this.proc.attributes?.() ?? {};
      } catch (e) {
        this.o.logger.warn({ err: (e as Error).message }, 'attributes() failed');
      }
      const info: ProcessInfo = { ...this.info, attributes: { ...this.info.attributes, ...live }, apis: this.apis.names() };
      const body = JSON.stringify(info);
      if (body === this.registered) return;
      try {
        await this.registry.put(kv.registryKey(this.o.proctype, this.o.name), body);
        this.registered = body;
      } catch (e) {
        this.o.logger.warn({ err: (e as Error).message }, 'cannot update the registry entry');
      }
    });
    return this.registering;
  }

  /** A request on q.<type>.<name> or q.<type>: named-API calls, else the process's own handler. */
  private serveQuery(m: Msg): void {
    const at = Date.now();
    const t0 = performance.now();
    let enc: Encoding = 'cbor';
    let request: unknown;
    const done = (v: unknown) => recordReply(this.usage, m, at, t0, request, v, respond(this.nc, m, v, enc));
    try {
      enc = encodingOf(m.headers?.get(Header.contentType));
      request = decode(m.data, enc);
      if (isCall(request)) return this.apis.serve(this.nc, m, request, enc, at, t0);
      const handler = this.proc.query?.bind(this.proc);
      if (!handler) {
        throw new TickbusError(ErrorCode.BAD_TYPE, `${this.o.proctype} ${this.o.name} serves named APIs only (type ${CALL_TYPE})`, { apis: this.apis.names() });
      }
      void Promise.resolve()
        .then(() => handler(request))
        .then(done, (e) => done(toTickbusError(e).toEnvelope()));
    } catch (e) {
      done(toTickbusError(e).toEnvelope());
    }
  }

  private statusBody(): Record<string, unknown> {
    const status = this.usage ? { ...this.proc.status(), usage: this.usage.status() } : this.proc.status();
    return { type: 'tickbus.v1.status', name: this.o.name, proctype: this.o.proctype, pid: process.pid, time: new Date().toISOString(), status, ...(this.ctlRefused ? { ctlRefused: this.ctlRefused } : {}) };
  }

  /**
   * The hard stop (a SIGKILL's effect, for a process run in-process): the connection closes at
   * once, with no flush, no drain and no deregistration (the registry entry ages out with its
   * heartbeat); then the process is told to stop so its timers end (its writes fail on the closed
   * connection). Safe to call twice, and after stop().
   */
  kill(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.hbTimer);
      await this.nc?.close().catch(() => {});
      await this.proc?.stop().catch(() => {});
      this.o.logForwarder?.detach();
      this.o.logger.warn('process killed');
      this.markStopped();
    })();
    return this.stopping;
  }

  /** Stops the process, deregisters it and closes the connection; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.hbTimer);
      for (const s of this.ctlSubs) s.unsubscribe();
      for (const s of this.querySubs) s.unsubscribe();
      await this.registering;
      try {
        await this.proc?.stop();
      } catch (e) {
        this.o.logger.error({ err: (e as Error).message }, 'error while stopping');
      }
      await this.usage?.close().catch(() => {});
      try {
        await this.registry?.delete(kv.registryKey(this.o.proctype, this.o.name));
      } catch {
        // the registry entry ages out with its heartbeat
      }
      this.o.logForwarder?.detach();
      await this.nc?.drain().catch(() => {});
      this.o.logger.info('process stopped');
      this.markStopped();
    })();
    return this.stopping;
  }
}
