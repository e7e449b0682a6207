// Proves the gateway against a real nats-server with TorQ's gateway walkthrough: two backend types
// (rdb, hdb) whose `f` runs 300 ms longer on the hdb; a query across both takes about the slower
// one's time, not the sum; a missing type errors at once naming what is missing and available; a
// custom join; a failing join; a backend error; several async queries served at once by replicas;
// one query at a time per backend, first come first served, unless a priority says otherwise; a
// timeout; a postback; async where the client waits; a backend registering while the gateway
// runs is used with no restart (and one stopping is dropped); attribute routing, cross and
// independent; a JSON client that is not ours; OVERLOADED beyond the queue bound. Backends are
// in-process ProcessRuntime instances with named APIs (registerApi), each on its own connection;
// the gateway runs inside a ProcessRuntime as in production. (A backend killed as a real OS
// process is in gateway_kill.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { TickbusError } from '../../bus/errors.ts';
import { GatewayClient, type GatewayReply } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Header } from '../../bus/subjects.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startGateway, type Gateway } from '../../actors/gateway/effects.ts';
import type { GatewaySettings } from '../../actors/gateway/settings.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { registerTestApis } from '../support/gateway_backend.ts';
import { connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let client: GatewayClient;
const runtimes: ProcessRuntime[] = [];
let gw: Gateway;

async function backend(proctype: string, name: string, delayMs = 0, attributes: Record<string, unknown> = {}): Promise<ProcessRuntime> {
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers: server.url,
    logger: silentLogger,
    heartbeatMs: 200,
    attributes,
    start: async () => ({ ready: async () => {}, stop: async () => {}, status: () => ({}) }),
  });
  registerTestApis(rt, name, delayMs);
  await rt.start();
  runtimes.push(rt);
  return rt;
}

async function gateway(name: string, extra: Partial<GatewaySettings> = {}): Promise<Gateway> {
  let g!: Gateway;
  const rt = new ProcessRuntime({
    proctype: 'gateway',
    name,
    servers: server.url,
    logger: silentLogger,
    heartbeatMs: 200,
    start: async (c, ctx) => {
      g = await startGateway(c, { name, tables: testTables, ...extra }, silentLogger, {
        apis: ctx.apis,
        joins: {
          // TorQ's example: sum{select count i by a from x} each x, as columns.
          countBySrc: (results) => {
            const counts: Record<string, number> = {};
            for (const r of results as QueryResult[]) for (const s of r.cols.src as string[]) counts[s] = (counts[s] ?? 0) + 1;
            return counts;
          },
          // TorQ's failing example: groups by a column the results do not have.
          byMissing: (results) => {
            for (const r of results as QueryResult[]) if (!r.cols.b) throw new Error('b');
            return results;
          },
        },
      });
      return { ready: (t) => g.ready(t), stop: () => g.stop(), status: () => g.status() };
    },
  });
  await rt.start();
  runtimes.push(rt);
  return g;
}

const f = (ms: number) => ({ type: 'tickbus.v1.call', api: 'f', args: [ms] });

async function expectError(p: Promise<unknown>, code: string): Promise<TickbusError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    expect((e as TickbusError).code).toBe(code);
    return e as TickbusError;
  }
  throw new Error(`expected ${code}`);
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  await backend('rdb', 'rdb1', 0);
  await backend('hdb', 'hdb1', 300);
  gw = await gateway('gw1');
  client = new GatewayClient(nc, { gateway: 'gw1', timeoutMs: 10_000 });
});

afterAll(async () => {
  client?.close();
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
});

