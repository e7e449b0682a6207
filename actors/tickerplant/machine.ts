// The tickerplant's control flow: recovering -> live <-> rolling | rollingPeriod -> stopping ->
// stopped. It holds the decisions (when the day and each intraday period end, what to do when the
// log fails) and no I/O: recovery, the end-of-day and end-of-period rolls and the drain are
// invoked actors supplied by effects.ts (or by a test).
// The unit of work on the hot path is a batch handled by Ingest, never an event per row.
import { assign, fromPromise, setup } from 'xstate';
import { dayStartInstant, endOfDayInstant, nextPeriodBoundary, periodStartOf, type Clock } from '../common/clock.ts';
import type { EopMarker, EopRequest } from './periods.ts';

export interface TickerplantMachineInput {
  clock: Clock;
  eodTime: string;
  eodZone: string;
  /** Pause before a failed recovery is tried again, and the most attempts. */
  recoverRetryMs: number;
  recoverAttemptsMax: number;
  /** Demo only: when > 0 a day lasts this long from its start instead of ending at eodTime. */
  demoDayMs?: number;
  /** End of period (settings.ts): 0 = off; boundaries every intradayFreqMs from the day's start, shifted eoiOffsetMin. */
  intradayFreqMs?: number;
  eoiOffsetMin?: number;
}

/** When the day that starts now ends. */
function nextEodOf(context: TickerplantMachineInput, day: string): number {
  if (context.demoDayMs && context.demoDayMs > 0) return context.clock.now() + context.demoDayMs;
  return endOfDayInstant(day, context.eodTime, context.eodZone);
}

/** The end of the current period: the next boundary, or never when the day's end comes first. */
function nextEopOf(context: Context, periodStartMs: number): number {
  const freq = context.intradayFreqMs ?? 0;
  if (freq <= 0) return Number.POSITIVE_INFINITY;
  const b = nextPeriodBoundary(periodStartMs, context.dayStartMs, context.nextEodMs, freq, (context.eoiOffsetMin ?? 0) * 60_000);
  return b >= context.nextEodMs ? Number.POSITIVE_INFINITY : b;
}

/** A new day's window and its first period. */
function dayContext(context: Context, day: string, periodStartMs?: number): Partial<Context> {
  const nextEodMs = nextEodOf(context, day);
  const dayStartMs = context.demoDayMs && context.demoDayMs > 0 ? context.clock.now() : dayStartInstant(day, context.eodTime, context.eodZone);
  const c = { ...context, day, nextEodMs, dayStartMs };
  const start = periodStartMs ?? dayStartMs;
  return { day, nextEodMs, dayStartMs, periodStartMs: start, nextEopMs: nextEopOf(c, start) };
}

/** A manual end of period (ctl.<tp>.eop): who asked, why, and where the answer goes. */
export interface ManualEop {
  by?: string;
  reason?: string;
  respond?: (r: { marker?: EopMarker; error?: string }) => void;
}

interface Context extends TickerplantMachineInput {
  day: string;
  nextEodMs: number;
  dayStartMs: number;
  periodStartMs: number;
  nextEopMs: number;
  manual: ManualEop | undefined;
  attempts: number;
  lastError: string | undefined;
}

export type TickerplantEvent = { type: 'tp.stop' } | { type: 'log.failed'; error: string } | ({ type: 'tp.eop' } & ManualEop);

/**
 * The period to end now. Manual: from the period's start to now. Scheduled: up to the last
 * boundary passed (after a restart that slept through boundaries, one marker covers the gap).
 */
function periodRequest(context: Context): EopRequest {
  const now = context.clock.now();
  if (context.manual) return { day: context.day, start: context.periodStartMs, end: Math.max(now, context.periodStartMs + 1), by: context.manual.by, reason: context.manual.reason };
  const freq = context.intradayFreqMs ?? 0;
  const last = periodStartOf(now, context.dayStartMs, freq, (context.eoiOffsetMin ?? 0) * 60_000);
  return { day: context.day, start: context.periodStartMs, end: Math.min(context.nextEodMs, Math.max(last, context.nextEopMs)) };
}

