// A stalled subscriber cut off and re-joined (issue 9 part 6): a late joiner stops reading for 5 s
// while the feed runs; the tickerplant's consumer watch reports it and deletes its consumer past
// consumerDisconnectBytes; the joiner, reading again, re-creates its consumer from the message
// after the last one it read and ends with exactly the log's rows, in order. A second joiner that
// never stalls is unaffected.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'stalled-subscriber',
  description: 'a late joiner stops reading for 5 s, is cut off by the tickerplant past consumerDisconnectBytes, re-joins and ends with exactly the log rows',
  topology: {
    tp: { name: 'scslow', mode: 'batch', pubFreqMs: 5, settings: { consumerAlertBytes: 60_000, consumerDisconnectBytes: 200_000, consumerCheckMs: 250 } },
    rdbs: [],
    lateJoiners: [
      { name: 'stalled', joinAtMs: 1_000, bufferBytes: 32 * 1024, stall: { afterMs: 500, forMs: 5_000 } },
      { name: 'steady', joinAtMs: 1_500 },
    ],
  },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 20, updatesPerSec: 300, durationMs: 9_000, syms: 20 },
  faults: [],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.lateJoinersEqualLog, Invariants.stalledJoinersCut],
} satisfies Scenario;
