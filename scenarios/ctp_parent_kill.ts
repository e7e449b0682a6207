// A chained tickerplant whose parent is SIGKILLed mid-feed and restarted, then is SIGKILLed itself,
// with demo days rolling every second: its subscriber, connected throughout, and its own log hold
// every parent row (its tables and syms) exactly once, in the parent's order, its days end where the
// parent's do, with exact counts (issue 9 part 5; decision 99).
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'ctp-parent-kill',
  description: 'SIGKILL the parent tickerplant mid-feed (restart 500 ms later), then the chained tp (coalescing, sym filter), days rolling; its subscriber and log match the parent log',
  topology: { tp: { name: 'scctp', mode: 'batch', pubFreqMs: 5, demoDayMs: 1_000 }, rdbs: [], chained: { name: 'scctp2', pubFreqMs: 20, syms: ['S0', 'S2', 'S3'] } },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 4_000, syms: 5 },
  faults: [
    { atMs: 1_000, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 500 },
    { atMs: 2_600, target: 'scctp2', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
  ],
  minEods: 2,
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog, Invariants.chainedEqualLog],
} satisfies Scenario;
