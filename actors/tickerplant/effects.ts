// Wires the tickerplant machine to its effects: Ingest does the I/O, the machine decides.
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import { streams, subjects } from '../../bus/subjects.ts';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import type { Logger } from '../../bus/log.ts';
import { manager } from '../../bus/streams.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { ConsumerWatch, checkConsumerWatchSettings } from './consumers.ts';
import { loadHooks } from '../common/hooks.ts';
import { type BufferFunct, HOLD_ALL, holdAll, parseBufferRequest } from './buffer.ts';
import { Ingest } from './ingest.ts';
import { tickerplantMachine } from './machine.ts';
import type { EopMarker, EopRequest } from './periods.ts';
import { defaultTickerplantSettings, withKxAliases, type TickerplantSettings } from './settings.ts';

export interface Tickerplant {
  ingest: Ingest;
  actor: Actor<typeof tickerplantMachine>;
  /** Resolves when the tickerplant is live (recovered), or rejects on failure / timeout. */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

export async function startTickerplant(
  nc: NatsConnection,
  settings: Partial<TickerplantSettings> & Pick<TickerplantSettings, 'name' | 'tables'>,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<Tickerplant> {
  const s: TickerplantSettings = { ...defaultTickerplantSettings, ...withKxAliases(settings) };
  checkConsumerWatchSettings(s);
  const jsm = await manager(nc);
  const ingest = new Ingest(nc, jsm, s, clock, logger, await bufferFunctOf(s));
  const machine = tickerplantMachine.provide({
    actors: {
      recover: fromPromise(async (): Promise<{ day: string; periodStartMs?: number }> => {
        const r = await ingest.recover();
        return r.periodStartMs === undefined ? { day: r.day } : { day: r.day, periodStartMs: r.periodStartMs };
      }),
      rollEod: fromPromise(async ({ input }: { input: { day: string; period?: EopRequest } }) => await ingest.rollEod(input.day, input.period)),
      rollEop: fromPromise(async ({ input }: { input: EopRequest }) => await ingest.rollEop(input)),
      drain: fromPromise(async () => await ingest.stop()),
    },
    actions: {
      resumeIngest: () => ingest.resume(),
      pauseIngest: () => ingest.pause(),
    },
  });
  const actor = createActor(machine, {
    input: {
      clock,
      eodTime: s.eodTime,
      eodZone: s.eodZone,
      recoverRetryMs: 1_000,
      recoverAttemptsMax: 30,
      demoDayMs: s.demoDayMs,
      intradayFreqMs: s.intradayFreqMs,
      eoiOffsetMin: s.eoiOffsetMin,
    },
    clock,
  });
  ingest.onFatal = (e) => actor.send({ type: 'log.failed', error: e.message });
  let last = '';
  actor.subscribe((snap) => {
    const v = String(snap.value);
    if (v !== last) {
      last = v;
      logger.info({ state: v, day: snap.context.day, error: snap.context.lastError }, `tickerplant ${v}`);
    }
  });
  actor.start();
  await ingest.listen();
  const consumers = new ConsumerWatch(nc, jsm, s.name, streams.log(s.name), s, logger);
  consumers.start();
  const ctlSubs: Subscription[] = [
    nc.subscribe(subjects.ctl(s.name, 'eop'), { callback: (_e, m) => manualEop(m) }),
    nc.subscribe(subjects.ctl(s.name, 'buffer.start'), { callback: (_e, m) => bufferCtl(m, 'start') }),
    nc.subscribe(subjects.ctl(s.name, 'buffer.end'), { callback: (_e, m) => bufferCtl(m, 'end') }),
    nc.subscribe(subjects.ctl(s.name, 'buffer.status'), { callback: (_e, m) => answerJson(m, ingest.buffers.status()) }),
  ];
  /** The tickerplant is live, or a typed error saying why it cannot take a control request now. */
  function assertLive(): void {
    const snap = actor.getSnapshot();
    if (!snap.matches('live')) {
      throw new TickbusError(snap.matches('rolling') ? ErrorCode.EOD_IN_PROGRESS : ErrorCode.NOT_READY, `tickerplant ${s.name} is ${String(snap.value)}; retry shortly`, { state: String(snap.value) });
    }
  }
  /** ctl.<tp>.buffer.start / .end: opens or ends a buffer event; the answer is its mark or an error (JSON). */
  function bufferCtl(m: Msg, verb: 'start' | 'end'): void {
    void (async () => {
      const r = parseBufferRequest(m.data, verb);
      assertLive();
      return verb === 'start' ? await ingest.buffers.start(r.id, r.args) : await ingest.buffers.end(r.id, r.args, r.replay);
    })().then(
      (mark) => answerJson(m, mark),
      (e) => answerJson(m, toTickbusError(e).toEnvelope()),
    );
  }
  /** ctl.<tp>.eop: ends the period now when live; the answer is the marker or an error (JSON). */
  function manualEop(m: Msg): void {
    const answer = (body: unknown) => answerJson(m, body);
    try {
      const req = parseEopRequest(m.data);
      if (s.intradayFreqMs <= 0) throw new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant ${s.name} has no intraday periods (intradayFreqMs is 0)`, { setting: 'intradayFreqMs' });
      assertLive();
      actor.send({
        type: 'tp.eop',
        ...req,
        respond: (r: { marker?: EopMarker; error?: string }) =>
          answer(r.marker ?? new TickbusError(ErrorCode.LOG_APPEND_FAILED, `end of period failed: ${r.error}`, {}).toEnvelope()),
      });
    } catch (e) {
      answer(toTickbusError(e).toEnvelope());
    }
  }
  return {
    ingest,
    actor,
    async ready(timeoutMs = 30_000) {
      const snap = await waitFor(actor, (x) => x.matches('live') || x.status === 'done', { timeout: timeoutMs });
      if (!snap.matches('live')) throw new Error(`tickerplant ended in ${String(snap.value)}: ${snap.context.lastError}`);
    },
    async stop() {
      for (const sub of ctlSubs) sub.unsubscribe();
      consumers.stop();
      actor.send({ type: 'tp.stop' });
      await waitFor(actor, (x) => x.status === 'done', { timeout: 20_000 });
    },
    status() {
      const snap = actor.getSnapshot();
      const period = s.intradayFreqMs > 0 ? { periodStart: snap.context.periodStartMs, nextEop: snap.context.nextEopMs, periods: ingest.periods.rolled, lastPeriod: ingest.periods.last } : {};
      const open = ingest.buffers.open;
      const buffer = s.bufferEnabled ? { bufferEvent: open ? open.id : null, bufferHeldDuplicates: ingest.buffers.heldDuplicates } : {};
      return { state: snap.value, day: snap.context.day, counts: Object.fromEntries(ingest.counts), ...ingest.stats, pendingRows: ingest.rowsPending, ...period, ...buffer, consumers: consumers.status() };
    },
  };
}

/** Answers a control request with JSON (bigints as strings); a caller that is gone is no error. */
function answerJson(m: Msg, body: unknown): void {
  try {
    m.respond(JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  } catch {
    // the caller is gone
  }
}

/** The bufferFunct named in settings: the built-in holdAll, or a hook of hooksModule (BAD_CONFIG when missing). */
async function bufferFunctOf(s: TickerplantSettings): Promise<BufferFunct> {
  const hooks = await loadHooks(s.hooksModule || undefined, [HOLD_ALL]);
  if (!s.bufferFunct || s.bufferFunct === HOLD_ALL) return holdAll;
  const f = hooks[s.bufferFunct];
  if (!f) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant setting bufferFunct: ${s.bufferFunct} is not ${HOLD_ALL} nor a function of hooksModule ${s.hooksModule || '(none)'}`, {
      setting: 'bufferFunct',
      hooks: Object.keys(hooks),
    });
  }
  return f as BufferFunct;
}

export const EOP_REQUEST_TYPE = 'tickbus.v1.eop.request';
/** Longest `by` and `reason` accepted on a manual end of period. */
const eopTextMax = 256;

/** A manual end-of-period request: JSON {type?, by?, reason?} (an empty body is a request too). */
export function parseEopRequest(data: Uint8Array): { by?: string; reason?: string } {
  if (data.length === 0) return {};
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_ENCODING, `end-of-period request is not JSON: ${(e as Error).message}`, {});
  }
  if (typeof v !== 'object' || v === null) throw new TickbusError(ErrorCode.BAD_QUERY, 'end-of-period request is not an object', {});
  if (v.type !== undefined && v.type !== EOP_REQUEST_TYPE) throw new TickbusError(ErrorCode.BAD_TYPE, `end-of-period request type must be ${EOP_REQUEST_TYPE}`, { got: v.type });
  const out: { by?: string; reason?: string } = {};
  for (const k of ['by', 'reason'] as const) {
    const x = v[k];
    if (x === undefined) continue;
    if (typeof x !== 'string' || x.length > eopTextMax) throw new TickbusError(ErrorCode.BAD_QUERY, `end-of-period ${k} must be a string of at most ${eopTextMax} characters`, { field: k });
    out[k] = x;
  }
  return out;
}