describe('gateway walkthrough', () => {
  it('gateway: a sync query across two types takes the slower one time, not the sum, and razes the tables', async () => {
    const t0 = performance.now();
    const r = await client.sync<QueryResult>(f(300), ['hdb', 'rdb']);
    const ms = performance.now() - t0;
    // rdb: 300 ms, hdb: 600 ms; in parallel about 600, in series 900.
    expect(ms).toBeGreaterThanOrEqual(590);
    expect(ms).toBeLessThan(820);
    expect(r.result.n).toBe(4);
    expect(r.result.cols.src).toEqual(['hdb1', 'hdb1', 'rdb1', 'rdb1']);
    expect(r.parts.map((p) => p.name)).toEqual(['hdb1', 'rdb1']);
  });

  it('gateway: a query for a type with no live process errors at once, naming the missing and the available types', async () => {
    const t0 = performance.now();
    const e = await expectError(client.sync(f(10), ['hdb', 'rdb', 'other']), 'TYPE_NOT_AVAILABLE');
    expect(performance.now() - t0).toBeLessThan(500); // at once: not queued, not timed out
    expect(e.detail.missing).toEqual(['other']);
    expect(e.detail.available).toEqual(expect.arrayContaining(['hdb', 'rdb']));
    expect(e.message).toMatch(/missing: other/);
  });

  it('gateway: a custom join registered in TypeScript', async () => {
    const r = await client.sync<Record<string, number>>(f(10), ['hdb', 'rdb'], { join: 'countBySrc' });
    expect(r.result).toEqual({ hdb1: 2, rdb1: 2 });
  });

  it('gateway: a failing join gives JOIN_FAILED; an unknown join is a bad query', async () => {
    const e = await expectError(client.sync(f(10), ['hdb', 'rdb'], { join: 'byMissing' }), 'JOIN_FAILED');
    expect(e.message).toMatch(/failed to apply join function byMissing to the results: b/);
    await expectError(client.sync(f(10), ['rdb'], { join: 'nope' }), 'BAD_QUERY');
  });

  it('gateway: a backend error gives BACKEND_ERROR naming the backend and carrying its error', async () => {
    const e = await expectError(client.sync({ type: 'tickbus.v1.call', api: 'fail', args: ['no data'] }, ['rdb']), 'BACKEND_ERROR');
    expect(e.detail.backend).toBe('rdb1');
    expect(e.detail.error).toMatchObject({ code: 'API_FAILED' });
    const u = await expectError(client.sync({ type: 'tickbus.v1.call', api: 'nope', args: [] }, ['rdb']), 'BACKEND_ERROR');
    expect(u.detail.error).toMatchObject({ code: 'UNKNOWN_API' });
  });

  it('gateway: several async queries at once are served at once by replicas', async () => {
    await backend('rdb', 'rdb2', 0);
    await backend('hdb', 'hdb2', 300);
    await until(() => gw.backends().filter((b) => b.proctype === 'rdb' || b.proctype === 'hdb').length === 4, 5_000);
    const t0 = performance.now();
    const [a, b] = await Promise.all([client.async<QueryResult>(f(300), ['hdb', 'rdb']), client.async<QueryResult>(f(300), ['hdb', 'rdb'])]);
    const ms = performance.now() - t0;
    // One query at a time per backend: at once about 600 ms; with one replica each the second would wait (~1200 ms).
    expect(ms).toBeLessThan(1_000);
    const used = new Set([...a.parts, ...b.parts].map((p) => p.name));
    expect(used).toEqual(new Set(['hdb1', 'hdb2', 'rdb1', 'rdb2']));
    expect(a.result.n + b.result.n).toBe(8);
  });

  it('gateway: one query at a time per backend, first come first served, and a higher priority goes first', async () => {
    await backend('solo', 'solo1', 0);
    await until(() => gw.backends().some((b) => b.name === 'solo1'), 5_000);
    const done: string[] = [];
    const run = (id: string, ms: number, priority = 0) => client.async(f(ms), 'solo', { id, priority }).then((r) => done.push(r.id));
    const first = run('q1', 150);
    await new Promise((r) => setTimeout(r, 30)); // q1 is running on solo1
    const rest = [run('q2', 10), run('q3', 10), run('q4', 10, 5)];
    const t0 = performance.now();
    await Promise.all([first, ...rest]);
    expect(done).toEqual(['q1', 'q4', 'q2', 'q3']);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
  });

  it('gateway: a query that outlives its timeout gets QUERY_TIMEOUT at its deadline', async () => {
    await backend('slow', 'slow1', 0);
    await until(() => gw.backends().some((b) => b.name === 'slow1'), 5_000);
    const t0 = performance.now();
    const e = await expectError(client.sync(f(1_500), 'slow', { timeoutMs: 300 }), 'QUERY_TIMEOUT');
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(900);
    expect(e.detail.running).toEqual(['slow1']);
  });

  it('gateway: an async query with a postback subject publishes its result there; the call is acknowledged at once', async () => {
    const sub = nc.subscribe('results.gwtest', { max: 2 });
    const ack = await client.postback(f(100), ['hdb', 'rdb'], 'results.gwtest', { id: 'pb-1' });
    expect(ack).toMatchObject({ type: 'tickbus.v1.gateway.accepted', id: 'pb-1', gateway: 'gw1', postback: 'results.gwtest' });
    await client.postback({ type: 'tickbus.v1.call', api: 'fail', args: ['late'] }, 'rdb', 'results.gwtest', { id: 'pb-2' });
    const got: Array<{ id: string | undefined; body: unknown }> = [];
    for await (const m of sub) got.push({ id: GatewayClient.postbackId(m), body: decode(m.data) });
    const ok = got.find((g) => g.id === 'pb-1')!.body as GatewayReply<QueryResult>;
    expect(ok).toMatchObject({ type: 'tickbus.v1.gateway.reply', id: 'pb-1' });
    expect(ok.result.n).toBe(4);
    // Errors after acceptance travel in the postback too, in the one envelope.
    expect(got.find((g) => g.id === 'pb-2')!.body).toMatchObject({ type: 'tickbus.v1.error', code: 'BACKEND_ERROR', detail: { id: 'pb-2' } });
    // Errors found at once answer the call itself.
    await expectError(client.postback(f(1), 'other', 'results.gwtest'), 'TYPE_NOT_AVAILABLE');
  });

  it('gateway: an async query without a postback answers twice on the reply subject: the acceptance, then the result', async () => {
    const h = headers();
    h.set(Header.contentType, 'application/json');
    const req = { type: 'tickbus.v1.gateway.request', id: 'wait-1', target: ['rdb'], query: { type: 'tickbus.v1.call', api: 'echo', args: ['hi'] } };
    const got: unknown[] = [];
    for await (const m of await nc.requestMany('gw.gw1.async', JSON.stringify(req), { headers: h, maxMessages: 2, maxWait: 5_000 })) got.push(JSON.parse(new TextDecoder().decode(m.data)));
    expect(got).toEqual([
      { type: 'tickbus.v1.gateway.accepted', id: 'wait-1', gateway: 'gw1', postback: expect.any(String) },
      expect.objectContaining({ type: 'tickbus.v1.gateway.reply', id: 'wait-1', result: 'hi' }),
    ]);
  });

  it('gateway: a backend registering while the gateway runs is used without a restart; one stopping is dropped', async () => {
    await expectError(client.sync(f(1), 'late'), 'TYPE_NOT_AVAILABLE');
    const late = await backend('late', 'late1', 0);
    await until(() => gw.backends().some((b) => b.name === 'late1'), 5_000);
    const r = await client.sync<QueryResult>(f(1), 'late');
    expect(r.parts).toEqual([expect.objectContaining({ name: 'late1', proctype: 'late' })]);
    await late.stop();
    await until(() => !gw.backends().some((b) => b.name === 'late1'), 5_000);
    await expectError(client.sync(f(1), 'late'), 'TYPE_NOT_AVAILABLE');
  });

  it('gateway: attribute routing matches cross or independent, best effort unless told otherwise', async () => {
    await backend('attr', 'eu1', 0, { region: 'eu', dates: ['2026-11-20', '2026-11-21'] });
    await backend('attr', 'us1', 0, { region: 'us', dates: ['2026-11-21', '2026-11-22'] });
    await until(() => gw.backends().filter((b) => b.proctype === 'attr').length === 2, 5_000);
    const both = await client.sync<QueryResult>(f(1), { attributes: { dates: ['2026-11-20', '2026-11-22'] }, match: 'independent' });
    expect(both.parts.map((p) => p.name).sort()).toEqual(['eu1', 'us1']);
    const eu = await client.sync<QueryResult>(f(1), { types: ['attr'], attributes: { region: 'eu', dates: ['2026-11-20', '2026-11-22'] } });
    expect(eu.parts.map((p) => p.name)).toEqual(['eu1']); // best effort: (eu, 2026-11-22) is held by nobody
    const e = await expectError(
      client.sync(f(1), { types: ['attr'], attributes: { region: 'eu', dates: ['2026-11-20', '2026-11-22'] }, bestEffort: false }),
      'NO_MATCHING_PROCESS',
    );
    expect(e.detail.unmatched).toEqual(['region=eu dates=2026-11-22']);
    await expectError(client.sync(f(1), { attributes: { region: 'asia' } }), 'NO_MATCHING_PROCESS');
  });

  it('gateway: a client that is not ours sends JSON and gets JSON (bus/SUBJECTS.md is enough)', async () => {
    const h = headers();
    h.set(Header.contentType, 'application/json');
    const req = { type: 'tickbus.v1.gateway.request', target: ['rdb'], query: { type: 'tickbus.v1.call', api: 'f', args: [1] } };
    const m = await nc.request('gw.gw1.sync', JSON.stringify(req), { headers: h, timeout: 5_000 });
    expect(m.headers?.get(Header.contentType)).toBe('application/json');
    const body = JSON.parse(new TextDecoder().decode(m.data));
    expect(body).toMatchObject({ type: 'tickbus.v1.gateway.reply', result: { type: 'tickbus.v1.result', n: 2, cols: { a: [1, 2] } } });
    const bad = await nc.request('gw.sync', JSON.stringify({ ...req, target: ['nope'] }), { headers: h, timeout: 5_000 });
    expect(JSON.parse(new TextDecoder().decode(bad.data))).toMatchObject({ type: 'tickbus.v1.error', code: 'TYPE_NOT_AVAILABLE' });
    // The gateway's own APIs answer on its query subject.
    const q = await nc.request('q.gateway.gw1', encode({ type: 'tickbus.v1.call', api: 'joins', args: [] }), { timeout: 5_000 });
    expect(decode(q.data)).toEqual(expect.arrayContaining(['raze', 'list', 'countBySrc']));
  });

  it('gateway: beyond queueMax a query is refused with OVERLOADED at once', async () => {
    await gateway('gwsmall', { queueMax: 2 });
    const small = new GatewayClient(nc, { gateway: 'gwsmall', timeoutMs: 5_000 });
    const running = [small.async(f(300), 'solo'), small.async(f(300), 'solo')];
    await new Promise((r) => setTimeout(r, 50));
    await expectError(small.sync(f(1), 'solo'), 'OVERLOADED');
    await Promise.all(running);
    small.close();
  });
});
