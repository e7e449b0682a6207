// The tickerplant is killed with SIGKILL mid-day and restarted: feeds retry with the same ids,
// nothing acked is lost, nothing is appended twice, counts continue.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'tp-sigkill',
  description: 'SIGKILL the tickerplant mid-feed, restart it 500 ms later; the day continues',
  topology: { tp: { name: 'sctp', mode: 'batch', pubFreqMs: 5 }, rdbs: ['rdbtp'] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 3_500, syms: 10 },
  faults: [{ atMs: 1_200, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 500 }],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.countsMatchLog],
} satisfies Scenario;
