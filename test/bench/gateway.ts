// Gateway benchmarks (wired into `npm run bench` by test/bench/run.ts): small sync queries per
// second through the gateway, and the gateway's added latency against a direct request to the same
// backend in the same run. Real OS processes: nats-server, the gateway (`actors start gateway`),
// two backend replicas (test/support/gateway_backend.ts, a named API `echo`), and the client (this
// process); all share the machine's cores, so the figures are indicative.
//   BENCH_SCALE scales the query counts; BENCH_GW_REPLICAS (2) and BENCH_GW_CONCURRENCY (the
//   gateway's backendConcurrency; its default when unset, 1 is TorQ's one query at a time) change
//   the topology; `node --import tsx test/bench/gateway.ts` (or BENCH_ONLY=gateway npm run bench)
//   runs it alone; BENCH_USAGE=off runs it with the usage log off (bus/usage.ts). Both throughput sides send the same named-API call (`echo`; the direct side pre-encoded, the
//   gateway side through GatewayClient.sync, which encodes each request and decodes each reply) closed
//   loop with the same window (WINDOW in flight): direct to the backends' queue group, and through
//   the gateway to the same two backends; their ratio is the gateway's cost. The *_cpu_us_per_query
//   figures (Linux) say where the time goes: the gateway process, and the client plus backends on
//   each side (nats-server is the rest).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { subjects } from '../../bus/subjects.ts';
import { spawnProc, stopProc, waitUp } from '../support/procs.ts';
import { cpuMs } from './drive.ts';
import type { Metric } from './metric.ts';

export type GatewayMetric = Metric;

const root = resolve(import.meta.dirname, '..', '..');
const scale = Number(process.env.BENCH_SCALE ?? 1);
/** The backends' type: a small type registered only here. */
const TYPE = 'benchbk';
const ECHO = { type: 'tickbus.v1.call', api: 'echo', args: [1] };
/** Queries in flight on each throughput side. */
const WINDOW = 256;

function backend(url: string, name: string): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'support', 'gateway_backend.ts'), url, TYPE, name, '1000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { child, exited: new Promise((r) => child.once('exit', () => r())) };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('gateway benchmark: setup timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function p50(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Latencies of `n` requests one at a time (after `warm` unmeasured ones). */
async function sequential(n: number, warm: number, send: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warm; i++) await send();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await send();
    out.push(performance.now() - t);
  }
  return out;
}

