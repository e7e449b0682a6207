// `npm run bench`: measures the tick path against the raw NATS baseline in the same run, prints a
// table and writes test/bench/out/latest.json as {at, scale, metrics: [{metric, value, unit, baseline, ratio, target, met}]}.
// Each process the figures depend on is a real OS process (feed = this one, tickerplant and RDB
// = `actors start` children, nats-server), all sharing the machine's cores.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { nowNs } from '../../actors/common/clock.ts';
import { encode } from '../../bus/codec.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { Publisher } from '../../bus/publisher.ts';
import { ensureStream, manager } from '../../bus/streams.ts';
import { subscribe } from '../../bus/subscriber.ts';
import { defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { printTable } from '../../ops/cli/table.ts';
import { MultiBar } from 'cli-progress';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';
import { nodeFlags } from '../../ops/node_flags.mjs';
import { pump, SYMS, tradeCols } from './drive.ts';
import { judge, type Metric } from './metric.ts';

export type { Metric };

const here = import.meta.dirname;
const scale = Number(process.env.BENCH_SCALE ?? 1);
const BATCH_ROWS = 1000;
const tables = {
  trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' },
  lat: { time: 'timestamp', sym: 'symbol', sent: 'long' },
};

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

async function baseline(nc: NatsConnection, url: string, rows: number): Promise<number> {
  const stream = 'BENCH_RAW';
  await ensureStream(await manager(nc), { name: stream, subjects: ['raw.>'], storage: 'file' as never, max_msg_size: 2 * 1024 * 1024 });
  const id = 'raw';
  const ready = nc.subscribe(`bench.${id}.ready`, { max: 1 });
  const done = nc.subscribe(`bench.${id}.done`, { max: 1 });
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'baseline_consumer.ts'), url, stream, id, String(rows)], { stdio: 'inherit' });
  for await (const _ of ready) break;
  const pipe = new Pipeline(nc, { timeoutMs: 30_000, maxInflight: 1024 });
  const h = headers();
  h.set('Content-Type', 'application/cbor');
  const cols = tradeCols(BATCH_ROWS, true);
  const t0 = performance.now();
  const sent = pump(rows / BATCH_ROWS, 64, () => pipe.request('raw.trade', encode({ type: 'tickbus.v1.batch', table: 'trade', day: '2026-11-22', n: BATCH_ROWS, cols }), h));
  for await (const _ of done) break;
  const secs = (performance.now() - t0) / 1000;
  await sent;
  pipe.close();
  await new Promise((r) => child.once('exit', r));
  await (await manager(nc)).streams.delete(stream);
  return rows / secs;
}

interface System {
  tp: Proc;
  rdb?: Proc;
  stop(): Promise<void>;
}

async function system(url: string, dir: string, name: string, tpSettings: Record<string, unknown>, withRdb: boolean): Promise<System> {
  const cfg = join(dir, `${name}.json`);
  writeFileSync(cfg, JSON.stringify({ tables, defaults: { tickerplant: tpSettings, rdb: { tp: name, subscribeTables: ['trade'] } } }));
  const nc = await connect({ servers: url.split(',') }); // a cluster's URLs come comma separated
  const tp = spawnProc('tickerplant', name, cfg, url);
  await waitUp(nc, name);
  let rdb: Proc | undefined;
  if (withRdb) {
    rdb = spawnProc('rdb', `${name}rdb`, cfg, url);
    await waitUp(nc, `${name}rdb`);
  }
  await nc.close();
  return {
    tp,
    rdb,
    async stop() {
      if (rdb) await stopProc(rdb);
      await stopProc(tp);
    },
  };
}

async function ingest(nc: NatsConnection, url: string, dir: string, name: string, mode: 'batch' | 'immediate', rows: number, tpSettings: Record<string, unknown> = {}): Promise<{ rowsPerSec: number; bytesPerRow: number }> {
  const sys = await system(url, dir, name, { mode, ...tpSettings, ...JSON.parse(process.env.BENCH_TP ?? '{}') }, true);
  const pub = new Publisher(nc, { tp: name, inflightMax: 1024 });
  const cols = tradeCols(BATCH_ROWS, false);
  const rdbName = `${name}rdb`;
  const t0 = performance.now();
  const sending = pump(rows / BATCH_ROWS, 48, () => pub.publish('trade', { cols }));
  await waitFor(async () => ((await status<{ rows: number }>(nc, rdbName))?.rows ?? 0) >= rows, 300_000, 5);
  const secs = (performance.now() - t0) / 1000;
  await sending;
  const st = (await status<{ bytes: number; tables: { trade: number } }>(nc, rdbName))!;
  pub.close();
  await sys.stop();
  return { rowsPerSec: rows / secs, bytesPerRow: st.bytes / st.tables.trade };
}

