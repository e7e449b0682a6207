// The RDB's control flow: replaying (catching up with today's log) -> live; an end-of-day marker
// hands the finished day to the end-of-day hook while the new day keeps filling. The log loop
// (effects.ts) appends batches itself and sends only control events here: at most one per batch.
import { assign, fromCallback, setup } from 'xstate';

export interface RdbContext {
  day: string;
  days: number;
  resubscribes: number;
  lastError: string | undefined;
}

export type RdbEvent =
  | { type: 'log.caughtUp'; day: string }
  | { type: 'log.eod'; day: string; nextDay: string }
  | { type: 'log.failed'; error: string }
  | { type: 'eod.done'; day: string }
  | { type: 'eod.failed'; day: string; error: string }
  | { type: 'rdb.stop' };

export const rdbMachine = setup({
  types: { context: {} as RdbContext, events: {} as RdbEvent },
  delays: { resubscribeMs: 1_000 },
  actors: {
    follow: fromCallback<RdbEvent>(() => () => {}),
  },
}).createMachine({
  id: 'rdb',
  context: { day: '', days: 0, resubscribes: 0, lastError: undefined },
  initial: 'running',
  states: {
    running: {
      invoke: { src: 'follow', onError: { target: 'resubscribing', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message) }) } },
      on: {
        'rdb.stop': 'stopped',
        'log.failed': { target: 'resubscribing', actions: assign({ lastError: ({ event }) => event.error }) },
      },
      type: 'parallel',
      states: {
        log: {
          initial: 'replaying',
          states: {
            replaying: { on: { 'log.caughtUp': { target: 'live', actions: assign({ day: ({ event }) => event.day }) } } },
            live: {},
          },
        },
        day: {
          initial: 'open',
          states: {
            open: {
              on: {
                'log.eod': { target: 'ending', actions: assign({ day: ({ event }) => event.nextDay }) },
              },
            },
            // The finished day is with the end-of-day hook (run in order by effects.ts); the new
            // day keeps filling meanwhile.
            ending: {
              on: {
                'eod.done': { target: 'open', actions: assign({ days: ({ context }) => context.days + 1 }) },
                'eod.failed': { target: 'open', actions: assign({ lastError: ({ event }) => event.error }) },
                'log.eod': { actions: assign({ day: ({ event }) => event.nextDay }) },
              },
            },
          },
        },
      },
    },
    // The log could not be read (stream gone, server away longer than the consumer survives): wait
    // resubscribeMs and replay today from its start again (the day in memory is rebuilt).
    resubscribing: {
      entry: assign({ resubscribes: ({ context }) => context.resubscribes + 1 }),
      on: { 'rdb.stop': 'stopped' },
      after: { resubscribeMs: 'running' },
    },
    stopped: { type: 'final' },
  },
});
