// A buffer event across a tickerplant SIGKILL: an event opens, the bufferFunct holds the odd fids,
// the tickerplant is SIGKILLed mid-event and restarted (it re-opens the event from the log), the
// feed retries with the same ids, the event ends with replay. Every acked row is once in the live
// log or once in the buffer log while the event is open, and once in the live log after the replay.
import { Invariants, type Scenario } from './types.ts';

export default {
  name: 'buffer-sigkill',
  description: 'SIGKILL the tickerplant during a buffer event; held rows once in the buffer log, every acked row once in the live log after end + replay',
  topology: {
    tp: { name: 'scbuf', mode: 'batch', pubFreqMs: 5, bufferEvent: { id: 'rebalance-1', startAtMs: 600, endAtMs: 3_000, replay: true } },
    rdbs: ['rdbbuf'],
  },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 300, durationMs: 3_800, syms: 10 },
  faults: [{ atMs: 1_500, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 500 }],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog, Invariants.rdbsEqualLog, Invariants.bufferRowsOnce],
} satisfies Scenario;