/** Single-row acked updates through `Publisher` (the same client, window and rows for both). */
async function singleRows(nc: NatsConnection, tp: string, rows: number): Promise<number> {
  const pub = new Publisher(nc, { tp, inflightMax: 8192 });
  const row = (i: number) => ({ rows: [[SYMS[i % SYMS.length], 100.5, 100]] });
  await pump(2_000, 1_000, (i) => pub.publish('trade', row(i))); // warm up
  const t0 = performance.now();
  await pump(rows, 2_000, (i) => pub.publish('trade', row(i)));
  const secs = (performance.now() - t0) / 1000;
  pub.close();
  return rows / secs;
}

async function singleAcked(nc: NatsConnection, url: string, dir: string, rows: number): Promise<number> {
  const sys = await system(url, dir, 'single', { mode: 'batch', pubFreqMs: 2 }, false);
  const r = await singleRows(nc, 'single', rows);
  await sys.stop();
  return r;
}

/** The baseline: a plain nats.js responder process that decodes each update and replies (no JetStream). */
async function rawRequestReply(nc: NatsConnection, url: string, rows: number): Promise<number> {
  const ready = nc.subscribe('bench.rawrr.ready', { max: 1 });
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'rr_responder.ts'), url, 'rawrr'], { stdio: 'inherit' });
  for await (const _ of ready) break;
  try {
    return await singleRows(nc, 'rawrr', rows);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function latency(nc: NatsConnection, url: string, dir: string, seconds: number): Promise<{ p50: number; p99: number; feedToTpP50: number; feedToTpP99: number }> {
  const sys = await system(url, dir, 'lat', { mode: 'immediate' }, false);
  const schema = defineTable('lat', tables.lat);
  const mem = new MemTable(schema, new SymbolTable());
  const lat: number[] = [];
  const legs: number[] = []; // feed -> tickerplant stamp
  // BENCH_LAT_TRACE=<dir>: every sample's clocks (feed send, TP stamp, log store, receive; epoch
  // ns) go to <dir>/lat.jsonl, to line up with GC pauses (test/bench/gclog.mjs, lat_legs.mjs).
  const trace = process.env.BENCH_LAT_TRACE;
  const samples: string[] = [];
  const stopNatsSampler = trace ? sampleNatsServer(url, join(trace, 'gc-nats.jsonl')) : () => {};
  const sub = await subscribe(nc, { tp: 'lat', tables: ['lat'], from: 'live' });
  const reading = (async () => {
    for await (const e of sub) {
      if (e.type !== 'batch') continue;
      mem.append(e.batch); // what the RDB does with it
      const now = nowNs();
      const sent = (e.batch.cols.sent as BigInt64Array)[0]!;
      lat.push(Number(now - sent) / 1e6);
      legs.push(Number((e.batch.cols.time as BigInt64Array)[0]! - sent) / 1e6);
      if (trace) samples.push(`[${sent},${(e.batch.cols.time as BigInt64Array)[0]!},${e.logNs},${now}]`);
    }
  })();
  const pub = new Publisher(nc, { tp: 'lat' });
  // Evenly paced: each timer turn sends the updates due by now (usually one), 1000 updates of 100
  // rows a second = 100k rows/s. (Bursts would measure queueing in the feed, not the path.)
  const total = seconds * 1000;
  const codes = Uint32Array.from({ length: 100 }, (_, i) => i % SYMS.length);
  const pending: Promise<unknown>[] = [];
  const t0 = performance.now();
  let sentCount = 0;
  while (sentCount < total) {
    const due = Math.min(total, Math.floor(performance.now() - t0) + 1);
    for (; sentCount < due; sentCount++) {
      const sent = new BigInt64Array(100).fill(nowNs());
      pending.push(pub.publish('lat', { cols: { sym: { dict: SYMS, codes }, sent } }));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  await waitFor(async () => lat.length >= total, 30_000);
  await sub.close();
  await reading;
  pub.close();
  await sys.stop();
  stopNatsSampler();
  if (trace) writeFileSync(join(trace, 'lat.jsonl'), samples.join('\n') + '\n');
  const pct = (xs: number[], p: number) => {
    const w = xs.slice(Math.floor(xs.length * 0.1)).sort((a, b) => a - b);
    return w[Math.min(w.length - 1, Math.floor(p * w.length))]!;
  };
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), feedToTpP50: pct(legs, 0.5), feedToTpP99: pct(legs, 0.99) };
}

/** For BENCH_LAT_TRACE: nats-server's CPU and run-queue wait (all threads, Linux /proc) every
 *  500 ms, in gclog.mjs's format, so lat_legs.mjs shows it next to the Node processes. */
function sampleNatsServer(url: string, file: string): () => void {
  const port = new URL(url).port;
  const pid = readdirSync('/proc').find((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return /nats-server$/.test(argv[0] ?? '') && argv.includes(port);
    } catch {
      return false;
    }
  });
  if (!pid) return () => {};
  writeFileSync(file, JSON.stringify({ argv: 'nats-server' }) + '\n');
  const timer = setInterval(() => {
    let cpu = 0;
    let wait = 0;
    try {
      for (const t of readdirSync(`/proc/${pid}/task`)) {
        const [run, delay] = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ');
        cpu += Number(run) / 1e6;
        wait += Number(delay) / 1e6;
      }
    } catch {
      return;
    }
    appendFileSync(file, JSON.stringify({ t: Date.now(), cpu, sys: 0, wait, heap: 0, ab: 0 }) + '\n');
  }, 500);
  return () => clearInterval(timer);
}

