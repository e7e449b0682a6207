// Wires the chained tickerplant machine to its effects: the route in KV `chain` (every mode), and
// in log mode `create` the own log, the parent subscription (bus/subscriber.ts, the one core) and
// the forwarder (forward.ts).
import type { NatsConnection } from '@nats-io/nats-core';
import { systemClock, type Clock } from '../common/clock.ts';
import { createActor, fromCallback, fromPromise, waitFor, type Actor } from 'xstate';
import { CHAIN_TYPE, putRoute, type ChainRoute } from '../../bus/chain.ts';
import type { Logger } from '../../bus/log.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { ensureStream, manager, rejectedStreamConfig } from '../../bus/streams.ts';
import { streams } from '../../bus/subjects.ts';
import { resolveLog, subscribe, type Subscription } from '../../bus/subscriber.ts';
import { defineSchema } from '../../storage/schema.ts';
import { LogWriter } from '../tickerplant/log_writer.ts';
import { Forwarder, recoverOwnLog, type OwnLogState } from './forward.ts';
import { chainedTpMachine, type ChainedTpEvent } from './machine.ts';
import { Manifest } from './manifest.ts';
import { Rejects } from './reject.ts';
import { chainedTpSettings, type ChainedTpSettings } from './settings.ts';

export interface ChainedTp {
  actor: Actor<typeof chainedTpMachine>;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
  /** The typed error of a `failed` chained tp (its parent never appeared within parentWaitMs). */
  failure(): TickbusError;
  attributes(): Record<string, unknown>;
}

/** Bound on the wait, at a clean stop, for the pending rows to be appended. */
const STOP_DRAIN_MS = 10_000;

