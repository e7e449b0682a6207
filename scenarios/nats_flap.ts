// nats-server is SIGKILLed twice during ingest while appends are pipelined: appends in flight when
// the connection breaks may be lost while later ones are re-sent from the client's reconnect
// buffer. The log must stay in order: every Tb-Count equals the rows of its table up to that
// message (counts never run ahead or go backwards), and nothing acked is lost or doubled.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'nats-flap',
  description: 'SIGKILL nats-server twice mid-ingest with pipelined appends; the log stays ordered and counts exact',
  topology: { tp: { name: 'scflap', mode: 'immediate' }, rdbs: ['rdbflap'] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 5, updatesPerSec: 600, durationMs: 4_500, syms: 10 },
  faults: [
    { atMs: 1_000, target: 'nats', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
    { atMs: 2_800, target: 'nats', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
  ],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.countsMatchLog],
  catchUpMs: 10_000,
} satisfies Scenario;
