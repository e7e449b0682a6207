// The tickerplant's control flow: recovering -> live <-> rolling -> stopping -> stopped. It holds
// the decisions (when the day ends, what to do when the log fails) and no I/O: recovery, the
// end-of-day roll and the drain are invoked actors supplied by effects.ts (or by a test).
// The unit of work on the hot path is a batch handled by Ingest, never an event per row.
import { assign, fromPromise, setup } from 'xstate';
import { endOfDayInstant, type Clock } from '../common/clock.ts';

export interface TickerplantMachineInput {
  clock: Clock;
  eodTime: string;
  eodZone: string;
  /** Pause before a failed recovery is tried again, and the most attempts. */
  recoverRetryMs: number;
  recoverAttemptsMax: number;
  /** Demo only: when > 0 a day lasts this long from its start instead of ending at eodTime. */
  demoDayMs?: number;
}

/** When the day that starts now ends. */
function nextEodOf(context: TickerplantMachineInput, day: string): number {
  if (context.demoDayMs && context.demoDayMs > 0) return context.clock.now() + context.demoDayMs;
  return endOfDayInstant(day, context.eodTime, context.eodZone);
}

interface Context extends TickerplantMachineInput {
  day: string;
  nextEodMs: number;
  attempts: number;
  lastError: string | undefined;
}

export type TickerplantEvent = { type: 'tp.stop' } | { type: 'log.failed'; error: string };

export const tickerplantMachine = setup({
  types: {
    context: {} as Context,
    input: {} as TickerplantMachineInput,
    events: {} as TickerplantEvent,
  },
  actors: {
    recover: fromPromise<{ day: string }>(async () => {
      throw new Error('recover not provided');
    }),
    rollEod: fromPromise<string, { day: string }>(async () => {
      throw new Error('rollEod not provided');
    }),
    drain: fromPromise<void>(async () => {}),
  },
  actions: {
    resumeIngest: () => {},
    pauseIngest: () => {},
  },
  guards: {
    eodDue: ({ context }) => context.clock.now() >= context.nextEodMs,
    canRetry: ({ context }) => context.attempts < context.recoverAttemptsMax,
  },
  delays: {
    untilEod: ({ context }) => Math.max(0, context.nextEodMs - context.clock.now()),
    recoverRetry: ({ context }) => context.recoverRetryMs,
  },
}).createMachine({
  id: 'tickerplant',
  context: ({ input }) => ({ ...input, day: '', nextEodMs: Number.POSITIVE_INFINITY, attempts: 0, lastError: undefined }),
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
            day: event.output.day,
            nextEodMs: nextEodOf(context, event.output.day),
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
      // A day already over (a restart after the end-of-day time) rolls at once, day by day.
      always: { guard: 'eodDue', target: 'rolling' },
      on: { 'log.failed': { target: 'recovering', actions: assign({ lastError: ({ event }) => event.error }) } },
      after: {
        untilEod: [{ guard: 'eodDue', target: 'rolling' }, { target: 'live', reenter: true }],
      },
    },
    rolling: {
      invoke: {
        src: 'rollEod',
        input: ({ context }) => ({ day: context.day }),
        onDone: {
          target: 'live',
          actions: assign(({ context, event }) => ({
            day: event.output,
            nextEodMs: nextEodOf(context, event.output),
          })),
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
