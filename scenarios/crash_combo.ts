// The independent crash test of issue 7 as a scenario: the tickerplant, the RDB and nats-server
// are all SIGKILLed at once mid-feed (the feed retries with the same ids) and the two processes
// are restarted while the server is still down (they wait for it, bounded), then the RDB is killed
// twice more. No acked row is lost or duplicated, every Tb-Count (TorQ's .u.icounts) equals the
// rows of its table in the log up to that message, and the RDB catches up within a bound.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'crash-combo',
  description: 'SIGKILL tickerplant, RDB and nats-server together, then the RDB twice more; counts exact, RDB catches up',
  topology: { tp: { name: 'sccombo', mode: 'batch', pubFreqMs: 5 }, rdbs: ['rdbcombo'] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 7_000, syms: 10 },
  faults: [
    // The tickerplant and the RDB come back while nats-server is still down: they wait for it.
    { atMs: 1_000, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 200 },
    { atMs: 1_000, target: 'rdbcombo', action: 'kill-restart', signal: 'SIGKILL', downMs: 100 },
    { atMs: 1_000, target: 'nats', action: 'kill-restart', signal: 'SIGKILL', downMs: 2_500 },
    { atMs: 4_500, target: 'rdbcombo', action: 'kill-restart', signal: 'SIGKILL', downMs: 200 },
    { atMs: 6_000, target: 'rdbcombo', action: 'kill-restart', signal: 'SIGKILL', downMs: 200 },
  ],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.countsMatchLog],
  catchUpMs: 10_000,
} satisfies Scenario;
