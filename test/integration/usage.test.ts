// Proves the usage log (TorQ's .usage) against a real nats-server with a real tickerplant, RDB,
// gateway and HDB, each an OS process started as `actors start` starts it:
// - a query through the gateway is recorded by the gateway and by the RDB under the user the
//   client declared (Tb-User) and the gateway's query id, with its size, rows and status; an
//   async query when its result is published;
// - a query sent to the RDB directly is recorded under its own Tb-User; failing queries with their
//   error code; an HDB's query and a named-API call served by the process runtime too;
// - the USAGE stream is bounded as configured (max_age, max_bytes, discard old) and the processes
//   report the log's counters in their status;
// - the CLI (real child processes): `actors query` is logged under $TICKBUS_USER, `actors usage
//   --json` prints the records, filtered, `actors ps --json` and `actors tail --json` parse;
// - a full queue drops records and counts them instead of growing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { TickbusError } from '../../bus/errors.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { readUsage, UsageLog, type UsageEntry } from '../../bus/usage.ts';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';

const root = resolve(import.meta.dirname, '..', '..');
const usage = { flushMs: 50, maxAgeMs: 3_600_000, maxBytes: 4 * 1024 * 1024 };
let server: NatsServer;
let nc: NatsConnection;
let dir: string;
const procs: Proc[] = [];

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), ...args], { env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => done({ code, out, err }));
  });
}

/** Usage entries since the suite started, once `pred` holds for them (the log is flushed on a timer). */
async function entriesWhen(pred: (es: UsageEntry[]) => boolean, sinceMs: number): Promise<UsageEntry[]> {
  let es: UsageEntry[] = [];
  await until(async () => pred((es = (await readUsage(nc, { sinceMs })).entries)), 10_000, 100);
  return es;
}

const started = Date.now() - 1_000;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-usage-'));
  const cfg = join(dir, 'config.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      tables: testTables,
      defaults: { tickerplant: { mode: 'immediate', usage }, rdb: { tp: 'tpu', usage }, gateway: { usage }, hdb: { hdbDir: join(dir, 'hdb'), usage } },
    }),
  );
  mkdirSync(join(dir, 'hdb'));
  for (const [type, name] of [['tickerplant', 'tpu'], ['rdb', 'rdbu'], ['gateway', 'gwu'], ['hdb', 'hdbu']] as const) {
    const p = spawnProc(type, name, cfg, server.url);
    procs.push(p);
    await waitUp(nc, name, 60_000);
  }
  const pub = new Publisher(nc, { tp: 'tpu' });
  const now = new Date().toISOString().replace('Z', '000000Z');
  await pub.publish('trade', { rows: [[now, 'AAPL', 10.5, 100, 1], [now, 'MSFT', 20.5, 200, 2], [now, 'AAPL', 11.5, 300, 3]] });
  pub.close();
  await until(async () => ((await status<{ rows: number }>(nc, 'rdbu'))?.rows ?? 0) >= 3, 20_000);
}, 120_000);

