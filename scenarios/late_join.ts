// Subscribers join while the feed runs and must read the day with no gap and no duplicate.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'late-join',
  description: 'two subscribers join mid-feed (one for all tables, one for some syms of trade); both match the log',
  topology: {
    tp: { name: 'sclate', mode: 'batch', pubFreqMs: 5 },
    rdbs: ['rdblate'],
    lateJoiners: [
      { name: 'all', joinAtMs: 800 },
      { name: 'some-syms', joinAtMs: 1_600, tables: ['trade'], syms: ['S1', 'S3'] },
    ],
  },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 3_000, syms: 5 },
  faults: [],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.rdbsEqualLog, Invariants.lateJoinersEqualLog, Invariants.countsMatchLog],
} satisfies Scenario;
