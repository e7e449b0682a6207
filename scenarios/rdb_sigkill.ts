// The RDB is killed with SIGKILL mid-feed and restarted: it replays today's log and ends with
// exactly the log's rows.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'rdb-sigkill',
  description: 'SIGKILL the RDB mid-feed, restart it 300 ms later; it ends with exactly the log',
  topology: { tp: { name: 'scrdb', mode: 'batch', pubFreqMs: 5 }, rdbs: ['rdbkill', 'rdbwitness'] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 20, updatesPerSec: 300, durationMs: 3_000, syms: 20 },
  faults: [{ atMs: 1_200, target: 'rdbkill', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 }],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.countsMatchLog],
} satisfies Scenario;
