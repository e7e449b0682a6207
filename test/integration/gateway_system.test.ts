// Proves the gateway in the real system against a real nats-server: the tickerplant, RDB, gateway
// and monitor run as `actors up` runs them (the process types of actors/registry.ts inside the
// process runtime); rows go in through the tickerplant; the RDB's tickbus.v1.query answers through
// the gateway in CBOR and JSON, and a named API registered on the RDB's runtime is callable through
// the gateway and on the RDB's own query subject; the RDB reports its day and tables as discovery
// attributes; `actors query` (a real CLI process) prints the result as a table and `actors ps`
// prints the registry with heartbeat states taken from the monitor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { Discovery } from '../../actors/common/discovery.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import { clockAt, connectTo, startServer, testTables, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

const root = resolve(import.meta.dirname, '..', '..');
let server: NatsServer;
let nc: NatsConnection;
const runtimes: ProcessRuntime[] = [];
let rdbRt: ProcessRuntime;
// The tickerplant runs on an injected clock: the day it stamps and the RDB advertises is the
// clock's, so the test passes whatever the wall clock says.
const clock = clockAt(Date.parse('2026-11-22T10:00:05Z'));
const day = zoneDate(clock.now(), 'UTC');
const t = (s: number) => `${day}T10:00:0${s}.000000000Z`;

async function proc(proctype: string, name: string, settings: Record<string, unknown>, withClock = false): Promise<ProcessRuntime> {
  const rt = await startRuntime(server.url, proctype, name, settings, { tables: testTables, heartbeatMs: 250, attributes: { tables: Object.keys(testTables) }, clock: withClock ? clock : undefined });
  runtimes.push(rt);
  return rt;
}

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), ...args], { env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => done({ code, out, err }));
  });
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  await proc('tickerplant', 'tp1', { mode: 'immediate' }, true);
  const pub = new Publisher(nc, { tp: 'tp1' });
  await pub.publish('trade', {
    rows: [
      [t(1), 'AAPL', 10.5, 100, 1],
      [t(2), 'MSFT', 20.5, 200, 2],
      [t(3), 'AAPL', 11.5, 300, 3],
      [t(4), 'IBM', 30.5, 400, 4],
    ],
  });
  pub.close();
  rdbRt = await proc('rdb', 'rdb1', { tp: 'tp1' });
  rdbRt.registerApi('greet', (who: string) => `hello ${who} from rdb1`, 'says hello');
  await proc('monitor', 'mon1', { warnAfterBeats: 2, errorAfterBeats: 3, checkEveryMs: 50 });
  await proc('gateway', 'gw1', {});
});

afterAll(async () => {
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

describe('gateway in the system', () => {
  it('gateway: the RDB answers its query through the gateway in CBOR and JSON, and a named API registered on it', async () => {
    const client = new GatewayClient(nc, { timeoutMs: 5_000 });
    const r = await client.sync<QueryResult>({ type: 'tickbus.v1.query', table: 'trade', syms: ['AAPL'], columns: ['sym', 'size'] }, 'rdb');
    expect(r.result).toMatchObject({ type: 'tickbus.v1.result', n: 2, cols: { sym: ['AAPL', 'AAPL'], size: BigInt64Array.of(100n, 300n) } });
    expect(r.parts).toEqual([expect.objectContaining({ name: 'rdb1', proctype: 'rdb' })]);
    const h = headers();
    h.set('Content-Type', 'application/json');
    const j = await nc.request('gw.gw1.sync', JSON.stringify({ type: 'tickbus.v1.gateway.request', target: ['rdb'], query: { type: 'tickbus.v1.query', table: 'trade', limit: -1 } }), {
      headers: h,
      timeout: 5_000,
    });
    expect(JSON.parse(new TextDecoder().decode(j.data))).toMatchObject({ result: { n: 1, cols: { time: [t(4)], sym: ['IBM'], size: [400] } } });
    const greet = await client.call<string>('greet', ['ops'], 'rdb');
    expect(greet.result).toBe('hello ops from rdb1');
    // The RDB hands calls on its own query subject to the runtime's APIs; queries stay its own.
    const direct = await nc.request('q.rdb.rdb1', encode({ type: 'tickbus.v1.call', api: 'apis', args: [] }), { timeout: 5_000 });
    expect(decode<Array<{ api: string }>>(direct.data).map((a) => a.api)).toEqual(['apis', 'greet']);
    client.close();
  });

  it('gateway: the registry holds each process with its attributes, subjects and APIs', async () => {
    const d = await Discovery.open(nc);
    await until(() => d.get('rdb', 'rdb1')?.apis?.includes('greet') === true, 5_000);
    const rdb = d.get('rdb', 'rdb1')!;
    expect(rdb.attributes).toMatchObject({ tables: ['trade', 'quote'], dates: [day] });
    expect(rdb.subjects).toEqual(['q.rdb.rdb1', 'q.rdb']);
    expect(rdb.heartbeatMs).toBe(250);
    expect(d.get('gateway', 'gw1')!.subjects).toEqual(expect.arrayContaining(['gw.gw1.sync', 'gw.gw1.async', 'q.gateway.gw1']));
    expect(d.list({ attributes: { dates: day } }).map((p) => p.name)).toEqual(['rdb1']);
    expect(d.find('monitor').map((p) => p.name)).toEqual(['mon1']);
    await d.close();
  });

  it('gateway: actors query prints a table and actors ps the registry with heartbeat states', async () => {
    const [q, ps, bad] = await Promise.all([
      cli(['query', '{"type":"tickbus.v1.query","table":"trade","columns":["time","sym","price"],"limit":3}']),
      cli(['ps']),
      cli(['query', '{"type":"tickbus.v1.query","table":"trade"}', '--target', 'nope']),
    ]);
    expect(q.code).toBe(0);
    const lines = q.out.trim().split('\n');
    expect(lines[0]).toMatch(/^time\s+sym\s+price$/);
    expect(lines.slice(2)).toEqual([
      expect.stringMatching(new RegExp(`^${day}T10:00:01\\.000000000Z\\s+AAPL\\s+10\\.5$`)),
      expect.stringMatching(new RegExp(`^${day}T10:00:02\\.000000000Z\\s+MSFT\\s+20\\.5$`)),
      expect.stringMatching(new RegExp(`^${day}T10:00:03\\.000000000Z\\s+AAPL\\s+11\\.5$`)),
    ]);
    expect(q.err).toMatch(/3 rows from rdb1 \(rdb/);
    expect(ps.code).toBe(0);
    for (const name of ['tp1', 'rdb1', 'mon1', 'gw1']) expect(ps.out).toMatch(new RegExp(`^${name}\\s+\\S+\\s+\\S+\\s+.*\\bok \\(`, 'm'));
    expect(ps.out).toMatch(new RegExp(`dates=${day}`));
    expect(ps.out).toMatch(/heartbeat state from the monitor/);
    // Subscriber lag: the RDB's consumer of the log, messages behind and the log's last sequence.
    expect(ps.out).toMatch(/^subscriber \(consumer\)\s+log\s+behind \(msgs\)/m);
    expect(ps.out).toMatch(/^rdb_rdb1_\S+\s+TICK_tp1\s+0\s+0\s+\d+\s+\d+$/m);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^actors: TYPE_NOT_AVAILABLE: .*missing: nope/);
  });
});
