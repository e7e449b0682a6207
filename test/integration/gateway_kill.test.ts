// Proves the gateway's failure handling with a backend that is a real OS process (spawned
// test/support/gateway_backend.ts): SIGKILLed mid-query, the query fails with BACKEND_GONE within
// about one probe period (a probe of ctl.<name>.status gets "no responders"), not at its timeout;
// the dead process's stale registry entry is not used; restarted under the same name it is used
// again with no gateway restart. SIGSTOPped (alive but silent), its heartbeat goes to warning after
// warnAfterBeats periods and to error after errorAfterBeats, as seen by a discovery watcher, the
// monitor's heartbeat table and the gateway (whose part on it fails with BACKEND_GONE); SIGCONT
// brings it back to ok and into use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { TickbusError } from '../../bus/errors.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Discovery, type HealthState } from '../../actors/common/discovery.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startGateway, type Gateway } from '../../actors/gateway/effects.ts';
import { heartbeatRows, startMonitor, type Monitor } from '../../actors/monitor/effects.ts';
import { connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';

const root = resolve(import.meta.dirname, '..', '..');
const HB_MS = 200;

let server: NatsServer;
let nc: NatsConnection;
let gwRt: ProcessRuntime;
let gw: Gateway;
let client: GatewayClient;
let monitor: Monitor;
const children: ChildProcess[] = [];

function spawnBackend(proctype: string, name: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'support', 'gateway_backend.ts'), server.url, proctype, name, String(HB_MS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return child;
}

async function registered(name: string, pid: number): Promise<void> {
  await until(() => gw.backends().some((b) => b.name === name && !b.gone && b.health === 'ok') && gwPid(name) === pid, 20_000);
}

const pids = new Map<string, number>();
function gwPid(name: string): number | undefined {
  return pids.get(name);
}

const f = (ms: number) => ({ type: 'tickbus.v1.call', api: 'f', args: [ms] });

async function expectError(p: Promise<unknown>, code: string): Promise<TickbusError> {
  try {
    await p;
  } catch (e) {
    expect((e as TickbusError).code).toBe(code);
    return e as TickbusError;
  }
  throw new Error(`expected ${code}`);
}

let watcher: Discovery;
const transitions: HealthState[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  gwRt = new ProcessRuntime({
    proctype: 'gateway',
    name: 'gwk',
    servers: server.url,
    logger: silentLogger,
    start: async (c, ctx) => {
      gw = await startGateway(c, { name: 'gwk', tables: testTables, probeAfterMs: 100, probeEveryMs: 100, warnAfterBeats: 2, errorAfterBeats: 3 }, silentLogger, { apis: ctx.apis });
      return { ready: (t) => gw.ready(t), stop: () => gw.stop(), status: () => gw.status() };
    },
  });
  await gwRt.start();
  client = new GatewayClient(nc, { gateway: 'gwk', timeoutMs: 10_000 });
  watcher = await Discovery.open(nc, { types: ['kb'], checkEveryMs: 50 });
  // The registry says which pid holds each name: the test waits for the gateway to see a given one.
  watcher.on((e) => {
    if (e.type === 'proc.up') pids.set(e.proc.name, e.proc.pid);
    if (e.type === 'proc.health' && e.proc.name === 'k1') transitions.push(e.proc.health);
  });
  monitor = await startMonitor(await connectTo(server), { name: 'mon1', warnAfterBeats: 2, errorAfterBeats: 3, checkEveryMs: 50 }, silentLogger);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  client?.close();
  await watcher?.close();
  await monitor?.stop();
  await gwRt?.stop();
  await nc?.close();
  await server?.dispose();
});

describe('gateway with real backend processes', () => {
  it('gateway: a backend SIGKILLed mid-query fails it with BACKEND_GONE at once; restarted under its name it is used again', async () => {
    const k1 = spawnBackend('kb', 'k1');
    await registered('k1', k1.pid!);
    const t0 = performance.now();
    const pending = client.sync(f(5_000), 'kb', { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    k1.kill('SIGKILL');
    const killedAt = performance.now();
    const e = await expectError(pending, 'BACKEND_GONE');
    const afterKill = performance.now() - killedAt;
    expect(afterKill).toBeLessThan(1_500); // probe period 100 ms; the query's own timeout is 10 s
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(e.detail).toMatchObject({ backend: 'k1', proctype: 'kb' });
    // Its registry entry is stale (no deregistration on SIGKILL): the gateway does not use it.
    await expectError(client.sync(f(1), 'kb'), 'TYPE_NOT_AVAILABLE');
    const again = spawnBackend('kb', 'k1');
    await registered('k1', again.pid!);
    const r = await client.call<number>('pid', [], 'kb');
    expect(r.result).toBe(again.pid);
  });

  it('gateway: a paused backend goes to heartbeat warning then error (discovery, monitor, gateway) and back to ok when resumed', async () => {
    const k1 = children[children.length - 1]!;
    transitions.length = 0;
    const pending = client.sync(f(3_000), 'kb', { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    k1.kill('SIGSTOP');
    const stoppedAt = performance.now();
    // Alive but silent: probes time out (busy, not gone); the heartbeat going to error fails the part.
    const e = await expectError(pending, 'BACKEND_GONE');
    const ms = performance.now() - stoppedAt;
    // Error needs more than 3 periods since the last beat, which came at most one period before the stop.
    expect(ms).toBeGreaterThanOrEqual(2 * HB_MS);
    expect(ms).toBeLessThan(3 * HB_MS + 1_500);
    expect(e.message).toMatch(/lost its heartbeat/);
    await until(() => transitions.includes('error'), 5_000);
    const firstError = transitions.indexOf('error');
    expect(transitions[firstError - 1]).toBe('warning');
    // The monitor judges from its own subscription: it reaches error within moments of the gateway.
    await until(() => heartbeatRows(monitor.discovery, Date.now()).find((x) => x.name === 'k1')?.state === 'error', 3_000);
    const row = heartbeatRows(monitor.discovery, Date.now()).find((x) => x.name === 'k1')!;
    expect(row).toMatchObject({ proctype: 'kb', state: 'error', error: true });
    expect(row.counter).toBeGreaterThan(0);
    expect(gw.backends().find((b) => b.name === 'k1')!.health).toBe('error');
    await expectError(client.sync(f(1), 'kb'), 'TYPE_NOT_AVAILABLE');
    k1.kill('SIGCONT');
    await until(() => transitions[transitions.length - 1] === 'ok', 5_000);
    await until(() => gw.backends().find((b) => b.name === 'k1')!.health === 'ok', 5_000);
    const r = await client.call<number>('pid', [], 'kb');
    expect(r.result).toBe(k1.pid);
  });
});