export const tickerplantMachine = setup({
  types: {
    context: {} as Context,
    input: {} as TickerplantMachineInput,
    events: {} as TickerplantEvent,
  },
  actors: {
    recover: fromPromise<{ day: string; periodStartMs?: number }>(async () => {
      throw new Error('recover not provided');
    }),
    rollEod: fromPromise<string, { day: string; period?: EopRequest }>(async () => {
      throw new Error('rollEod not provided');
    }),
    rollEop: fromPromise<EopMarker, EopRequest>(async () => {
      throw new Error('rollEop not provided');
    }),
    drain: fromPromise<void>(async () => {}),
  },
  actions: {
    resumeIngest: () => {},
    pauseIngest: () => {},
  },
  guards: {
    eodDue: ({ context }) => context.clock.now() >= context.nextEodMs,
    eopDue: ({ context }) => context.clock.now() >= context.nextEopMs,
    canRetry: ({ context }) => context.attempts < context.recoverAttemptsMax,
  },
  delays: {
    // Timers are capped at 2^31-1 ms (setTimeout's limit); the state re-enters and waits again.
    untilNext: ({ context }) => Math.min(2_147_483_647, Math.max(0, Math.min(context.nextEodMs, context.nextEopMs) - context.clock.now())),
    recoverRetry: ({ context }) => context.recoverRetryMs,
  },
}).createMachine({
  id: 'tickerplant',
  context: ({ input }) => ({
    ...input,
    day: '',
    nextEodMs: Number.POSITIVE_INFINITY,
    dayStartMs: 0,
    periodStartMs: 0,
    nextEopMs: Number.POSITIVE_INFINITY,
    manual: undefined,
    attempts: 0,
    lastError: undefined,
  }),
  initial: 'recovering',
  on: { 'tp.stop': '.stopping' },
  states: {
    recovering: {
      entry: ['pauseIngest', assign({ attempts: ({ context }) => context.attempts + 1 })],
      invoke: {
        src: 'recover',
        onDone: {
          target: 'live',
          actions: assign(({ context, event }) => ({
            ...dayContext(context, event.output.day, event.output.periodStartMs),
            attempts: 0,
            lastError: undefined,
          })),
        },
        onError: {
          target: 'waitingToRecover',
          actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }),
        },
      },
    },
    waitingToRecover: {
      after: { recoverRetry: [{ guard: 'canRetry', target: 'recovering' }, { target: 'failed' }] },
    },
    live: {
      entry: 'resumeIngest',
      // A day already over (a restart after the end-of-day time) rolls at once, day by day; a
      // period already over rolls once, up to the last boundary passed (periodEnd).
      always: [
        { guard: 'eodDue', target: 'rolling' },
        { guard: 'eopDue', target: 'rollingPeriod' },
      ],
      on: {
        'log.failed': { target: 'recovering', actions: assign({ lastError: ({ event }) => event.error }) },
        'tp.eop': { target: 'rollingPeriod', actions: assign({ manual: ({ event }) => ({ by: event.by, reason: event.reason, respond: event.respond }) }) },
      },
      after: {
        untilNext: [
          { guard: 'eodDue', target: 'rolling' },
          { guard: 'eopDue', target: 'rollingPeriod' },
          { target: 'live', reenter: true },
        ],
      },
    },
    rollingPeriod: {
      invoke: {
        src: 'rollEop',
        input: ({ context }) => periodRequest(context),
        onDone: {
          target: 'live',
          actions: [
            ({ context, event }) => context.manual?.respond?.({ marker: event.output }),
            assign(({ context, event }) => ({
              periodStartMs: event.output.end,
              nextEopMs: nextEopOf(context, event.output.end),
              manual: undefined,
            })),
          ],
        },
        onError: {
          target: 'recovering',
          actions: [
            ({ context, event }) => context.manual?.respond?.({ error: String((event.error as Error)?.message) }),
            assign({ manual: undefined, lastError: ({ event }) => String((event.error as Error)?.message) }),
          ],
        },
      },
    },
    rolling: {
      invoke: {
        src: 'rollEod',
        input: ({ context }) => ({
          day: context.day,
          period: context.intradayFreqMs ? { day: context.day, start: context.periodStartMs, end: context.nextEodMs } : undefined,
        }),
        onDone: {
          target: 'live',
          actions: assign(({ context, event }) => dayContext(context, event.output)),
        },
        // The marker's fate is unknown: recovery reads the log and rolls again if it is missing.
        onError: { target: 'recovering', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message) }) },
      },
    },
    stopping: {
      invoke: { src: 'drain', onDone: 'stopped', onError: 'stopped' },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});
