// The gateway's effects: the only I/O. Receives calls on gw.<name>.sync / gw.<name>.async (and the
// any-gateway subjects gw.sync / gw.async, queue group `gateway`), resolves and queues them in the
// scheduler, sends each part to its backend over one pipelined inbox (q.<type>.<name>), joins the
// answers and replies (sync), or acknowledges at once and publishes the result to the postback
// subject (async). Backends come and go with the registry (a KV watch): no restart. A backend
// killed mid-query is found by a probe of ctl.<name>.status ("no responders" = gone) within
// probeAfterMs + probeEveryMs, or by its heartbeat going to error, whichever comes first.
// How a target resolves is in resolve.ts, how an answer is published in replies.ts, the client
// liveness watch in clients.ts.
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/nats-core';
import { createActor, fromCallback, fromPromise, waitFor, type Actor } from 'xstate';
import { decode, encode, encodingOf, type Encoding } from '../../bus/codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { acceptChunksHeaders, acceptsChunks } from '../../bus/reply.ts';
import { Header, subjects } from '../../bus/subjects.ts';
import { userOf, type UsageLog } from '../../bus/usage.ts';
import { defineSchema } from '../../storage/schema.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { Discovery, type DiscoveryEvent, type ProcessView } from '../common/discovery.ts';
import type { ApiTable } from '../common/runtime.ts';
import { ClientWatch, isAliveSubject } from './clients.ts';
import { splitByTime, type DataAccessContext, type DataAccessPlanner } from './data_access.ts';
import { Joins, type JoinFn } from './joins.ts';
import { gatewayMachine, type GatewayEvent } from './machine.ts';
import { rawField } from './raw.ts';
import { ReloadHolds } from './reload_hold.ts';
import { errorBody, Replies } from './replies.ts';
import { GATEWAY_ACCEPTED_TYPE, GATEWAY_REPLY_TYPE, parseGatewayRequest, type GatewayAccepted, type GatewayReply, type GatewayRequest } from './request.ts';
import { resolverFor, type ResolveContext } from './resolve.ts';
import type { BackendView } from './routing.ts';
import { Scheduler, type Command, type PartOutcome, type SchedulerHooks } from './scheduler.ts';
import { checkConcurrency, defaultGatewaySettings, type GatewaySettings } from './settings.ts';

/** Backends may answer a big part in chunks: the pipeline reassembles them. */
const backendHeaders = acceptChunksHeaders();

/** What the gateway keeps about a query beyond the scheduler: where and how to answer. */
interface Meta {
  enc: Encoding;
  /** Where the result (or error) goes: the sync reply subject, the postback, or the async reply subject. */
  resultTo: string | undefined;
  postback: boolean;
  request: GatewayRequest;
  /** Data-access queries are merged by their planner's function instead of a named join. */
  merge?: JoinFn;
  /** `query` as the backends get it: the client's own CBOR bytes of it (raw.ts), else encoded once at the first dispatch. */
  queryBytes?: Uint8Array;
  /** For the usage log: arrival (epoch ms and performance.now()), who asked, the subject. */
  at: number;
  t0: number;
  user: string;
  subject: string;
  /** Headers each backend part carries: Tb-User and Tb-Query-Id (made once per query, when a user is known), and Tb-Accept-Chunks. */
  partHeaders?: MsgHdrs;
  /** The caller accepts a big result in chunks (it sent Tb-Accept-Chunks). */
  chunks: boolean;
  /** The client's liveness subject (Tb-Client-Alive), probed while the query waits. */
  alive?: string;
}

export interface GatewayOptions {
  clock?: Clock;
  /** The scheduler's override points: which query runs next, which servers a query may use. */
  hooks?: SchedulerHooks;
  /** Custom join functions by name (raze and list are built in). */
  joins?: Record<string, JoinFn>;
  /** The data-access split/merge (default: split by trading day between RDB and HDB, merge partial aggregates). */
  dataAccess?: DataAccessPlanner;
  /** The process's named APIs (from the runtime): the gateway adds queue, backends and joins. */
  apis?: ApiTable;
  /** The usage log: every answered query is recorded (bus/usage.ts). */
  usage?: UsageLog;
}

export interface Gateway {
  actor: Actor<typeof gatewayMachine>;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
  attributes(): Record<string, unknown>;
  registerJoin(name: string, fn: JoinFn): void;
  setHooks(hooks: SchedulerHooks): void;
  /** The backends as the gateway sees them (tests, the `backends` API). */
  backends(): BackendView[];
}

