// The crash matrix of issue 12: a seeded random schedule of SIGKILLs of the tickerplant, the RDB
// and nats-server over a feed, with the day rolling every few seconds so end-of-day writes to the
// Parquet HDB happen under the faults. Afterwards: every acked row is in the log once, every
// count is exact, each ended day in the HDB equals the log's day, and the RDB's current day the
// rest. The seed is in the test's title; TICKBUS_CRASH_SEED=<seed> replays one schedule,
// TICKBUS_CRASH_SCALE=<n> multiplies the feed (n=9 is ~1M rows; CI runs n=1, ~110k rows).
import { Invariants, type Scenario } from './types.ts';

const seed = Number(process.env.TICKBUS_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const scale = Math.max(1, Number(process.env.TICKBUS_CRASH_SCALE ?? 1));
const durationMs = 9_000;

/** mulberry32: a small seeded PRNG, so a schedule can be replayed from its seed. */
function prng(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 6 to 8 kills within the feed; a target is never killed again before it is back and settled. */
function schedule(): Scenario['faults'] {
  const rnd = prng(seed);
  const targets = ['tp', 'rdbmatrix', 'nats'] as const;
  const freeAt = new Map<string, number>(targets.map((t) => [t, 500]));
  const out: Scenario['faults'] = [];
  const n = 6 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const target = targets[Math.floor(rnd() * targets.length)]!;
    const atMs = Math.round(freeAt.get(target)! + rnd() * 2_500);
    if (atMs > durationMs - 1_000) continue;
    const downMs = Math.round(target === 'nats' ? 300 + rnd() * 1_700 : 100 + rnd() * 1_400);
    out.push({ atMs, target, action: 'kill-restart', signal: 'SIGKILL', downMs });
    freeAt.set(target, atMs + downMs + 1_500);
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}

export default {
  name: 'crash-matrix',
  description: `seeded random SIGKILLs of tickerplant, RDB and nats-server with end-of-day writes to the HDB (seed ${seed}, scale ${scale}); 0 lost, 0 duplicated`,
  topology: { tp: { name: 'scmatrix', mode: 'batch', pubFreqMs: 5, demoDayMs: 1_200 }, rdbs: ['rdbmatrix'], hdb: true },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 40 * scale, updatesPerSec: 300, durationMs, syms: 20 },
  faults: schedule(),
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog, Invariants.hdbAndRdbEqualLog],
  catchUpMs: 20_000,
  minEods: 2,
} satisfies Scenario;
