// The WDB's control flow: following the log (from where the intraday area's manifest says it is
// written up to) -> live; a lost subscription resubscribes after a pause from the manifest again
// (buffered rows are dropped and re-read: nothing written twice, nothing lost). The log loop
// (effects.ts) buffers and writes down itself and sends only control events here.
import { assign, fromCallback, setup } from 'xstate';

export interface WdbContext {
  day: string;
  days: number;
  resubscribes: number;
  lastError: string | undefined;
}

export type WdbEvent =
  | { type: 'log.caughtUp'; day: string }
  | { type: 'log.eod'; day: string; nextDay: string }
  | { type: 'log.failed'; error: string }
  | { type: 'wdb.stop' };

export const wdbMachine = setup({
  types: { context: {} as WdbContext, events: {} as WdbEvent },
  delays: { resubscribeMs: 1_000 },
  actors: {
    follow: fromCallback<WdbEvent>(() => () => {}),
  },
}).createMachine({
  id: 'wdb',
  context: { day: '', days: 0, resubscribes: 0, lastError: undefined },
  initial: 'following',
  states: {
    following: {
      invoke: { src: 'follow', onError: { target: 'resubscribing', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message) }) } },
      initial: 'replaying',
      on: {
        'wdb.stop': 'stopped',
        'log.failed': { target: 'resubscribing', actions: assign({ lastError: ({ event }) => event.error }) },
        'log.eod': { actions: assign({ day: ({ event }) => event.nextDay, days: ({ context }) => context.days + 1 }) },
      },
      states: {
        replaying: { on: { 'log.caughtUp': { target: 'live', actions: assign({ day: ({ event }) => event.day }) } } },
        live: {},
      },
    },
    resubscribing: {
      entry: assign({ resubscribes: ({ context }) => context.resubscribes + 1 }),
      after: { resubscribeMs: 'following' },
      on: { 'wdb.stop': 'stopped' },
    },
    stopped: { type: 'final' },
  },
});
