// Scale-out on a NATS cluster (issue 12): three nats-servers, the tickerplant's log and the
// buckets with three replicas, two RDB replicas behind a gateway. Mid-ingest at a steady rate the
// node leading the log stream is SIGKILLed and brought back 1 s later, and one RDB replica is
// SIGKILLed and restarted: the feed retries with the same ids, the gateway keeps answering (a
// count every 100 ms, the longest gap bounded and reported), and afterwards every acked row is in
// the log once and in both RDBs.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'cluster-node-kill',
  description: 'SIGKILL the log-leading node of a 3-node cluster (R3) mid-ingest and bring it back; an RDB replica too; gateway queried every 100 ms',
  topology: {
    cluster: 3,
    tp: { name: 'scclu', mode: 'batch', pubFreqMs: 5 },
    rdbs: ['rdbclu1', 'rdbclu2'],
    gateway: { name: 'gwclu', everyMs: 100, timeoutMs: 2_000, gapMaxMs: 8_000 },
  },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 200, durationMs: 6_000, syms: 10 },
  faults: [
    { atMs: 1_500, target: 'nats', node: 'log-leader', action: 'kill-restart', signal: 'SIGKILL', downMs: 1_000 },
    { atMs: 4_000, target: 'rdbclu1', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
  ],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.countsMatchLog, Invariants.gatewayAnswers],
  catchUpMs: 20_000,
} satisfies Scenario;
