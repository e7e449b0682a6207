// The WDB SIGKILLed twice mid write-down (files landed, manifest not yet) and once mid end of day
// (day flushed, merge running) while 2M rows are fed (TICKBUS_WDB_SCENARIO_ROWS scales it) and
// the day rolls under it; the RDB runs in reload mode and the gateway is asked throughout.
// Afterwards the HDB partition the WDB merged equals the log's day exactly (rows by fid, counts,
// per-sym checksum), the RDB holds exactly the log's current day, the gateway counts the log.
import { Invariants, type Scenario } from './types.ts';

const rows = Math.max(10_000, Number(process.env.TICKBUS_WDB_SCENARIO_ROWS) || 2_000_000);
const updatesPerSec = 100;
const durationMs = 16_000;

export default {
  name: 'wdb-kills',
  description: `feed ${rows} rows; SIGKILL the WDB twice mid write-down and once mid end of day; the HDB equals the log, RDB in reload mode, gateway throughout`,
  topology: {
    tp: { name: 'scwdb', mode: 'batch', pubFreqMs: 20, demoDayMs: 10_000 },
    rdbs: ['scwdbr'],
    rdbEodMode: 'reload',
    wdb: { name: 'scwdbw', settings: { maxRows: 100_000, saveIntervalMs: 200, writeDelayMs: 300, mergeDelayMs: 1_000, reloadWaitMs: 2_000, keepDays: 5 } },
    gateway: { name: 'scwdbg', everyMs: 100, timeoutMs: 10_000, gapMaxMs: 15_000 },
  },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: Math.ceil(rows / ((updatesPerSec * durationMs) / 1000)), updatesPerSec, durationMs, syms: 50 },
  faults: [
    { atMs: 2_500, target: 'scwdbw', when: 'mid-write-down', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
    { atMs: 5_500, target: 'scwdbw', when: 'mid-write-down', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
    { atMs: 9_000, target: 'scwdbw', when: 'mid-eod', action: 'kill-restart', signal: 'SIGKILL', downMs: 300 },
  ],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog, Invariants.wdbHdbEqualLog, Invariants.hdbAndRdbEqualLog, Invariants.gatewayAnswers],
  catchUpMs: 30_000,
  minEods: 1,
} satisfies Scenario;