/** Logs `rows` trade rows (10k-row batches in the tickerplant's format) and an end-of-day marker,
 *  then times `replay` of that day into a fresh HDB partition. */
async function replayBench(nc: NatsConnection, dir: string, rows: number): Promise<number> {
  const tp = 'rpb';
  await ensureStream(await manager(nc), { name: `TICK_${tp}`, subjects: [`tick.${tp}.>`], storage: 'file' as never, max_msg_size: 1024 * 1024 });
  const pipe = new Pipeline(nc, { timeoutMs: 30_000, maxInflight: 1024 });
  const per = 10_000;
  const base = tradeCols(per, true);
  const t0ns = 1_795_305_600_000_000_000n; // 2026-11-22T00:00:00Z
  let count = 0;
  await pump(Math.ceil(rows / per), 32, (i) => {
    const time = new BigInt64Array(per);
    for (let k = 0; k < per; k++) time[k] = t0ns + BigInt(i * per + k) * 1_000_000n;
    count += per;
    const h = headers();
    h.set('Tb-Day', '2026-11-22');
    h.set('Tb-Count', String(count));
    return pipe.request(`tick.${tp}.trade`, encode({ type: 'tickbus.v1.batch', table: 'trade', day: '2026-11-22', n: per, cols: { ...base, time } }), h);
  });
  await pipe.request(`tick.${tp}._ctl.eod`, encode({ type: 'tickbus.v1.eod', day: '2026-11-22', nextDay: '2026-11-23', counts: { trade: rows }, time: 0n }));
  pipe.close();
  const { replay } = await import('../../actors/replay/replay.ts');
  const t0 = performance.now();
  const r = await replay(nc, { tp, hdbDir: join(dir, 'replay-hdb'), tables: { trade: tables.trade }, date: '2026-11-22' });
  const secs = (performance.now() - t0) / 1000;
  if (r.rows['2026-11-22']?.trade !== rows) throw new Error(`replay wrote ${JSON.stringify(r.rows)}, expected ${rows}`);
  await (await manager(nc)).streams.delete(`TICK_${tp}`);
  return secs;
}

/**
 * This process is the feed and stands in for the RDB (subscriber + MemTable), so it runs with the
 * node flags every launched tickbus process gets (ops/node_flags.mjs): re-executed with them once.
 */
async function reexecWithNodeFlags(): Promise<boolean> {
  const flags = nodeFlags();
  if (process.env.TICKBUS_BENCH_REEXEC === '1' || flags.length === 0) return false;
  const child = spawn(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, TICKBUS_BENCH_REEXEC: '1' },
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  const code = await new Promise<number>((r) => child.once('exit', (c, sig) => r(c ?? (sig ? 1 : 0))));
  process.exit(code);
}

