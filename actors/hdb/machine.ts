// The HDB's control flow: opening -> serving <-> reloading. A reload notice that arrives while a
// reload runs is remembered and run once after it (notices coalesce; none is lost).
import { assign, fromPromise, setup } from 'xstate';

export type HdbEvent = { type: 'hdb.reload' } | { type: 'hdb.stop' };

export const hdbMachine = setup({
  types: {
    context: {} as { again: boolean; reloads: number; lastError: string | undefined },
    events: {} as HdbEvent,
  },
  actors: {
    open: fromPromise<void>(async () => {}),
    reload: fromPromise<void>(async () => {}),
  },
  guards: { again: ({ context }) => context.again },
}).createMachine({
  id: 'hdb',
  context: { again: false, reloads: 0, lastError: undefined },
  initial: 'opening',
  on: { 'hdb.stop': '.stopped' },
  states: {
    opening: {
      invoke: {
        src: 'open',
        onDone: 'serving',
        onError: { target: 'failed', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message) }) },
      },
    },
    serving: {
      always: { guard: 'again', target: 'reloading' },
      on: { 'hdb.reload': 'reloading' },
    },
    reloading: {
      entry: assign({ again: false }),
      on: { 'hdb.reload': { actions: assign({ again: true }) } },
      invoke: {
        src: 'reload',
        onDone: { target: 'serving', actions: assign({ reloads: ({ context }) => context.reloads + 1 }) },
        onError: { target: 'serving', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message) }) },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});
