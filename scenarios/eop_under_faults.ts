// End-of-period markers under faults: an intraday period ends every second while the tickerplant
// is SIGKILLed (down across a period boundary, so the restarted tickerplant rolls the period it
// slept through) and then nats-server is. Every marker's counts equal its period's rows in the
// log, one marker per period, periods contiguous, and no acked row is lost or doubled.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'eop-under-faults',
  description: 'end a period every second while the tickerplant (down across a boundary) and then nats-server are SIGKILLed; period counts exact',
  topology: { tp: { name: 'sceop', mode: 'batch', pubFreqMs: 5, intradayFreqMs: 1_000 }, rdbs: [] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 9_000, syms: 10 },
  faults: [
    { atMs: 1_900, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 1_300 },
    { atMs: 5_500, target: 'nats', action: 'kill-restart', signal: 'SIGKILL', downMs: 400 },
  ],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog, Invariants.periodCountsMatchLog],
  minEops: 3, // ~9 one-second periods, fewer under load (rolls during recovery merge into one marker)
} satisfies Scenario;
