// The chained tickerplant's control flow. Log mode `create`: recovering (read the own log's
// watermark) -> forwarding (follow the parent's log, append to the own) -> on any failure (the
// parent's log unreadable, the own log unwritable) waiting recoverRetryMs, then recovering again:
// the chained tp never exits because its parent is gone (TorQ's does), its subscribers stay
// connected to its log. Modes `none` and `parent`: routing (write the route, look for the parent)
// -> routed. A parent that does not exist at all (no log, no route: NO_MATCHING_PROCESS) is waited
// for at most parentWaitMs from the first miss, then the chained tp is `failed` (decision 121).
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { LogMode } from '../../bus/chain.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { systemClock, type Clock } from '../common/clock.ts';

export interface ChainedTpContext {
  /** The injected clock: how long the parent has been missing is measured on it. */
  clock: Clock;
  logMode: LogMode;
  recoverRetryMs: number;
  parentWaitMs: number;
  recoveries: number;
  lastError: string | undefined;
  /** The last failure's TickbusError code, when it had one. */
  lastErrorCode: string | undefined;
  /** When the parent was first found missing (epoch ms, elapsed time only), cleared once it is followed. */
  missingSince: number | undefined;
}

export type ChainedTpEvent =
  | { type: 'forward.subscribed' }
  | { type: 'forward.failed'; error: string; code?: string }
  | { type: 'ctp.stop' };

type Failure = { message: string; code: string | undefined };

function failure(e: unknown): Failure {
  if (e instanceof TickbusError) return { message: e.message, code: e.code };
  if (typeof e === 'object' && e !== null && 'error' in e) return { message: String((e as { error: unknown }).error), code: (e as { code?: string }).code };
  return { message: String((e as Error)?.message ?? e), code: undefined };
}

/** The failure of an invoked actor's error event or of a forward.failed event. */
function failureOf(event: { type: string; error?: unknown; code?: string }): Failure {
  return event.type === 'forward.failed' ? { message: String(event.error), code: event.code } : failure(event.error);
}

export const chainedTpMachine = setup({
  types: { context: {} as ChainedTpContext, events: {} as ChainedTpEvent, input: {} as { logMode: LogMode; recoverRetryMs: number; parentWaitMs?: number; clock?: Clock } },
  delays: { recoverRetryMs: ({ context }) => context.recoverRetryMs },
  guards: {
    ownLog: ({ context }) => context.logMode === 'create',
    // The parent is missing again and has been since longer than parentWaitMs (0: at the first miss).
    parentWaitOver: ({ context, event }) => failureOf(event as never).code === ErrorCode.NO_MATCHING_PROCESS && context.clock.now() - (context.missingSince ?? context.clock.now()) >= context.parentWaitMs,
  },
  actions: {
    noteFailure: assign(({ context, event }) => {
      const f = failureOf(event as never);
      const missing = f.code === ErrorCode.NO_MATCHING_PROCESS;
      return { lastError: f.message, lastErrorCode: f.code, missingSince: missing ? (context.missingSince ?? context.clock.now()) : undefined };
    }),
  },
  actors: {
    recover: fromPromise(async () => {}),
    forward: fromCallback<ChainedTpEvent>(() => () => {}),
    route: fromPromise(async () => {}),
  },
}).createMachine({
  id: 'chainedtp',
  context: ({ input }) => ({ clock: input.clock ?? systemClock, logMode: input.logMode, recoverRetryMs: input.recoverRetryMs, parentWaitMs: input.parentWaitMs ?? 600_000, recoveries: 0, lastError: undefined, lastErrorCode: undefined, missingSince: undefined }),
  initial: 'starting',
  on: { 'ctp.stop': '.stopped' },
  states: {
    starting: { always: [{ guard: 'ownLog', target: 'recovering' }, { target: 'routing' }] },
    recovering: {
      invoke: {
        src: 'recover',
        onDone: 'forwarding',
        onError: [{ guard: 'parentWaitOver', target: 'failed', actions: 'noteFailure' }, { target: 'waiting', actions: 'noteFailure' }],
      },
    },
    forwarding: {
      invoke: { src: 'forward', onError: [{ guard: 'parentWaitOver', target: 'failed', actions: 'noteFailure' }, { target: 'waiting', actions: 'noteFailure' }] },
      initial: 'opening',
      states: {
        opening: { on: { 'forward.subscribed': { target: 'open', actions: assign({ missingSince: undefined }) } } },
        open: {},
      },
      on: { 'forward.failed': [{ guard: 'parentWaitOver', target: 'failed', actions: 'noteFailure' }, { target: 'waiting', actions: 'noteFailure' }] },
    },
    waiting: {
      entry: assign({ recoveries: ({ context }) => context.recoveries + 1 }),
      after: { recoverRetryMs: 'recovering' },
    },
    routing: {
      invoke: {
        src: 'route',
        onDone: { target: 'routed', actions: assign({ missingSince: undefined, lastError: undefined, lastErrorCode: undefined }) },
        onError: [{ guard: 'parentWaitOver', target: 'failed', actions: 'noteFailure' }, { target: 'routeWaiting', actions: 'noteFailure' }],
      },
    },
    routeWaiting: { after: { recoverRetryMs: 'routing' } },
    routed: {},
    // The parent never appeared within parentWaitMs: nothing is retried; status and log say why
    // (`actors restart <name>` once the parent exists or the config names the right one).
    failed: {},
    stopped: { type: 'final' },
  },
});