async function main(): Promise<void> {
  if (await reexecWithNodeFlags()) return;
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-bench-'));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc = await connect({ servers: server.url });
  const results: Metric[] = [];
  // BENCH_ONLY=raw,ingest,single,latency,replay,gateway,storage,tiers,compress,tpmodes,usage,runaway,heavy,chained,rtp,cluster,wdb runs a subset; default all.
  const only = new Set((process.env.BENCH_ONLY ?? 'raw,ingest,single,latency,replay,gateway,storage,tiers,compress,tpmodes,usage,runaway,heavy,chained,rtp,cluster,wdb').split(','));
  // One overall bar on stderr when it is a terminal (the benchmarks done of those selected); the
  // metric lines print above it.
  const steps = ['raw', 'ingest', 'single', 'latency', 'replay', 'gateway', 'storage', 'tiers', 'compress', 'tpmodes', 'usage', 'runaway', 'heavy', 'chained', 'rtp', 'cluster', 'wdb'].filter((k) => only.has(k) || (k === 'raw' && process.env.BENCH_SKIP_RAW !== '1'));
  const bars = process.stderr.isTTY ? new MultiBar({ stream: process.stderr, format: 'bench [{bar}] {value}/{total} {step}  {duration_formatted}', barsize: 30, hideCursor: true, clearOnComplete: true, fps: 5 }) : undefined;
  const bar = bars?.create(steps.length, 0, { step: steps[0] ?? '' });
  const step = (done: string) => steps.includes(done) && bar?.increment(1, { step: steps[steps.indexOf(done) + 1] ?? 'done' });
  const log = (m: Metric) => {
    judge(m);
    results.push(m);
    const line = `  ${m.metric} = ${m.value.toFixed(m.value < 100 ? 3 : 0)} ${m.unit}${m.ratio !== undefined ? ` (ratio ${m.ratio.toFixed(3)})` : ''}${m.met === undefined ? '' : m.met ? ' met' : ' NOT met'}\n`;
    if (bars) bars.log(line);
    else process.stderr.write(line);
  };
  try {
    const rows = Math.round((5_000_000 * scale) / BATCH_ROWS) * BATCH_ROWS;
    // BENCH_SKIP_RAW=1 skips the raw baseline (quick runs of the metrics that do not divide by it).
    const raw = process.env.BENCH_SKIP_RAW === '1' ? NaN : await baseline(nc, server.url, rows);
    if (!Number.isNaN(raw)) log({ metric: 'raw_js_pipeline_rows_per_s', value: raw, unit: 'rows/s' });
    step('raw');
    if (only.has('ingest')) {
      const ib = await ingest(nc, server.url, dir, 'ingb', 'batch', rows);
      log({ metric: 'ingest_batch_rows_per_s', value: ib.rowsPerSec, unit: 'rows/s', baseline: 'raw_js_pipeline_rows_per_s', ratio: ib.rowsPerSec / raw });
      const ii = await ingest(nc, server.url, dir, 'ingi', 'immediate', rows);
      log({ metric: 'ingest_immediate_rows_per_s', value: ii.rowsPerSec, unit: 'rows/s', baseline: 'raw_js_pipeline_rows_per_s', ratio: ii.rowsPerSec / raw, target: 'info' });
      log({ metric: 'rdb_bytes_per_row', value: ib.bytesPerRow, unit: 'bytes' });
      step('ingest');
    }
    if (only.has('single')) {
      const n = Math.round(300_000 * scale);
      const rr = await rawRequestReply(nc, server.url, n);
      log({ metric: 'raw_request_reply_rows_per_s', value: rr, unit: 'rows/s', target: 'baseline (plain responder: decode + reply, no JetStream)' });
      const single = await singleAcked(nc, server.url, dir, n);
      log({ metric: 'ingest_single_acked_rows_per_s', value: single, unit: 'rows/s', baseline: 'raw_request_reply_rows_per_s', ratio: single / rr });
      step('single');
    }
    if (only.has('latency')) {
      const l = await latency(nc, server.url, dir, Math.max(2, Math.round(5 * scale)));
      log({ metric: 'latency_p50_ms', value: l.p50, unit: 'ms' });
      log({ metric: 'latency_p99_ms', value: l.p99, unit: 'ms' });
      log({ metric: 'latency_feed_to_tp_stamp_p50_ms', value: l.feedToTpP50, unit: 'ms', target: 'info' });
      log({ metric: 'latency_feed_to_tp_stamp_p99_ms', value: l.feedToTpP99, unit: 'ms', target: 'info' });
      step('latency');
    }
    if (only.has('replay')) {
      const secs = await replayBench(nc, dir, Math.round(10_000_000 * scale));
      log({ metric: 'replay_10m_rows_s', value: secs, unit: 's' });
      step('replay');
    }
    if (only.has('gateway')) {
      const { benchGateway } = (await import(join(here, 'gateway.ts'))) as { benchGateway: () => Promise<Metric[]> };
      for (const m of await benchGateway()) log(m);
      step('gateway');
    }
    if (only.has('storage') && existsSync(join(here, 'storage.ts'))) {
      const storageBench = join(here, 'storage.ts');
      const { benchStorage } = (await import(storageBench)) as { benchStorage: () => Promise<Metric[]> };
      for (const m of await benchStorage()) log(m);
      step('storage');
    }
    if (only.has('compress')) {
      const { benchCompress } = await import('./compress.ts');
      for (const m of await benchCompress()) log(m);
      step('compress');
    }
    if (only.has('tiers')) {
      // The gateway over RDB window + IDB + HDB vs one HDB (issue 10).
      const { benchTiers } = await import('./tiers.ts');
      for (const m of await benchTiers()) log(m);
      step('tiers');
    }
    if (only.has('tpmodes')) {
      const { benchTpModes } = await import('./tp_modes.ts');
      for (const m of await benchTpModes(Math.round(100_000 * scale))) log(m);
      step('tpmodes');
    }
    if (only.has('usage')) {
      const { benchUsage } = await import('./usage.ts');
      for (const m of await benchUsage(Math.round(200_000 * scale))) log(m);
      step('usage');
    }
    if (only.has('runaway')) {
      const { benchRunaway } = await import('./runaway.ts');
      for (const m of await benchRunaway()) log(m);
      step('runaway');
    }
    if (only.has('chained')) {
      // The chained tickerplant: its rows/s against its parent's ingest in the same feed, and one hop's latency.
      const { benchChained } = await import('./chained.ts');
      for (const m of await benchChained(Math.round(2_000_000 * scale))) log(m);
      step('chained');
    }
    if (only.has('rtp')) {
      // The aggregate real-time processor against the RDB, replaying the same log (issue 11).
      const { benchRtp } = await import('./rtp.ts');
      for (const m of await benchRtp(Math.round(4_000_000 * scale))) log(m);
      step('rtp');
    }
    if (only.has('heavy')) {
      // Ingest while heavy RDB queries run (issue 11 part 4), against ingest alone in the same run.
      const { benchHeavyQuery } = await import('./heavy_query.ts');
      for (const m of await benchHeavyQuery(Math.round(1_000_000 * scale))) log(m);
      step('heavy');
    }
    if (only.has('cluster')) {
      // The ingest step's rows, each run several seconds long (1M rows took under a second: noise).
      const { benchCluster } = await import('./cluster.ts');
      for (const m of await benchCluster((c, url, d, name, n, tp) => ingest(c, url, d, name, 'batch', n, tp), rows)) log(m);
      step('cluster');
    }
    if (only.has('wdb')) {
      // The WDB's end of day (100M rows, scaled) in a child process, and its ingest against an RDB's.
      const { benchWdb } = await import('./wdb.ts');
      for (const m of await benchWdb()) log(m);
      step('wdb');
    }
  } finally {
    bars?.stop();
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    ['metric', 'value', 'unit', 'baseline', 'ratio', 'target', 'met'],
    results.map((m) => [
      m.metric,
      m.value >= 1000 ? Math.round(m.value).toLocaleString('en-US') : m.value.toFixed(3),
      m.unit,
      m.baseline ?? '',
      m.ratio !== undefined ? m.ratio.toFixed(3) : '',
      m.target ?? '',
      m.met === undefined ? '' : m.met ? 'yes' : 'NO',
    ]),
  );
  const out = resolve(here, 'out');
  mkdirSync(out, { recursive: true });
  const json = results.map(({ metric, value, unit, baseline, ratio, target, met }) => ({ metric, value, unit, baseline: baseline ?? null, ratio: ratio ?? null, target: target ?? null, met: met ?? null }));
  writeFileSync(join(out, 'latest.json'), JSON.stringify({ at: new Date().toISOString(), scale, metrics: json }, null, 2) + '\n');
  process.exit(0);
}

await main();
