// `npx tsx test/bench/cpu.ts [batch|single|rr] [rows]`: CPU time per row of each process on the
// tick path (read from /proc/<pid>/stat, utime + stime), which is stable on a loaded machine where
// wall-clock rows/s are not. batch: 1000-row column updates, batch-mode tickerplant + RDB;
// single: one-row acked updates to a tickerplant; rr: the same to the plain responder baseline;
// raw: the ingest baseline (pre-encoded batches into a stream, one consumer).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { headers } from '@nats-io/nats-core';
import { encode } from '../../bus/codec.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { ensureStream, manager } from '../../bus/streams.ts';
import { Publisher } from '../../bus/publisher.ts';
import { spawnProc, status, stopProc, waitUp } from '../support/procs.ts';
import { cpuMs, pump, SYMS } from './drive.ts';

const mode = process.argv[2] ?? 'batch';
const rows = Number(process.argv[3] ?? (mode === 'batch' ? 3_000_000 : 200_000));
const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
const selfMs = () => cpuMs(process.pid);

const dir = mkdtempSync(join(tmpdir(), 'tickbus-cpu-'));
const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
const nc = await connect({ servers: server.url });
const serverPid = (server as unknown as { proc?: ChildProcess; child?: ChildProcess }).proc?.pid ?? (server as unknown as { child?: ChildProcess }).child?.pid;
const procs: Record<string, number> = {};
const stops: Array<() => Promise<void>> = [];
try {
  const cfg = join(dir, 'cfg.json');
  writeFileSync(cfg, JSON.stringify({ tables, defaults: { tickerplant: { mode: 'batch', pubFreqMs: mode === 'batch' ? 5 : 2, ...JSON.parse(process.env.BENCH_TP ?? '{}') }, rdb: { tp: 'c', subscribeTables: ['trade'] } } }));
  let tp = 'c';
  if (mode === 'raw') {
    // The bench's baseline: pre-encoded 1000-row batches published into a stream, one consumer decoding them.
    await ensureStream(await manager(nc), { name: 'BENCH_RAW', subjects: ['raw.>'], storage: 'file' as never, max_msg_size: 2 * 1024 * 1024 });
    const ready = nc.subscribe('bench.raw.ready', { max: 1 });
    const done = nc.subscribe('bench.raw.done', { max: 1 });
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'baseline_consumer.ts'), server.url, 'BENCH_RAW', 'raw', String(rows)], { stdio: 'inherit' });
    for await (const _ of ready) break;
    const t0ms = { consumer: cpuMs(child.pid!), server: serverPid ? cpuMs(serverPid) : 0, self: selfMs() };
    const pipe = new Pipeline(nc, { timeoutMs: 30_000, maxInflight: 1024 });
    const h = headers();
    h.set('Content-Type', 'application/cbor');
    const codes = Uint32Array.from({ length: 1000 }, (_, i) => i % SYMS.length);
    const cols = { sym: { dict: SYMS, codes }, price: Float64Array.from({ length: 1000 }, (_, i) => 100 + (i % 97) / 10), size: BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(100 + (i % 13))), time: new BigInt64Array(1000).fill(1n) };
    const t0 = performance.now();
    const sent = pump(rows / 1000, 64, () => pipe.request('raw.trade', encode({ type: 'tickbus.v1.batch', table: 'trade', day: '2026-11-22', n: 1000, cols }), h));
    for await (const _ of done) break;
    const secs = (performance.now() - t0) / 1000;
    const c1 = cpuMs(child.pid!);
    await sent;
    console.log(JSON.stringify({ mode, rows, load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), wall_rows_per_s: (rows / secs).toFixed(0),
      client_us_per_row: ((1000 * (selfMs() - t0ms.self)) / rows).toFixed(3), consumer_us_per_row: ((1000 * (c1 - t0ms.consumer)) / rows).toFixed(3),
      'nats-server_us_per_row': serverPid ? ((1000 * (cpuMs(serverPid) - t0ms.server)) / rows).toFixed(3) : '' }));
    pipe.close();
    await new Promise((r) => child.once('exit', r));
    process.exit(0);
  }
  if (mode === 'rr') {
    tp = 'rawrr';
    const ready = nc.subscribe('bench.rawrr.ready', { max: 1 });
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'rr_responder.ts'), server.url, 'rawrr'], { stdio: 'inherit' });
    for await (const _ of ready) break;
    procs.responder = child.pid!;
    stops.push(async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    });
  } else {
    const p = spawnProc('tickerplant', 'c', cfg, server.url);
    await waitUp(nc, 'c');
    procs.tickerplant = p.child.pid!;
    stops.push(() => stopProc(p));
    if (mode === 'batch') {
      const r = spawnProc('rdb', 'crdb', cfg, server.url);
      await waitUp(nc, 'crdb');
      procs.rdb = r.child.pid!;
      stops.unshift(() => stopProc(r));
    }
  }
  if (serverPid) procs['nats-server'] = serverPid;
  const pub = new Publisher(nc, { tp, inflightMax: 8192 });
  let send: (i: number) => Promise<unknown>;
  let n: number;
  let window: number;
  if (mode === 'batch') {
    const codes = Uint32Array.from({ length: 1000 }, (_, i) => i % SYMS.length);
    const price = Float64Array.from({ length: 1000 }, (_, i) => 100 + (i % 97) / 10);
    const size = BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(100 + (i % 13)));
    const cols = { sym: { dict: SYMS, codes }, price, size };
    send = () => pub.publish('trade', { cols });
    n = rows / 1000;
    window = 48;
  } else {
    send = (i) => pub.publish('trade', { rows: [[SYMS[i % SYMS.length], 100.5, 100]] });
    n = rows;
    window = 2000;
  }
  await pump(Math.min(n, 2000), window, send); // warm up
  if (mode === 'batch') await new Promise((r) => setTimeout(r, 500));
  const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMs(pid)]));
  const self0 = selfMs();
  const t0 = performance.now();
  await pump(n, window, send);
  if (mode === 'batch') {
    const want = rows + Math.min(n, 2000) * 1000;
    while (((await status<{ rows: number }>(nc, 'crdb'))?.rows ?? 0) < want) await new Promise((r) => setTimeout(r, 5));
  }
  const secs = (performance.now() - t0) / 1000;
  const out: Record<string, string> = { wall_rows_per_s: (rows / secs).toFixed(0) };
  out.client_us_per_row = ((1000 * (selfMs() - self0)) / rows).toFixed(3);
  for (const [k, pid] of Object.entries(procs)) out[`${k}_us_per_row`] = ((1000 * (cpuMs(pid) - before[k]!)) / rows).toFixed(3);
  console.log(JSON.stringify({ mode, rows, load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), ...out }));
  pub.close();
} finally {
  for (const s of stops) await s();
  await nc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
