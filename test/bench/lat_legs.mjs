// Reads a BENCH_LAT_TRACE dir (lat.jsonl + gc-<pid>.jsonl from gclog.mjs) and prints the latency
// legs (feed -> TP stamp -> log store -> subscriber) at p50/p90/p99/max over the measured window
// (the first 10% dropped, as the benchmark does), and for the samples over a threshold which leg
// took the time and which GC pauses (any process) overlapped them.
//   node test/bench/lat_legs.mjs <dir> [thresholdMs=3]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const thr = Number(process.argv[3] ?? 3);
const rows = readFileSync(join(dir, 'lat.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).map(Number));
const s = rows.slice(Math.floor(rows.length * 0.1));
const ms = (ns) => ns / 1e6;
const legs = {
  total: s.map(([a, , , d]) => ms(d - a)),
  feed_to_stamp: s.map(([a, b]) => ms(b - a)),
  stamp_to_log: s.map(([, b, c]) => ms(c - b)),
  log_to_recv: s.map(([, , c, d]) => ms(d - c)),
};
const pct = (xs, p) => {
  const w = [...xs].sort((a, b) => a - b);
  return w[Math.min(w.length - 1, Math.floor(p * w.length))];
};
console.log(`samples ${s.length}`);
console.log('leg'.padEnd(16), ['p50', 'p90', 'p99', 'p99.9', 'max'].map((x) => x.padStart(8)).join(''));
for (const [k, xs] of Object.entries(legs)) console.log(k.padEnd(16), [0.5, 0.9, 0.99, 0.999, 1].map((p) => pct(xs, p).toFixed(3).padStart(8)).join(''));

const gcs = [];
const procs = {};
const cpus = [];
for (const f of readdirSync(dir).filter((f) => f.startsWith('gc-'))) {
  const pid = f.slice(3, -6);
  const lines = readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const argv = lines[0].argv ?? '';
  const name = /start (\S+)/.exec(argv)?.[1] ?? (/run\.ts/.test(argv) ? 'bench' : /tsx\/dist\/cli/.test(argv) ? 'tsx-cli' : argv.slice(-40));
  procs[pid] = name;
  for (const g of lines.slice(1)) if (g.cpu === undefined) gcs.push({ ...g, pid, name });
  const cs = lines.filter((l) => l.cpu !== undefined);
  cpus.push({ name, cs });
}
const t0 = s[0][0] / 1e6;
const t1 = s[s.length - 1][3] / 1e6;
const inWin = gcs.filter((g) => g.t >= t0 && g.t <= t1);
const byProc = {};
for (const g of inWin) {
  const k = `${g.name}/${g.kind}`;
  byProc[k] ??= { n: 0, total: 0, max: 0 };
  byProc[k].n++;
  byProc[k].total += g.ms;
  byProc[k].max = Math.max(byProc[k].max, g.ms);
}
console.log(`\nGC in the measured window (${((t1 - t0) / 1000).toFixed(1)} s):`);
for (const [k, v] of Object.entries(byProc)) console.log(`  ${k.padEnd(24)} n=${String(v.n).padStart(5)} total=${v.total.toFixed(1)}ms max=${v.max.toFixed(2)}ms`);

console.log('\nCPU over the measured window (ms CPU per s; event-loop thread runnable but not running, ms per s), heap and ArrayBuffer bytes at its end:');
for (const { name, cs } of cpus) {
  const a = cs.filter((c) => c.t >= t0).at(0);
  const b = cs.filter((c) => c.t <= t1).at(-1);
  if (!a || !b || b.t <= a.t) continue;
  const secs = (b.t - a.t) / 1000;
  console.log(`  ${name.padEnd(12)} ${((b.cpu - a.cpu) / secs).toFixed(0).padStart(5)} ms/s (sys ${((b.sys - a.sys) / secs).toFixed(0)}), waiting for a CPU ${b.wait === undefined ? '?' : ((b.wait - a.wait) / secs).toFixed(0)} ms/s  heap ${(b.heap / 1e6).toFixed(1)} MB  arrayBuffers ${(b.ab / 1e6).toFixed(1)} MB`);
}

const slow = s.filter(([a, , , d]) => ms(d - a) > thr);
console.log(`\n${slow.length} samples over ${thr} ms (${((100 * slow.length) / s.length).toFixed(2)}%)`);
let withGc = 0;
const legCount = { feed_to_stamp: 0, stamp_to_log: 0, log_to_recv: 0 };
const shown = [];
for (const [a, b, c, d] of slow) {
  const l = { feed_to_stamp: ms(b - a), stamp_to_log: ms(c - b), log_to_recv: ms(d - c) };
  const top = Object.entries(l).sort((x, y) => y[1] - x[1])[0][0];
  legCount[top]++;
  const ov = gcs.filter((g) => g.t <= d / 1e6 && g.t + g.ms >= a / 1e6);
  if (ov.length) withGc++;
  if (shown.length < 25) shown.push(`  total ${ms(d - a).toFixed(2)}  legs ${Object.values(l).map((x) => x.toFixed(2)).join(' / ')}  gc: ${ov.map((g) => `${g.name}:${g.kind} ${g.ms.toFixed(2)}ms@${(g.t - a / 1e6).toFixed(2)}`).join(', ') || '-'}`);
}
console.log(`  biggest leg: ${JSON.stringify(legCount)}; overlapping a GC pause: ${withGc} (${((100 * withGc) / s.length).toFixed(2)}% of all samples)`);
console.log(shown.join('\n'));