/** Runs `total` sends with at most `window` in flight; returns per second. */
async function throughput(total: number, window: number, send: () => Promise<unknown>): Promise<number> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise<void>((resolveAll, reject) => {
    const launch = () => {
      while (next < total && next - done < window) {
        next++;
        send().then(() => {
          if (++done === total) resolveAll();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  return total / ((performance.now() - t0) / 1000);
}

export async function benchGateway(): Promise<GatewayMetric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-gwbench-'));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc: NatsConnection = await connect({ servers: server.url, name: 'bench-gateway' });
  const cfg = join(dir, 'gw.json');
  // The gateway's own concurrency settings unless BENCH_GW_CONCURRENCY says otherwise.
  const replicas = Number(process.env.BENCH_GW_REPLICAS ?? 2);
  const concurrency = process.env.BENCH_GW_CONCURRENCY ? { backendConcurrency: Number(process.env.BENCH_GW_CONCURRENCY) } : {};
  // BENCH_USAGE=off turns the usage log off in the gateway and the backends (its cost is the difference).
  const usage = process.env.BENCH_USAGE === 'off' ? { usage: { enabled: false } } : {};
  writeFileSync(cfg, JSON.stringify({ tables: {}, defaults: { gateway: { backendTypes: [TYPE], ...concurrency, ...usage } } }));
  const backends = Array.from({ length: replicas }, (_, i) => backend(server.url, `bk${i + 1}`));
  const gw = spawnProc('gateway', 'gwbench', cfg, server.url);
  const client = new GatewayClient(nc, { gateway: 'gwbench', timeoutMs: 30_000 });
  const pipe = new Pipeline(nc, { timeoutMs: 30_000, maxInflight: 4_096 });
  try {
    await waitUp(nc, 'gwbench').catch((e: Error) => {
      throw new Error(`${e.message}: ${gw.output.join('').slice(-2_000)}`);
    });
    // Both replicas registered and seen by the gateway (its `backends` API).
    await until(async () => {
      try {
        const m = await nc.request(subjects.query('gateway', 'gwbench'), encode({ type: 'tickbus.v1.call', api: 'backends', args: [] }), { timeout: 1_000 });
        return decode<Array<{ name: string }>>(m.data).filter((b) => /^bk\d+$/.test(b.name)).length === replicas;
      } catch {
        return false;
      }
    }, 30_000);
    const echo = encode(ECHO);
    const n = Math.max(500, Math.round(3_000 * scale));
    const direct = await sequential(n, 300, () => pipe.request(subjects.query(TYPE, 'bk1'), echo));
    const through = await sequential(n, 300, () => client.sync(ECHO, TYPE));
    const directP50 = p50(direct);
    const gwP50 = p50(through);
    const total = Math.max(5_000, Math.round(40_000 * scale));
    // Closed loop, WINDOW in flight on both sides; the sides alternate in halves (gateway, direct,
    // gateway, direct) so a change in the machine's load hits both alike.
    await throughput(2_000, WINDOW, () => client.sync(ECHO, TYPE)); // warm up
    await throughput(2_000, WINDOW, () => pipe.request(subjects.queryGroup(TYPE), echo));
    let gwSecs = 0;
    let directSecs = 0;
    const half = Math.round(total / 2);
    // CPU time of each process per query on each side (Linux /proc; info): where the time goes.
    const pids = { gateway: gw.child.pid, backends: backends.map((b) => b.child.pid), client: process.pid };
    const gwCpu = { gateway: 0, backends: 0, client: 0 };
    const directCpu = { gateway: 0, backends: 0, client: 0 };
    const add = (to: typeof gwCpu, a: typeof gwCpu | undefined, b: typeof gwCpu | undefined) => {
      if (!a || !b) return;
      for (const k of Object.keys(to) as Array<keyof typeof gwCpu>) to[k] += b[k] - a[k];
    };
    const sample = () => {
      try {
        return { gateway: cpuMs(pids.gateway), backends: pids.backends.reduce<number>((t, p) => t + cpuMs(p), 0), client: cpuMs(pids.client) };
      } catch {
        return undefined;
      }
    };
    for (let round = 0; round < 2; round++) {
      let c0 = sample();
      gwSecs += half / (await throughput(half, WINDOW, () => client.sync(ECHO, TYPE)));
      add(gwCpu, c0, sample());
      c0 = sample();
      directSecs += half / (await throughput(half, WINDOW, () => pipe.request(subjects.queryGroup(TYPE), echo)));
      add(directCpu, c0, sample());
    }
    const perQuery = (ms: number) => (1000 * ms) / (2 * half);
    const qps = (2 * half) / gwSecs;
    const directQps = (2 * half) / directSecs;
    return [
      { metric: 'gateway_sync_qps', value: qps, unit: 'queries/s', baseline: 'direct_request_qps', ratio: qps / directQps, target: 'ratio >= 0.4 (2 replicas, same calls and window as direct)' },
      { metric: 'direct_request_qps', value: directQps, unit: 'queries/s', target: 'info (same API straight to the queue group)' },
      { metric: 'gateway_cpu_us_per_query', value: perQuery(gwCpu.gateway), unit: 'us', target: 'info (the gateway process, during gateway_sync_qps)' },
      { metric: 'gateway_side_client_backends_cpu_us_per_query', value: perQuery(gwCpu.client + gwCpu.backends), unit: 'us', target: 'info (client + both backends, during gateway_sync_qps)' },
      { metric: 'direct_side_client_backends_cpu_us_per_query', value: perQuery(directCpu.client + directCpu.backends), unit: 'us', target: 'info (client + both backends, during direct_request_qps)' },
      { metric: 'direct_request_p50_ms', value: directP50, unit: 'ms', target: 'info' },
      { metric: 'gateway_request_p50_ms', value: gwP50, unit: 'ms', baseline: 'direct_request_p50_ms', ratio: gwP50 / directP50, target: 'info' },
      { metric: 'gateway_overhead_p50_ms', value: gwP50 - directP50, unit: 'ms', baseline: 'direct_request_p50_ms', ratio: gwP50 / directP50, target: '<= 1 ms' },
    ];
  } finally {
    client.close();
    pipe.close();
    await stopProc(gw);
    for (const b of backends) {
      if (b.child.exitCode === null) b.child.kill('SIGTERM');
      const t = setTimeout(() => b.child.kill('SIGKILL'), 5_000);
      await b.exited;
      clearTimeout(t);
    }
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const m of await benchGateway()) process.stdout.write(`${m.metric} = ${m.value.toFixed(m.value < 100 ? 3 : 0)} ${m.unit}${m.ratio !== undefined ? ` (ratio ${m.ratio.toFixed(2)} vs ${m.baseline})` : ''}\n`);
  process.exit(0);
}
