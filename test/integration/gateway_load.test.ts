// Proves the gateway under load and loss (issue 12): 10,000 concurrent queries with short timeouts
// while one of two backends is SIGKILLed are every one answered (a result or a typed error: the
// client's own deadline never fires), the queue drains to zero and the gateway's memory comes
// back within a bound; and the queued queries of a client that disconnects are dropped from the
// queue (its liveness subject, Tb-Client-Alive, gets "no responders"). The gateway and backends
// are real OS processes on a real nats-server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { TickbusError } from '../../bus/errors.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { tsxImport } from '../../ops/node_flags.mjs';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';

const root = resolve(import.meta.dirname, '..', '..');
let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let gw: Proc;
const backends = new Map<string, ChildProcess>();

function spawnBackend(name: string): ChildProcess {
  const child = spawn(process.execPath, [...tsxImport(), join(root, 'test', 'support', 'gateway_backend.ts'), server.url, 'bk', name, '200'], { stdio: ['ignore', 'ignore', 'inherit'] });
  backends.set(name, child);
  return child;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface GwStatus {
  queries: number;
  waiting: number;
  droppedForClients: number;
  clientsGone: number;
  clientsTracked: number;
}

const f = (ms: number) => ({ type: 'tickbus.v1.call', api: 'f', args: [ms] });

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-gwload-'));
  const cfg = join(dir, 'config.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      tables: testTables,
      defaults: { gateway: { queueMax: 12_000, probeAfterMs: 100, probeEveryMs: 100, clientProbeAfterMs: 300, clientProbeEveryMs: 300, warnAfterBeats: 2, errorAfterBeats: 3 } },
    }),
  );
  gw = spawnProc('gateway', 'gwl', cfg, server.url);
  await waitUp(nc, 'gwl');
  spawnBackend('bk1');
  spawnBackend('bk2');
  const probe = new GatewayClient(nc, { gateway: 'gwl', timeoutMs: 2_000 });
  await until(async () => {
    const r = await probe.call<unknown>('pid', [], 'bk').catch(() => undefined);
    const st = await status<{ backends: number }>(nc, 'gwl');
    return r !== undefined && (st?.backends ?? 0) >= 2;
  }, 30_000, 200);
  probe.close();
}, 60_000);

afterAll(async () => {
  for (const c of backends.values()) c.kill('SIGKILL');
  await stopProc(gw);
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway under load', () => {
  it('gateway: 10,000 concurrent queries with short timeouts while a backend is SIGKILLed are all answered; the queue drains; memory comes back', async () => {
    // The client waits well past each query's timeout (slackMs) for the gateway's own answer: on a
    // slow, shared machine 10,000 answers can come late, and late is not missing.
    const client = new GatewayClient(nc, { gateway: 'gwl', timeoutMs: 3_000, inflightMax: 20_000, slackMs: 20_000 });
    // Warm up, then the gateway's resident memory before the load.
    await Promise.all(Array.from({ length: 500 }, () => client.sync(f(1), 'bk').catch(() => undefined)));
    const rss0 = rssMiB(gw.child.pid!);
    const outcomes = new Map<string, number>();
    const t0 = Date.now();
    const all = Array.from({ length: 10_000 }, (_, i) =>
      client.sync(f(5 + (i % 20)), 'bk', { timeoutMs: 1_000 + (i % 4) * 500 }).then(
        () => outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1),
        (e: unknown) => {
          const code = e instanceof TickbusError ? e.code : String(e);
          outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
        },
      ),
    );
    setTimeout(() => backends.get('bk1')!.kill('SIGKILL'), 300);
    await Promise.all(all);
    const ms = Date.now() - t0;
    console.log(`gateway load: ${JSON.stringify(Object.fromEntries(outcomes))} in ${ms} ms`);
    // Every query got the gateway's answer: a result, or a typed error of the gateway (never the
    // client's own TIMEOUT, which would mean no answer came).
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(outcomes.get('TIMEOUT') ?? 0).toBe(0);
    for (const code of outcomes.keys()) expect(['ok', 'QUERY_TIMEOUT', 'BACKEND_GONE', 'BACKEND_ERROR', 'OVERLOADED']).toContain(code);
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(0);
    // The queue drains to nothing, and the gateway's memory comes back within a bound.
    await until(async () => (await status<GwStatus>(nc, 'gwl'))?.queries === 0, 20_000, 100);
    await new Promise((r) => setTimeout(r, 2_000));
    const rss1 = rssMiB(gw.child.pid!);
    console.log(`gateway RSS ${rss0.toFixed(0)} MiB before, ${rss1.toFixed(0)} MiB after`);
    expect(rss1 - rss0).toBeLessThan(256);
    // The surviving backend still answers through the gateway.
    expect((await client.call('echo', [7], 'bk')).result).toBe(7);
    client.close();
    spawnBackend('bk1');
  }, 120_000);

  it('gateway: the queued queries of a client that disconnects are dropped from the queue', async () => {
    const nc2 = await connectTo(server, 'leaving-client');
    const leaving = new GatewayClient(nc2, { gateway: 'gwl', timeoutMs: 60_000 });
    // Slow queries: a few run (32 slots per backend), the rest wait in the gateway's queue.
    for (let i = 0; i < 600; i++) void leaving.sync(f(3_000), 'bk').catch(() => undefined);
    await until(async () => ((await status<GwStatus>(nc, 'gwl'))?.waiting ?? 0) > 400, 20_000, 100);
    const before = (await status<GwStatus>(nc, 'gwl'))!;
    await nc2.close(); // the client goes away without cancelling anything
    // Within a few probe rounds its waiting queries are gone, not left for their 60 s deadline.
    await until(async () => ((await status<GwStatus>(nc, 'gwl'))?.waiting ?? 1) === 0, 10_000, 100);
    const after = (await status<GwStatus>(nc, 'gwl'))!;
    expect(after.droppedForClients - before.droppedForClients).toBeGreaterThan(400);
    expect(after.clientsGone - before.clientsGone).toBe(1);
    // A client still connected keeps its queries: one slow query survives the probe rounds.
    const staying = new GatewayClient(nc, { gateway: 'gwl', timeoutMs: 30_000 });
    const r = await staying.sync(f(1_500), 'bk');
    expect(r.result).toBeDefined();
    staying.close();
    await until(async () => (await status<GwStatus>(nc, 'gwl'))?.queries === 0, 20_000, 100);
  }, 60_000);
});