/** A notice's body, or undefined when it cannot be decoded (ignored). */
function safeDecode(data: Uint8Array): unknown {
  try {
    return decode(data);
  } catch {
    return undefined;
  }
}

export async function startGateway(
  nc: NatsConnection,
  settings: Partial<GatewaySettings> & Pick<GatewaySettings, 'name' | 'tables'>,
  logger: Logger,
  opts: GatewayOptions = {},
): Promise<Gateway> {
  const s: GatewaySettings = { ...defaultGatewaySettings, ...settings };
  checkConcurrency(s);
  const clock = opts.clock ?? systemClock;
  const joins = new Joins();
  for (const [name, fn] of Object.entries(opts.joins ?? {})) joins.register(name, fn);
  const planner = opts.dataAccess ?? splitByTime;
  // No tables configured: the gateway still routes by type and attributes; getdata finds no table.
  const schema = Object.keys(s.tables ?? {}).length > 0 ? defineSchema(s.tables) : new Map();
  // A WDB's reload sequence: HDB-bound parts of the day are held between reloadstart and reloadend (bounded).
  const reloads = new ReloadHolds(() => execute(scheduler.replan()), s.eodHoldMs);
  const reloadSubs = [
    nc.subscribe(subjects.wdbReloadStartAll, { callback: (_e, m) => void reloads.start(safeDecode(m.data)) }),
    nc.subscribe(subjects.wdbReloadEndAll, { callback: (_e, m) => reloads.end(safeDecode(m.data)) }),
  ];
  const dataCtx: DataAccessContext = { schema, eodTime: s.eodTime, eodZone: s.eodZone, dataTypes: s.dataTypes, partsPerQueryMax: s.partsPerQueryMax };
  const resolveCtx: ResolveContext = { planner, reloads, dataCtx, s };
  const scheduler = new Scheduler<Meta>(
    {
      queueMax: s.queueMax,
      partsPerQueryMax: s.partsPerQueryMax,
      nextQueryScanMax: s.nextQueryScanMax,
      capacityOf: (t) => s.backendConcurrencyByType[t] ?? s.backendConcurrency,
      heavySlotsOf: () => s.backendHeavySlots,
      cost: { smallMaxMs: s.smallQueryMaxMs, kindsMax: s.costKindsMax },
    },
    clock,
    opts.hooks,
  );
  let discovery: Discovery | undefined;
  let pipeline: Pipeline | undefined;
  let requestSubs: Subscription[] = [];
  let nextId = 0;
  const probing = new Set<string>();

  const wanted = (p: ProcessView) => p.name !== s.name && (s.backendTypes ? s.backendTypes.includes(p.proctype) : p.proctype !== 'gateway');

  // ---- replies ---------------------------------------------------------------------------------

  const replies = new Replies(nc, logger, opts.usage);

  function send(meta: Meta, id: string, body: { type: string }): void {
    replies.logUsage(meta, meta.request.query, id, body, replies.publish(meta.resultTo, meta.enc, body, meta.postback ? id : undefined, meta.chunks));
  }

  function complete(c: Extract<Command<Meta>, { type: 'complete' }>): void {
    const { meta } = c;
    const ctx = { parts: c.parts, query: meta.request.query };
    let result: unknown;
    try {
      if (meta.merge) {
        try {
          result = meta.merge(c.results, ctx);
        } catch (e) {
          if (e instanceof TickbusError) throw e;
          throw new TickbusError(ErrorCode.JOIN_FAILED, `failed to merge the parts of the data-access query: ${(e as Error).message}`, { join: 'data-access', parts: c.parts.map((p) => p.name) }, { cause: e });
        }
      } else result = joins.apply(meta.request.join, c.results, ctx);
    } catch (e) {
      send(meta, c.queryId, errorBody(e, c.queryId));
      return;
    }
    const reply: GatewayReply = { type: GATEWAY_REPLY_TYPE, id: c.queryId, result, parts: c.parts, ms: c.ms };
    send(meta, c.queryId, reply);
  }

  function execute(cmds: Command<Meta>[]): void {
    for (const c of cmds) {
      if (c.type !== 'dispatch' && c.meta.alive) clients.forget(c.meta.alive, c.queryId);
      if (c.type === 'dispatch') dispatch(c);
      else if (c.type === 'complete') complete(c);
      else {
        logger.debug({ id: c.queryId, code: c.error.code }, c.error.message);
        send(c.meta, c.queryId, errorBody(c.error, c.queryId));
      }
    }
  }

  // ---- backends ------------------------------------------------------------------------------

  function outcomeOf(c: Extract<Command<Meta>, { type: 'dispatch' }>, m: { data: Uint8Array }): PartOutcome {
    let v: unknown;
    try {
      v = decode(m.data);
    } catch (e) {
      return { ok: false, error: new TickbusError(ErrorCode.BACKEND_ERROR, `failed to decode the reply of ${c.backend}: ${(e as Error).message}`, { backend: c.backend, proctype: c.proctype }) };
    }
    if (isErrorEnvelope(v)) {
      return {
        ok: false,
        error: new TickbusError(ErrorCode.BACKEND_ERROR, `failed to run query on ${c.proctype} ${c.backend}: ${v.message}`, { backend: c.backend, proctype: c.proctype, error: v }),
      };
    }
    return { ok: true, value: v };
  }

  function dispatch(c: Extract<Command<Meta>, { type: 'dispatch' }>): void {
    let bytes: Uint8Array;
    try {
      // The query itself (every part of a type or attribute target) is encoded at most once per
      // query, or not at all when the client sent CBOR; a data-access part's narrowed request each time.
      const m = c.meta;
      if (c.request === m.request.query) bytes = m.queryBytes ??= encode(c.request);
      else bytes = encode(c.request);
    } catch (e) {
      execute(scheduler.partDone(c.queryId, c.part, { ok: false, error: new TickbusError(ErrorCode.BAD_QUERY, `query: cannot be encoded: ${(e as Error).message}`, { param: 'query' }) }));
      return;
    }
    // The request outlives the query's deadline by orphanGraceMs: the backend keeps the slot until
    // it answers (it cannot be interrupted), but not for ever.
    const timeoutMs = Math.max(1, c.deadlineMs - clock.now()) + s.orphanGraceMs;
    pipeline!.send(subjects.query(c.proctype, c.backend), bytes, timeoutMs, (e, m) => {
      if (m) {
        execute(scheduler.partDone(c.queryId, c.part, outcomeOf(c, m), c.run));
        return;
      }
      const err = toTickbusError(e);
      const outcome: PartOutcome =
        err.code === ErrorCode.NO_RESPONDERS
          ? { ok: false, noResponders: true }
          : { ok: false, error: new TickbusError(err.code === ErrorCode.TIMEOUT ? ErrorCode.BACKEND_ERROR : err.code, `${c.proctype} ${c.backend}: ${err.message}`, { backend: c.backend, proctype: c.proctype }) };
      execute(scheduler.partDone(c.queryId, c.part, outcome, c.run));
    }, c.meta.partHeaders ?? backendHeaders);
  }

  // ---- liveness: clients (clients.ts) and backends -------------------------------------------

  const clients = new ClientWatch(s, logger, (gone) =>
    execute(scheduler.drop(gone, (qid) => new TickbusError(ErrorCode.CLIENT_GONE, `the client of query ${qid} disconnected`, { id: qid }))),
  );

  /** Probes backends holding long parts: "no responders" on ctl.<name>.status means the process is gone. */
  function probe(): void {
    for (const name of scheduler.longRunning(s.probeAfterMs)) {
      if (probing.has(name) || !pipeline) continue;
      probing.add(name);
      pipeline.request(subjects.ctl(name, 'status'), new Uint8Array(0), undefined, s.probeTimeoutMs).then(
        () => probing.delete(name),
        (e: unknown) => {
          probing.delete(name);
          if (toTickbusError(e).code === ErrorCode.NO_RESPONDERS) {
            logger.warn({ backend: name }, 'backend stopped answering mid-query (no responders); failing its parts');
            execute(scheduler.markGone(name, 'died (no responders)'));
          }
        },
      );
    }
    // A backend marked gone that beats again had only lost its connection.
    for (const b of scheduler.backendViews()) {
      if (!b.gone || b.goneAtMs === undefined) continue;
      const v = discovery?.get(b.proctype, b.name);
      if (v?.lastBeatMs !== undefined && v.lastBeatMs > b.goneAtMs) execute(scheduler.revive(b.name));
    }
  }

  function onDiscovery(e: DiscoveryEvent): void {
    if (!wanted(e.proc)) return;
    const p = e.proc;
    const info = { name: p.name, proctype: p.proctype, attributes: p.attributes, health: p.health };
    switch (e.type) {
      case 'proc.up':
        logger.info({ backend: p.name, proctype: p.proctype }, 'backend registered');
        execute(scheduler.upsertBackend(info, true));
        break;
      case 'proc.changed':
        execute(scheduler.upsertBackend(info, false));
        break;
      case 'proc.down':
        logger.info({ backend: p.name, proctype: p.proctype }, 'backend deregistered');
        execute(scheduler.removeBackend(p.name, 'deregistered (stopped)'));
        break;
      case 'proc.health':
        if (p.health !== 'ok') logger.warn({ backend: p.name, health: p.health }, 'backend heartbeat');
        execute(scheduler.setHealth(p.name, p.health));
        break;
    }
  }

  function backendsEvent() {
    const views = scheduler.backendViews();
    return { type: 'backends.changed' as const, backends: views.length, types: [...new Set(views.map((b) => b.proctype))].sort() };
  }

  // ---- requests ------------------------------------------------------------------------------

  function onRequest(m: Msg, mode: 'sync' | 'async'): void {
    const u = { at: Date.now(), t0: performance.now(), user: userOf(m.headers), subject: m.subject };
    let enc: Encoding = 'cbor';
    let id: string | undefined;
    let raw: unknown;
    try {
      enc = encodingOf(m.headers?.get(Header.contentType));
      raw = decode(m.data, enc);
      const req = parseGatewayRequest(raw, s, (n) => joins.has(n));
      if (!u.user && req.user) u.user = req.user;
      id = req.id ?? `${s.name}-${++nextId}`;
      if (mode === 'sync' && req.postback) throw new TickbusError(ErrorCode.BAD_QUERY, 'postback: applies to async calls (gw.<gw>.async)', { param: 'postback' });
      if (mode === 'async' && !req.postback && !m.reply) throw new TickbusError(ErrorCode.BAD_QUERY, 'postback: an async call needs a postback subject or a reply subject', { param: 'postback' });
      if (req.target.kind === 'data' && req.join !== 'raze') {
        throw new TickbusError(ErrorCode.BAD_QUERY, 'join: a data-access query is merged by time range; give a target to use a join', { param: 'join' });
      }
      const resultTo = mode === 'sync' ? m.reply : (req.postback ?? m.reply);
      const meta: Meta = { enc, resultTo, postback: mode === 'async', request: req, ...u, chunks: acceptsChunks(m) };
      if (enc === 'cbor') meta.queryBytes = rawField(m.data, 'query');
      if (u.user && opts.usage?.enabled) {
        // The backends log the query under the asking user and the gateway's id, not the gateway
        // (not sent when this gateway keeps no usage log: no header cost for nothing).
        const h = acceptChunksHeaders();
        h.set(Header.user, u.user.replace(/[\r\n]+/g, ' '));
        h.set(Header.queryId, id);
        meta.partHeaders = h;
      }
      const alive = m.headers?.get(Header.clientAlive);
      if (isAliveSubject(alive)) {
        meta.alive = alive;
        clients.track(alive, id);
      }
      const cmds = scheduler.submit({ id, request: req, resolve: resolverFor<Meta>(req, resolveCtx), holdMaxMs: s.eodHoldMs, meta });
      if (mode === 'async') {
        // Failing at once (bad target, overloaded) answers the async call itself: no ack, no postback.
        const now = cmds.findIndex((c) => c.type === 'fail' && c.queryId === id);
        if (now >= 0) {
          const f = cmds.splice(now, 1)[0] as Extract<Command<Meta>, { type: 'fail' }>;
          // A call published with no reply subject (fire and forget) learns of it on its postback.
          const body = errorBody(f.error, id);
          replies.logUsage(u, req.query, id, body, m.reply ? replies.publish(m.reply, enc, body) : replies.publish(req.postback, enc, body, id));
        } else {
          const ack: GatewayAccepted = { type: GATEWAY_ACCEPTED_TYPE, id, gateway: s.name, postback: resultTo! };
          replies.publish(m.reply, enc, ack);
        }
      }
      execute(cmds);
    } catch (e) {
      const body = errorBody(e, id);
      replies.logUsage(u, (raw as { query?: unknown } | undefined)?.query ?? raw, id, body, replies.publish(m.reply, enc, body));
    }
  }

  // ---- the machine's implementations ----------------------------------------------------------

  const connect = fromPromise<void>(async () => {
    discovery = await Discovery.open(nc, { health: { warnAfterBeats: s.warnAfterBeats, errorAfterBeats: s.errorAfterBeats }, clock, logger, checkEveryMs: s.probeEveryMs });
    pipeline = new Pipeline(nc, { timeoutMs: s.defaultTimeoutMs, maxInflight: s.backendInflightMax, sweepMs: Math.max(5, Math.min(50, s.timeoutCheckMs)) });
    for (const p of discovery.list()) if (wanted(p)) execute(scheduler.upsertBackend({ name: p.name, proctype: p.proctype, attributes: p.attributes, health: p.health }, true));
    logger.info({ backends: scheduler.backendViews().map((b) => `${b.proctype}:${b.name}`) }, 'gateway found its backends');
  });

  const serve = fromCallback<GatewayEvent>(({ sendBack }) => {
    sendBack(backendsEvent());
    const off = discovery!.on((e) => {
      onDiscovery(e);
      if (e.type !== 'proc.health') sendBack(backendsEvent());
    });
    const ticker = setInterval(() => execute(scheduler.tick()), s.timeoutCheckMs);
    const prober = setInterval(probe, s.probeEveryMs);
    const clientProber = setInterval(() => clients.probe(pipeline), s.clientProbeEveryMs);
    ticker.unref();
    prober.unref();
    clientProber.unref();
    return () => {
      off();
      clearInterval(ticker);
      clearInterval(prober);
      clearInterval(clientProber);
    };
  });

  const drain = fromPromise<void>(async () => {
    while (scheduler.size > 0) await new Promise((r) => setTimeout(r, 10));
  });

  const actor = createActor(
    gatewayMachine.provide({
      actors: { connect, serve, drain },
      actions: {
        startAccepting: () => {
          const sub = (subject: string, mode: 'sync' | 'async', queue?: string) => nc.subscribe(subject, { queue, callback: (_e, m) => onRequest(m, mode) });
          requestSubs = [
            sub(subjects.gatewaySync(s.name), 'sync'),
            sub(subjects.gatewayAsync(s.name), 'async'),
            sub(subjects.gatewaySyncAny, 'sync', 'gateway'),
            sub(subjects.gatewayAsyncAny, 'async', 'gateway'),
          ];
          logger.info({ name: s.name }, 'gateway accepting queries');
        },
        stopAccepting: () => {
          for (const x of requestSubs) x.unsubscribe();
          requestSubs = [];
        },
        release: () => {
          execute(scheduler.failAll((id) => new TickbusError(ErrorCode.NOT_READY, `gateway ${s.name} is stopping; query ${id} was not answered`, { id })));
          pipeline?.close();
          void discovery?.close();
          for (const x of reloadSubs) x.unsubscribe();
          reloads.close();
        },
      },
    }),
    { input: { drainTimeoutMs: s.drainTimeoutMs } },
  );

  opts.apis?.register('queue', () => scheduler.queue(), 'queries admitted and not yet answered (TorQ .gw.getqueue)');
  opts.apis?.register('backends', () => scheduler.backendViews(), 'the backends and their load (TorQ .gw.servers)');
  opts.apis?.register('joins', () => joins.names(), 'join functions by name');

  actor.start();

  return {
    actor,
    async ready(timeoutMs = 30_000) {
      const snap = await waitFor(actor, (x) => x.matches({ up: 'serving' }) || x.status === 'done', { timeout: timeoutMs });
      if (snap.status === 'done') throw new Error(`gateway failed to start: ${snap.context.lastError}`);
    },
    async stop() {
      actor.send({ type: 'gateway.stop' });
      await waitFor(actor, (x) => x.status === 'done', { timeout: s.drainTimeoutMs + 5_000 });
    },
    status() {
      const snap = actor.getSnapshot();
      return { state: snap.value, ...scheduler.counts(), ...scheduler.stats, ...clients.stats, reloadHolds: { ...reloads.stats, held: reloads.held() }, clientsTracked: clients.size, costKinds: scheduler.costs.size, backends: snap.context.backends, types: snap.context.types };
    },
    attributes: () => ({ joins: joins.names(), backendTypes: s.backendTypes ?? null }),
    registerJoin: (name, fn) => joins.register(name, fn),
    setHooks: (hooks) => scheduler.setHooks(hooks),
    backends: () => scheduler.backendViews(),
  };
}
