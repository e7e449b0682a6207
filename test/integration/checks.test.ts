// Proves the check monitor against a real nats-server and the real processes as `actors up` runs
// them (the tickerplant, RDB, gateway and monitor process types of actors/registry.ts, each in a
// ProcessRuntime on its own connection), plus two small backends with named APIs: a monitor reads a
// check table from a file and runs it through the gateway. A checkcount on the RDB's trade count
// fails while the table is empty (one alert on alert.>, with the documented payload) and passes
// once rows are published through the tickerplant ("check ok again" logged); one that can never pass
// keeps failing with one alert only; a row naming a process (rdb1) asks it directly; a backend
// slower than the runtime is a timeout; a type nobody runs is an error; a whole gateway request
// and a truefalse work; the history grows and stays bounded; the `checks` and `checkHistory`
// APIs answer on the monitor's query subject and through the gateway; a bad table stops the
// monitor's start. As real OS processes: a backend SIGKILLed under a passing check turns it to
// failing with one alert, and a monitor started by `actors start monitor` with `checksFile` in its
// config runs its checks and alerts. Waits are bounded polls; no assertion on elapsed time.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { pino } from 'pino';
import { decode, encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { subjects } from '../../bus/subjects.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import type { CheckAlert, CheckHistoryEntry, CheckRow } from '../../actors/monitor/checks.ts';
import { startMonitor, type Monitor } from '../../actors/monitor/effects.ts';
import { registerTestApis } from '../support/gateway_backend.ts';
import { spawnProc, stopProc, type Proc } from '../support/procs.ts';
import { clockAt, connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let monitor: Monitor;
let alertSub: Subscription;
const runtimes: ProcessRuntime[] = [];
const alerts: CheckAlert[] = [];
const logLines: Array<{ msg: string; family?: string; metric?: string }> = [];
let changes = 0;
const HISTORY_MAX = 5;
const root = resolve(import.meta.dirname, '..', '..');
let vanish: ChildProcess;
let vanishExited: Promise<void>;
let monitorProc: Proc | undefined;
let dir: string;

const clock = clockAt(Date.parse('2026-11-22T10:00:05Z'));
const day = zoneDate(clock.now(), 'UTC');
const COUNT = '{"type":"tickbus.v1.query","table":"trade","count":true}';
const TABLE = [
  'family|metric|process|query|resultchecker|params|period|runtime',
  `rdb|tradecount|rdb|${COUNT}|checkcount|{"comp":0,"cond":"morethan"}|200ms|0D00:00:05`,
  `rdb|toomany|rdb|${COUNT}|checkcount|{"comp":1000000,"cond":"morethan"}|200ms|5s`,
  `rdb|named|rdb1|${COUNT}|checkcount|\`comp\`cond!(100;\`lessthan)|200ms|5s`,
  'slow|call|slow|{"type":"tickbus.v1.call","api":"f","args":[0]}|resulttrue||200ms|300ms',
  'absent|nobody|nosuch|{"type":"tickbus.v1.call","api":"apis"}|resulttrue||200ms|1s',
  'aux|echo|aux|{"type":"tickbus.v1.call","api":"echo","args":[true]}|truefalse|{"cond":true}|200ms|5s',
  'vanish|echo|vanish|{"type":"tickbus.v1.call","api":"echo","args":[1]}|resulttrue||200ms|1s',
  'gw|apis|rdb|{"type":"tickbus.v1.gateway.request","query":{"type":"tickbus.v1.call","api":"apis"},"target":["rdb","aux"],"join":"list"}|resulttrue||200ms|5s',
].join('\n');

async function proc(proctype: string, name: string, settings: Record<string, unknown>, withClock = false): Promise<ProcessRuntime> {
  const rt = await startRuntime(server.url, proctype, name, settings, { tables: testTables, heartbeatMs: 250, attributes: { tables: Object.keys(testTables) }, clock: withClock ? clock : undefined });
  runtimes.push(rt);
  return rt;
}

async function backend(proctype: string, name: string, delayMs: number): Promise<void> {
  const rt = new ProcessRuntime({ proctype, name, servers: server.url, logger: silentLogger, heartbeatMs: 250, start: async () => ({ ready: async () => {}, stop: async () => {}, status: () => ({}) }) });
  registerTestApis(rt, name, delayMs);
  await rt.start();
  runtimes.push(rt);
}

async function startMonitorProc(file: string): Promise<void> {
  const logger = pino({ level: 'info' }, { write: (s: string) => void (logLines.length < 10_000 && logLines.push(JSON.parse(s))) });
  const rt = new ProcessRuntime({
    proctype: 'monitor',
    name: 'mon1',
    servers: server.url,
    logger: silentLogger,
    heartbeatMs: 250,
    start: async (c, ctx) => {
      monitor = await startMonitor(c, { name: 'mon1', checkEveryMs: 50, checksFile: file, checksStartDelayMs: 0, checksHistoryMax: HISTORY_MAX }, logger, ctx.apis);
      return monitor;
    },
  });
  await rt.start();
  runtimes.push(rt);
}

const row = (family: string, metric: string): CheckRow => monitor.checks!.rows().find((r) => r.family === family && r.metric === metric)!;

async function call<T>(api: string, args: unknown[] = []): Promise<T> {
  const m = await nc.request(subjects.query('monitor', 'mon1'), encode({ type: 'tickbus.v1.call', api, args }), { timeout: 5_000 });
  return decode<T>(m.data);
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  alertSub = nc.subscribe(subjects.alertAll, { callback: (_e, m) => void alerts.push(JSON.parse(new TextDecoder().decode(m.data)) as CheckAlert) });
  await proc('tickerplant', 'tp1', { mode: 'immediate' }, true);
  await proc('rdb', 'rdb1', { tp: 'tp1' });
  await proc('gateway', 'gw1', {});
  await backend('slow', 'slow1', 2_000);
  await backend('aux', 'aux1', 0);
  // A backend as a real OS process, to be SIGKILLed.
  vanish = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'support', 'gateway_backend.ts'), server.url, 'vanish', 'vanish1', '250'], { stdio: ['ignore', 'pipe', 'inherit'] });
  vanishExited = new Promise((r) => vanish.once('exit', () => r()));
  await new Promise<void>((r) => vanish.stdout!.once('data', () => r()));
  dir = mkdtempSync(join(tmpdir(), 'tickbus-checks-'));
  const file = join(dir, 'monitor.csv');
  writeFileSync(file, TABLE);
  await startMonitorProc(file);
  monitor.checks!.onChange(() => changes++);
}, 60_000);