export async function startChainedTp(nc: NatsConnection, given: Partial<ChainedTpSettings> & Pick<ChainedTpSettings, 'name' | 'tables'>, logger: Logger, clock: Clock = systemClock): Promise<ChainedTp> {
  const s = chainedTpSettings(given);
  const schema = defineSchema(s.subscribeTables ? Object.fromEntries(s.subscribeTables.map((t) => [t, s.tables[t]!])) : s.tables);
  const jsm = await manager(nc);
  const manifest = new Manifest(nc, jsm, s, logger);
  const pipeline = new Pipeline(nc, { timeoutMs: s.appendTimeoutMs, maxInflight: s.appendsInflightMax * 2 + 64 });
  const route: ChainRoute = { type: CHAIN_TYPE, name: s.name, parent: s.parent, logMode: s.logMode, ...(s.subscribeTables ? { tables: s.subscribeTables } : {}), ...(s.syms ? { syms: s.syms } : {}) };
  let recovered: OwnLogState | undefined;
  let routeWritten = false;
  let forwarder: Forwarder | undefined;
  let writer: LogWriter | undefined;
  let sub: Subscription | undefined;
  const rejects = new Rejects(pipeline, s.name, s.parent, logger);

  const forward = fromCallback<ChainedTpEvent>(({ sendBack }) => {
    let stopped = false;
    const st = recovered!;
    const w = (writer = new LogWriter(pipeline, {
      appendTimeoutMs: s.appendTimeoutMs,
      appendRetryWindowMs: s.appendRetryWindowMs,
      appendRetryDelayMs: s.appendRetryDelayMs,
      logger,
      lastSeq: st.lastSeq,
      streamLastSeq: async () => (await jsm.streams.info(streams.log(s.name))).state.last_seq,
      onFatal: (e) => sendBack({ type: 'forward.failed', error: e.message }),
    }));
    void (async () => {
      // Resume after the watermark; a chained tp with an empty log starts at the parent's day.
      const from = st.parentSeq > 0 ? { seq: st.parentSeq + 1 } : ('today' as const);
      const mine = (sub = await subscribe(nc, { name: `ctp_${s.name}`, tp: s.parent, tables: s.subscribeTables, syms: s.syms, from, raw: s.pubFreqMs === 0, bufferBytes: s.bufferBytes, stallMs: s.logStallMs }));
      const fw = (forwarder = new Forwarder(w, s, schema, st, () => mine.lastSeq, logger, (m, seq) => void manifest.record(m, seq), rejects));
      logger.info({ parent: s.parent, parentStream: mine.stream, from, ownLastSeq: st.lastSeq }, 'chained tp following its parent');
      sendBack({ type: 'forward.subscribed' });
      for await (const e of mine) {
        if (stopped) break;
        await fw.onEvent(e);
      }
      if (!stopped) throw new Error('the parent log subscription ended');
    })().catch((err: Error) => {
      if (stopped) return;
      const code = err instanceof TickbusError ? err.code : undefined;
      if (code === ErrorCode.NO_MATCHING_PROCESS) logger.warn({ err: err.message, parent: s.parent, parentWaitMs: s.parentWaitMs }, 'chained tp: the parent tickerplant does not exist (yet); waiting for it');
      else logger.error({ err: err.message }, 'chained tp lost its parent or its log; recovering');
      sendBack({ type: 'forward.failed', error: err.message, ...(code ? { code } : {}) });
    });
    return () => {
      stopped = true;
      forwarder?.close();
      w.close();
      void sub?.close();
    };
  });

  const machine = chainedTpMachine.provide({
    actors: {
      recover: fromPromise(async () => {
        // The previous writer's appends still in flight land first (bounded by its retry window):
        // the watermark read next must be the log's real last one.
        if (writer) await Promise.race([writer.drained(), new Promise((r) => setTimeout(r, s.appendRetryWindowMs + s.appendTimeoutMs).unref())]);
        await putRoute(nc, route, s.replicas);
        await ensureStream(jsm, rejectedStreamConfig(s.name, { retentionMs: s.rejectedRetentionMs, maxMsgs: s.rejectedMsgsMax, replicas: s.replicas }));
        recovered = await recoverOwnLog(jsm, s, schema);
        if (recovered.lastEop) void manifest.record(recovered.lastEop.marker, recovered.lastEop.seq, true);
        logger.info({ lastSeq: recovered.lastSeq, parentSeq: recovered.parentSeq, day: recovered.day }, 'chained tp recovered from its log');
      }),
      forward,
      route: fromPromise(async () => {
        await putRoute(nc, route, s.replicas);
        routeWritten = true;
        // The parent must exist (its log, or its own route): NO_MATCHING_PROCESS is waited for.
        const log = await resolveLog(nc, { tp: s.parent }).catch((e: unknown) => {
          if (e instanceof TickbusError && e.code === ErrorCode.NO_MATCHING_PROCESS) logger.warn({ err: e.message, parent: s.parent, parentWaitMs: s.parentWaitMs }, 'chained tp: the parent tickerplant does not exist (yet); waiting for it');
          throw e;
        });
        logger.info({ parent: s.parent, logMode: s.logMode, log: log.tp }, 'chained tp routes its subscribers to the parent log');
      }),
    },
  });
  const actor = createActor(machine, { input: { logMode: s.logMode, recoverRetryMs: s.recoverRetryMs, parentWaitMs: s.parentWaitMs, clock } });
  const failure = () => {
    const c = actor.getSnapshot().context;
    return new TickbusError((c.lastErrorCode as ErrorCode | undefined) ?? ErrorCode.NO_MATCHING_PROCESS, `chained tp ${s.name}: ${c.lastError ?? 'failed'} (waited parentWaitMs ${s.parentWaitMs})`, { parent: s.parent, stream: streams.log(s.parent), parentWaitMs: s.parentWaitMs });
  };
  let last = '';
  actor.subscribe((snap) => {
    const v = JSON.stringify(snap.value);
    if (v !== last) {
      last = v;
      if (snap.matches('failed')) logger.error({ parent: s.parent, error: snap.context.lastError, parentWaitMs: s.parentWaitMs }, 'chained tp failed: its parent does not exist; nothing is retried (actors restart once it does)');
      else logger.info({ state: snap.value, error: snap.context.lastError }, 'chained tp state');
    }
  });
  actor.start();

  return {
    actor,
    // Ready once its log exists (or its route is written): its subscribers can subscribe. A parent
    // not up yet is waited for, retried every recoverRetryMs (TorQ's tpconnsleep), status lastError,
    // at most parentWaitMs: past it (at once with 0) `failed`, and ready() rejects NO_MATCHING_PROCESS.
    async ready(timeoutMs = 30_000) {
      const snap = await waitFor(
        actor,
        (x) => x.matches({ forwarding: 'open' }) || (x.matches('waiting') && recovered !== undefined) || x.matches('routed') || (x.matches('routeWaiting') && routeWritten) || x.matches('failed') || x.status === 'done',
        { timeout: timeoutMs },
      );
      if (snap.matches('failed')) throw failure();
    },
    failure,
    async stop() {
      // A clean stop appends what the timer holds first (bounded); a kill loses nothing either:
      // the restart resumes after the watermark.
      if (forwarder && writer?.open) {
        forwarder.flush();
        await Promise.race([writer.drained(), new Promise((r) => setTimeout(r, STOP_DRAIN_MS).unref())]);
      }
      actor.send({ type: 'ctp.stop' });
      await sub?.close();
      pipeline.close();
    },
    status() {
      const snap = actor.getSnapshot();
      const fw = forwarder;
      return {
        state: snap.value,
        parent: s.parent,
        logMode: s.logMode,
        recoveries: snap.context.recoveries,
        lastError: snap.context.lastError,
        ...(snap.context.lastErrorCode ? { lastErrorCode: snap.context.lastErrorCode } : {}),
        rejected: rejects.count,
        ...(rejects.count ? { rejectedByCode: { ...rejects.byCode } } : {}),
        ...(fw ? { day: fw.day, counts: fw.counts(), parentSeq: fw.parentSeq, parentRead: sub?.lastSeq ?? 0, rowsPending: fw.rowsPending, appendsInflight: writer?.depth ?? 0, ...fw.stats } : {}),
      };
    },
    attributes: () => ({ parent: s.parent, logMode: s.logMode, tables: [...schema.keys()] }),
  };
}
