// The chained tickerplant's control flow. Log mode `create`: recovering (read the own log's
// watermark) -> forwarding (follow the parent's log, append to the own) -> on any failure (the
// parent's log unreadable, the own log unwritable) waiting recoverRetryMs, then recovering again:
// the chained tp never exits because its parent is gone (TorQ's does), its subscribers stay
// connected to its log. Modes `none` and `parent`: routing (write the route) -> routed.
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { LogMode } from '../../bus/chain.ts';

export interface ChainedTpContext {
  logMode: LogMode;
  recoverRetryMs: number;
  recoveries: number;
  lastError: string | undefined;
}

export type ChainedTpEvent =
  | { type: 'forward.subscribed' }
  | { type: 'forward.failed'; error: string }
  | { type: 'ctp.stop' };

export const chainedTpMachine = setup({
  types: { context: {} as ChainedTpContext, events: {} as ChainedTpEvent, input: {} as { logMode: LogMode; recoverRetryMs: number } },
  delays: { recoverRetryMs: ({ context }) => context.recoverRetryMs },
  guards: { ownLog: ({ context }) => context.logMode === 'create' },
  actors: {
    recover: fromPromise(async () => {}),
    forward: fromCallback<ChainedTpEvent>(() => () => {}),
    route: fromPromise(async () => {}),
  },
}).createMachine({
  id: 'chainedtp',
  context: ({ input }) => ({ logMode: input.logMode, recoverRetryMs: input.recoverRetryMs, recoveries: 0, lastError: undefined }),
  initial: 'starting',
  on: { 'ctp.stop': '.stopped' },
  states: {
    starting: { always: [{ guard: 'ownLog', target: 'recovering' }, { target: 'routing' }] },
    recovering: {
      invoke: {
        src: 'recover',
        onDone: 'forwarding',
        onError: { target: 'waiting', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) },
      },
    },
    forwarding: {
      invoke: { src: 'forward', onError: { target: 'waiting', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) } },
      initial: 'opening',
      states: {
        opening: { on: { 'forward.subscribed': 'open' } },
        open: {},
      },
      on: { 'forward.failed': { target: 'waiting', actions: assign({ lastError: ({ event }) => event.error }) } },
    },
    waiting: {
      entry: assign({ recoveries: ({ context }) => context.recoveries + 1 }),
      after: { recoverRetryMs: 'recovering' },
    },
    routing: {
      invoke: {
        src: 'route',
        onDone: 'routed',
        onError: { target: 'routeWaiting', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) },
      },
    },
    routeWaiting: { after: { recoverRetryMs: 'routing' } },
    routed: {},
    stopped: { type: 'final' },
  },
});