afterAll(async () => {
  alertSub?.unsubscribe();
  if (vanish && vanish.exitCode === null && vanish.signalCode === null) vanish.kill('SIGKILL');
  if (monitorProc) await stopProc(monitorProc);
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

describe('check monitor', () => {
  it('monitor: a checkcount fails while the RDB has no trades, alerting once on alert.>, then passes after rows are published', async () => {
    await until(() => row('rdb', 'tradecount').status === 'error');
    expect(row('rdb', 'tradecount')).toMatchObject({ process: 'rdb', message: 'count 0 is not more than 0', lastResult: 'trade: 0 rows' });
    await until(() => alerts.some((a) => a.subject === 'rdb.tradecount'));
    const a = alerts.find((x) => x.subject === 'rdb.tradecount')!;
    expect(a).toMatchObject({
      type: 'tickbus.v1.alert',
      level: 'error',
      source: { proctype: 'monitor', name: 'mon1' },
      kind: 'check',
      subject: 'rdb.tradecount',
      details: { family: 'rdb', metric: 'tradecount', process: 'rdb', status: 'error', resultchecker: 'checkcount' },
    });
    expect(a.message).toMatch(/count 0 is not more than 0/);
    expect(Number.isNaN(Date.parse(a.at))).toBe(false);

    const pub = new Publisher(nc, { tp: 'tp1' });
    const t = (s: number) => `${day}T10:00:0${s}.000000000Z`;
    await pub.publish('trade', { rows: [[t(1), 'AAPL', 10.5, 100, 1], [t(2), 'MSFT', 20.5, 200, 2], [t(3), 'IBM', 30.5, 300, 3]] });
    pub.close();
    await until(() => row('rdb', 'tradecount').status === 'ok');
    expect(row('rdb', 'tradecount')).toMatchObject({ message: 'count 3 is more than 0', lastResult: 'trade: 3 rows' });
    await until(() => logLines.some((l) => l.msg === 'check ok again' && l.metric === 'tradecount'));
  });

  it('monitor: a check that keeps failing alerts once, on the transition, not on every run', async () => {
    await until(() => row('rdb', 'toomany').runs >= 4);
    expect(row('rdb', 'toomany').status).toBe('error');
    expect(alerts.filter((a) => a.subject === 'rdb.toomany')).toHaveLength(1);
  });

  it('monitor: a row naming a process asks that process; a backend slower than the runtime is a timeout; a type nobody runs is an error', async () => {
    await until(() => row('rdb', 'named').status === 'ok');
    await until(() => row('slow', 'call').status === 'timeout');
    expect(row('slow', 'call').message).toMatch(/^(QUERY_TIMEOUT|TIMEOUT): /);
    await until(() => row('absent', 'nobody').status === 'error');
    expect(row('absent', 'nobody').message).toMatch(/^TYPE_NOT_AVAILABLE: .*missing: nosuch/);
    await until(() => alerts.some((a) => a.subject === 'slow.call') && alerts.some((a) => a.subject === 'absent.nobody'));
    expect(alerts.find((a) => a.subject === 'slow.call')!.details.status).toBe('timeout');
  });

  it('monitor: truefalse on a named API and a whole gateway request with its own target and join', async () => {
    await until(() => row('aux', 'echo').status === 'ok' && row('gw', 'apis').status === 'ok');
    expect(row('aux', 'echo').message).toBe('result is true as required');
    expect(row('gw', 'apis').lastResult).toMatch(/^list of 2/);
  });

  it('monitor: history grows per run and stays bounded; the page interface notifies each run', async () => {
    await until(() => row('rdb', 'tradecount').runs > HISTORY_MAX + 2);
    const h = monitor.checks!.history({ family: 'rdb', metric: 'tradecount', limit: 1_000 });
    expect(h).toHaveLength(HISTORY_MAX);
    expect(h.every((e) => e.family === 'rdb' && e.metric === 'tradecount')).toBe(true);
    expect(h.map((e) => e.time)).toEqual([...h.map((e) => e.time)].sort().reverse());
    expect(changes).toBeGreaterThan(HISTORY_MAX);
    expect(monitor.status()).toMatchObject({ checks: { checks: 8 } });
  });

  it('monitor: a bad check table or check setting stops the monitor from starting, naming what is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickbus-checks-bad-'));
    const bad = join(dir, 'monitor.csv');
    writeFileSync(bad, `${TABLE.split('\n')[0]}\nrdb|x|rdb|${COUNT}|checksum||1m|1s\n`);
    const conn = await connectTo(server, 'bad-monitor');
    try {
      await expect(startMonitor(conn, { name: 'mon2', checksFile: bad }, silentLogger)).rejects.toMatchObject({
        code: 'BAD_CONFIG',
        detail: { file: bad, line: 2, column: 'resultchecker' },
      });
      await expect(startMonitor(conn, { name: 'mon2', checksFile: join(dir, 'missing.csv') }, silentLogger)).rejects.toMatchObject({ code: 'BAD_CONFIG' });
      await expect(startMonitor(conn, { name: 'mon2', checksFile: bad, checksConcurrentMax: 0 }, silentLogger)).rejects.toThrow(/checksConcurrentMax must be an integer in \[1, 64\]/);
    } finally {
      await conn.close();
    }
  });

  it('monitor: checks and checkHistory answer as named APIs, on the monitor and through the gateway', async () => {
    const rows = await call<CheckRow[]>('checks');
    expect(rows.map((r) => `${r.family}.${r.metric}`)).toEqual(['rdb.tradecount', 'rdb.toomany', 'rdb.named', 'slow.call', 'absent.nobody', 'aux.echo', 'vanish.echo', 'gw.apis']);
    expect(rows[1]).toMatchObject({ status: 'error', resultchecker: 'checkcount', periodMs: 200, runtimeMs: 5_000 });
    const hist = await call<CheckHistoryEntry[]>('checkHistory', [{ family: 'rdb', metric: 'toomany', limit: 2 }]);
    expect(hist).toHaveLength(2);
    expect(hist[0]).toMatchObject({ family: 'rdb', metric: 'toomany', status: 'error' });
    const bad = await call<{ type: string; code: string; message: string }>('checkHistory', [{ fam: 'x' }]);
    expect(bad).toMatchObject({ type: 'tickbus.v1.error', code: 'BAD_QUERY' });
    expect(bad.message).toMatch(/unknown field fam/);
    const client = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 5_000 });
    try {
      const r = await client.call<CheckRow[]>('checks', [], 'monitor');
      expect(r.result).toHaveLength(8);
    } finally {
      client.close();
    }
  });

  it('monitor: a backend process SIGKILLed under a passing check turns it to failing, with one alert', async () => {
    await until(() => row('vanish', 'echo').status === 'ok');
    expect(alerts.some((a) => a.subject === 'vanish.echo')).toBe(false);
    vanish.kill('SIGKILL');
    await vanishExited;
    await until(() => row('vanish', 'echo').status !== 'ok');
    expect(['error', 'timeout']).toContain(row('vanish', 'echo').status);
    await until(() => alerts.some((a) => a.subject === 'vanish.echo'));
    // Wait past the heartbeat loss: the gateway then refuses the type at once.
    await until(() => /TYPE_NOT_AVAILABLE/.test(row('vanish', 'echo').message ?? ''));
    expect(alerts.filter((a) => a.subject === 'vanish.echo')).toHaveLength(1);
  });

  it('monitor: `actors start monitor` with checksFile in the config runs the checks as an OS process', async () => {
    const file = join(dir, 'mon3.csv');
    writeFileSync(file, [TABLE.split('\n')[0], TABLE.split('\n')[1], TABLE.split('\n')[5]].join('\n'));
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ tables: testTables, defaults: { monitor: { checksFile: file, checksStartDelayMs: 0 } } }));
    monitorProc = spawnProc('monitor', 'mon3', cfg, server.url);
    const rows = async () => {
      try {
        const m = await nc.request(subjects.query('monitor', 'mon3'), encode({ type: 'tickbus.v1.call', api: 'checks', args: [] }), { timeout: 1_000 });
        return decode<CheckRow[]>(m.data);
      } catch {
        return [];
      }
    };
    await until(async () => (await rows()).some((r) => r.metric === 'tradecount' && r.status === 'ok'), 30_000, 200);
    expect((await rows()).map((r) => `${r.family}.${r.metric}`)).toEqual(['rdb.tradecount', 'absent.nobody']);
    await until(() => alerts.some((a) => a.source.name === 'mon3' && a.subject === 'absent.nobody'));
  });
});
