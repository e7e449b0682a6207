// The nats-server itself is killed mid-ingest and restarted on the same port and store: no acked
// row is lost, none is appended twice, the RDB and a late joiner still match the log.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'nats-restart',
  description: 'SIGKILL nats-server mid-ingest, restart it 500 ms later on the same port and store',
  topology: {
    tp: { name: 'scnats', mode: 'batch', pubFreqMs: 5 },
    rdbs: ['rdbnats'],
    lateJoiners: [{ name: 'joiner', joinAtMs: 600 }],
  },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 4_000, syms: 10 },
  faults: [{ atMs: 1_500, target: 'nats', action: 'kill-restart', signal: 'SIGKILL', downMs: 500 }],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.lateJoinersEqualLog, Invariants.countsMatchLog],
} satisfies Scenario;