afterAll(async () => {
  for (const p of procs.reverse()) await stopProc(p);
  await nc?.close();
  await server?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('usage log', () => {
  it('usage: a query through the gateway is logged by the gateway and the RDB with the user, id, size and rows', async () => {
    const client = new GatewayClient(nc, { gateway: 'gwu', timeoutMs: 10_000, user: 'alice' });
    // The gateway learns its backends from the registry: retry until the RDB is known.
    let r: Awaited<ReturnType<typeof client.sync>> | undefined;
    await until(async () => {
      r = await client.sync({ type: 'tickbus.v1.query', table: 'trade', syms: ['AAPL'] }, 'rdb').catch(() => undefined);
      return r !== undefined;
    }, 20_000, 200);
    client.close();
    const es = await entriesWhen((es) => es.some((e) => e.proctype === 'gateway' && e.user === 'alice') && es.some((e) => e.proctype === 'rdb' && e.user === 'alice'), started);
    const gw = es.find((e) => e.proctype === 'gateway' && e.user === 'alice' && e.status === 'ok')!;
    expect(gw).toMatchObject({ name: 'gwu', subject: 'gw.gwu.sync', queryType: 'tickbus.v1.query', table: 'trade', rows: 2, status: 'ok', id: r!.id });
    expect(gw.bytes).toBeGreaterThan(50);
    expect(gw.durationMs).toBeGreaterThan(0);
    expect(Math.abs(gw.at - Date.now())).toBeLessThan(30_000);
    const rdb = es.find((e) => e.proctype === 'rdb' && e.id === r!.id)!;
    expect(rdb).toMatchObject({ name: 'rdbu', user: 'alice', subject: 'q.rdb.rdbu', queryType: 'tickbus.v1.query', table: 'trade', rows: 2, status: 'ok' });
    expect(rdb.bytes).toBeGreaterThan(50);
    expect(rdb.durationMs).toBeLessThanOrEqual(gw.durationMs);
  });

  it('usage: an async gateway query is logged when its result is published, with the time to the result', async () => {
    const client = new GatewayClient(nc, { gateway: 'gwu', timeoutMs: 10_000, user: 'gina' });
    const r = await client.async({ type: 'tickbus.v1.query', table: 'trade', syms: ['MSFT'] }, 'rdb');
    client.close();
    const es = await entriesWhen((es) => es.some((e) => e.user === 'gina' && e.proctype === 'gateway'), started);
    expect(es.find((e) => e.user === 'gina' && e.proctype === 'gateway')).toMatchObject({ subject: 'gw.gwu.async', queryType: 'tickbus.v1.query', rows: 1, status: 'ok', id: r.id });
  });

  it('usage: a query sent to the RDB directly is logged under its Tb-User; failing queries with their error code', async () => {
    const h = headers();
    h.set('Tb-User', 'bob');
    const ok = await nc.request('q.rdb.rdbu', encode({ type: 'tickbus.v1.query', table: 'trade' }), { headers: h, timeout: 5_000 });
    const okBytes = ok.data.length;
    const bad = decode<{ code: string }>((await nc.request('q.rdb.rdbu', encode({ type: 'tickbus.v1.query', table: 'nope' }), { headers: h, timeout: 5_000 })).data);
    expect(bad.code).toMatch(/^[A-Z_]+$/);
    const call = decode<unknown[]>((await nc.request('q.rdb.rdbu', encode({ type: 'tickbus.v1.call', api: 'apis', args: [] }), { headers: h, timeout: 5_000 })).data);
    // Through the gateway: the backend's failure is the gateway's BACKEND_ERROR.
    const client = new GatewayClient(nc, { gateway: 'gwu', timeoutMs: 10_000, user: 'carol' });
    await expect(client.sync({ type: 'tickbus.v1.query', table: 'nope' }, 'rdb')).rejects.toThrow(TickbusError);
    await expect(client.sync({ type: 'tickbus.v1.query', table: 'trade' }, 'nosuchtype')).rejects.toMatchObject({ code: 'TYPE_NOT_AVAILABLE' });
    client.close();
    const es = await entriesWhen((es) => es.filter((e) => e.user === 'bob').length >= 3 && es.filter((e) => e.user === 'carol' && e.proctype === 'gateway').length >= 2, started);
    const bob = es.filter((e) => e.user === 'bob');
    expect(bob.find((e) => e.table === 'trade')).toMatchObject({ proctype: 'rdb', status: 'ok', rows: 3, bytes: okBytes });
    expect(bob.find((e) => e.table === 'nope')).toMatchObject({ proctype: 'rdb', status: bad.code });
    expect(bob.find((e) => e.table === 'nope')!.rows).toBeUndefined();
    expect(bob.find((e) => e.queryType === 'call:apis')).toMatchObject({ proctype: 'rdb', status: 'ok', rows: call.length });
    const carol = es.filter((e) => e.user === 'carol' && e.proctype === 'gateway');
    expect(carol.find((e) => e.table === 'nope')).toMatchObject({ status: 'BACKEND_ERROR' });
    expect(carol.find((e) => e.status === 'TYPE_NOT_AVAILABLE')).toMatchObject({ table: 'trade', subject: 'gw.gwu.sync' });
    expect(es.find((e) => e.proctype === 'rdb' && e.user === 'carol' && e.table === 'nope')).toMatchObject({ status: bad.code });
  });

  it('usage: an HDB query and a named API served by the process runtime are logged; actors tail --json prints rows as JSON lines', async () => {
    const h = headers();
    h.set('Tb-User', 'erin');
    const hdbReply = decode<{ type: string; code?: string; n?: number }>((await nc.request('q.hdb.hdbu', encode({ type: 'tickbus.v1.getdata', table: 'trade', start: '2026-01-01', end: '2026-01-02' }), { headers: h, timeout: 10_000 })).data);
    const backends = decode<unknown[]>((await nc.request('q.gateway.gwu', encode({ type: 'tickbus.v1.call', api: 'backends', args: [] }), { headers: h, timeout: 5_000 })).data);
    const es = await entriesWhen((es) => es.filter((e) => e.user === 'erin').length >= 2, started);
    expect(es.find((e) => e.user === 'erin' && e.proctype === 'hdb')).toMatchObject({ name: 'hdbu', subject: 'q.hdb.hdbu', queryType: 'tickbus.v1.getdata', table: 'trade', status: hdbReply.code ?? 'ok' });
    expect(es.find((e) => e.user === 'erin' && e.proctype === 'gateway')).toMatchObject({ name: 'gwu', subject: 'q.gateway.gwu', queryType: 'call:backends', status: 'ok', rows: backends.length });
    // tail runs until stopped: read its first three lines, then stop it.
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'tail', 'trade', '--tp', 'tpu', '--from', 'today', '--json'], { env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn' } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await until(() => out.split('\n').length > 3, 20_000);
    } finally {
      child.kill('SIGINT');
    }
    const rows = out.trim().split('\n').slice(0, 3).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.sym)).toEqual(['AAPL', 'MSFT', 'AAPL']);
    expect(rows[0]).toMatchObject({ price: 10.5, size: 100, fid: 1, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  }, 40_000);

  it('usage: the USAGE stream is bounded by age and bytes, discards old, and the processes report the counters', async () => {
    const info = await (await manager(nc)).streams.info('USAGE');
    expect(info.config).toMatchObject({ subjects: ['usage.>'], max_bytes: usage.maxBytes, max_age: usage.maxAgeMs * 1_000_000, discard: 'old', retention: 'limits' });
    const st = await status<{ usage: Record<string, number> }>(nc, 'gwu');
    expect(st!.usage).toMatchObject({ dropped: 0, failed: 0 });
    expect(st!.usage.published).toBeGreaterThan(0);
  });

  it('usage: actors query --json is logged under $TICKBUS_USER; actors usage --json prints the records since a time, filtered by user, process and status', async () => {
    const q = await cli(['query', '{"type":"tickbus.v1.query","table":"trade"}', '--gw', 'gwu', '--json'], { TICKBUS_USER: 'frank' });
    expect(q.code).toBe(0);
    const reply = JSON.parse(q.out) as { id: string; result: { n: number } };
    expect(reply.result.n).toBe(3);
    await entriesWhen((es) => es.some((e) => e.user === 'frank' && e.proctype === 'gateway' && e.id === reply.id), started);
    const all = await cli(['usage', '--since', '1h', '--json']);
    expect(all.code).toBe(0);
    const doc = JSON.parse(all.out) as { records: UsageEntry[]; summary: { queries: number; errors: number; byUser: Record<string, number> } };
    expect(doc.records.some((e) => e.user === 'alice' && e.proctype === 'gateway')).toBe(true);
    expect(doc.records.find((e) => e.user === 'frank' && e.proctype === 'rdb')).toMatchObject({ id: reply.id, rows: 3, status: 'ok' });
    expect(doc.summary.queries).toBe(doc.records.length);
    expect(doc.summary.errors).toBeGreaterThanOrEqual(3);
    const bob = JSON.parse((await cli(['usage', '--since', '1h', '--json', '--user', 'bob', '--status', 'error'])).out) as { records: UsageEntry[] };
    expect(bob.records.length).toBeGreaterThan(0);
    expect(bob.records.every((e) => e.user === 'bob' && e.status !== 'ok')).toBe(true);
    const gw = JSON.parse((await cli(['usage', '--json', '--proc', 'gwu', '--limit', '1'])).out) as { records: UsageEntry[] };
    expect(gw.records).toHaveLength(1);
    expect(gw.records[0]!.name).toBe('gwu');
    const table = await cli(['usage', '--since', new Date(started).toISOString()]);
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^time\s+user\s+process\s+type\s+table\s+ms\s+bytes\s+rows\s+status$/);
    expect(table.out).toMatch(/\d+ queries since .*; \d+ errors/);
    const badSince = await cli(['usage', '--since', 'yesterday-ish']);
    expect(badSince.code).toBe(2);
    expect(badSince.err).toMatch(/^actors: BAD_USAGE: --since "yesterday-ish"/);
  }, 60_000);

  it('usage: actors ps --json is one JSON document with each process and its state', async () => {
    const ps = await cli(['ps', '--json']);
    expect(ps.code).toBe(0);
    const doc = JSON.parse(ps.out) as { processes: Array<{ name: string; proctype: string; state: string }> };
    expect(doc.processes.map((p) => p.name).sort()).toEqual(['gwu', 'hdbu', 'rdbu', 'tpu']);
    for (const p of doc.processes) expect(p.state).toBe('ok');
  }, 30_000);

  it('usage: a full queue drops new records and counts them; what was queued is published', async () => {
    const log = new UsageLog(nc, 'test', 'bounded', { queueMax: 5, flushMs: 60_000 });
    const t = Date.now();
    for (let i = 0; i < 8; i++) log.record({ at: t, user: 'dora', subject: 'q.test.bounded', queryType: 'x', durationMs: 1, bytes: i, status: 'ok' });
    expect(log.status()).toMatchObject({ recorded: 5, dropped: 3, queued: 5 });
    await log.close();
    expect(log.status()).toMatchObject({ published: 5, queued: 0, failed: 0 });
    const es = (await readUsage(nc, { sinceMs: t - 1 })).entries.filter((e) => e.user === 'dora');
    expect(es.map((e) => e.bytes)).toEqual([0, 1, 2, 3, 4]);
  });
});
