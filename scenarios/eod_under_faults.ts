// End-of-day markers under faults: the day rolls every second (demo days) while the tickerplant and
// then nats-server are SIGKILLed. Every marker's counts equal its day's rows per table, every
// Tb-Count restarts from the marker, and no acked row is lost or doubled across the rolls.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'eod-under-faults',
  description: 'roll the day every second while the tickerplant and then nats-server are SIGKILLed; end-of-day counts exact',
  topology: { tp: { name: 'sceod', mode: 'batch', pubFreqMs: 5, demoDayMs: 1_000 }, rdbs: [] },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 9_000, syms: 10 },
  faults: [
    { atMs: 1_600, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
    { atMs: 5_500, target: 'nats', action: 'kill-restart', signal: 'SIGKILL', downMs: 400 },
  ],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog],
  minEods: 2,
} satisfies Scenario;
