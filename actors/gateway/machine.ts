// The gateway's control flow: starting (open the registry, load the backends) -> up.serving
// (accepting queries) -> up.draining (no new queries; those admitted get drainTimeoutMs to finish)
// -> stopped, or failed when the registry cannot be opened or watched. No I/O here: the effects
// (effects.ts) provide the invoked actors and the actions by name.
//
// Per-query work does not go through this machine: at thousands of queries a second, one XState
// event per query and per part would cost more than the query itself (~5 µs an event, and a
// context copy per assign). The per-query decisions live in scheduler.ts, pure and driven by the
// same injected clock; the machine decides only whether the gateway accepts queries at all.
import { assign, fromCallback, fromPromise, setup } from 'xstate';

export interface GatewayContext {
  /** Backends known (live or not) and their types, for status. */
  backends: number;
  types: string[];
  drainTimeoutMs: number;
  lastError: string | undefined;
}

export type GatewayEvent =
  | { type: 'gateway.stop' }
  | { type: 'backends.changed'; backends: number; types: string[] }
  | { type: 'discovery.failed'; error: string };

export const gatewayMachine = setup({
  types: {
    context: {} as GatewayContext,
    events: {} as GatewayEvent,
    input: {} as { drainTimeoutMs: number },
  },
  actors: {
    /** Opens the registry and loads the backends registered so far. */
    connect: fromPromise<void>(async () => {}),
    /** Deadline and liveness timers, registry watch: runs while serving and draining. */
    serve: fromCallback<GatewayEvent>(() => () => {}),
    /** Resolves once every admitted query is answered. */
    drain: fromPromise<void>(async () => {}),
  },
  actions: {
    /** Subscribe to gw.<name>.sync|async (and the any-gateway subjects). */
    startAccepting: () => {},
    /** Unsubscribe: new queries go to another gateway or get no responders. */
    stopAccepting: () => {},
    /** Answer every query still admitted with NOT_READY (stopping) and release the bus resources. */
    release: () => {},
  },
  delays: {
    drainTimeout: ({ context }) => context.drainTimeoutMs,
  },
}).createMachine({
  id: 'gateway',
  context: ({ input }) => ({ backends: 0, types: [], drainTimeoutMs: input.drainTimeoutMs, lastError: undefined }),
  initial: 'starting',
  states: {
    starting: {
      invoke: {
        src: 'connect',
        onDone: 'up',
        onError: { target: 'failed', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) },
      },
      on: { 'gateway.stop': 'stopped' },
    },
    up: {
      invoke: { src: 'serve' },
      on: {
        'backends.changed': { actions: assign({ backends: ({ event }) => event.backends, types: ({ event }) => event.types }) },
        'discovery.failed': { target: 'failed', actions: assign({ lastError: ({ event }) => event.error }) },
      },
      initial: 'serving',
      states: {
        serving: {
          entry: 'startAccepting',
          exit: 'stopAccepting',
          on: { 'gateway.stop': 'draining' },
        },
        draining: {
          invoke: { src: 'drain', onDone: '#gateway.stopped' },
          after: { drainTimeout: '#gateway.stopped' },
        },
      },
    },
    stopped: { type: 'final', entry: 'release' },
    failed: { type: 'final', entry: 'release' },
  },
});
