// memorybatch across a tickerplant SIGKILL: each timer tick of both tables is one multi-table log
// message; the tickerplant is killed mid-feed and restarted, feeds retry with the same ids. Every
// acked row is once in the log, Tb-Counts continue, and the RDB (reading one batch event per table
// of each multi-table message) ends equal to the log.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'memorybatch-sigkill',
  description: 'SIGKILL a memorybatch tickerplant mid-feed, restart it 500 ms later; multi-table messages all or none, counts continue',
  topology: { tp: { name: 'scmem', mode: 'memorybatch', pubFreqMs: 5 }, rdbs: ['rdbmem'] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 3_500, syms: 10 },
  faults: [{ atMs: 1_200, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 500 }],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.countsMatchLog],
} satisfies Scenario;
