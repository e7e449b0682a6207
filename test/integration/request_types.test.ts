// Proves that no request subject reads a message of another type as its own: an unknown or
// misplaced `type` is a BAD_TYPE naming what the subject takes, on every request subject of
// bus/SUBJECTS.md, for a client written without the project's libraries (raw protocol, JSON).
// Before, q.rdb given {"type": "tickbus.v1.upd", "table": "trade"} answered the whole table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { RawNats } from '../support/raw_nats.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let raw: RawNats;
const runtimes: ProcessRuntime[] = [];

async function proc(proctype: string, name: string, settings: Record<string, unknown>): Promise<void> {
  runtimes.push(await startRuntime(server.url, proctype, name, settings, { tables: testTables, heartbeatMs: 100 }));
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-types-'));
  await proc('tickerplant', 'tp1', { mode: 'immediate' });
  const pub = new Publisher(nc, { tp: 'tp1' });
  await pub.publish('trade', { rows: [['AAPL', 40, 4, 1], ['MSFT', 50, 5, 2]] });
  pub.close();
  await proc('rdb', 'rdb1', { tp: 'tp1', hdbDir: join(dir, 'hdb') });
  await proc('hdb', 'hdb1', { hdbDir: join(dir, 'hdb'), rescanMs: 0 });
  await proc('gateway', 'gw1', {});
  await proc('monitor', 'monitor1', {});
  raw = await RawNats.connect(server.port);
});

afterAll(async () => {
  raw?.close();
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const ask = async (subject: string, body: unknown) => JSON.parse((await raw.request(subject, body)).body) as Record<string, unknown>;

describe('request types', () => {
  it('wire: every request subject answers a misplaced or unknown type with BAD_TYPE', async () => {
    await until(async () => (await ask('q.rdb', { type: 'tickbus.v1.query', table: 'trade', count: true })).n === 2);
    const update = { type: 'tickbus.v1.upd', table: 'trade' };
    const cases: Array<[string, unknown]> = [
      ['q.rdb', update],
      ['q.rdb.rdb1', update],
      ['q.rdb', { type: 'tickbus.v1.sql', sql: 'select 1' }], // SQL is the HDB's, not the RDB's
      ['q.rdb', { type: 42, table: 'trade' }],
      ['q.rdb', [1, 2]],
      ['q.hdb', update],
      ['q.hdb.hdb1', { type: 'tickbus.v1.gateway.request', query: {} }],
      ['gw.gw1.sync', update],
      ['gw.sync', { type: 'tickbus.v1.query', table: 'trade' }], // a backend query sent to the gateway's request subject
      ['gw.gw1.async', update],
      ['gw.async', update],
      ['q.gateway.gw1', update],
      ['q.monitor.monitor1', update],
      ['q.monitor', { type: 'tickbus.v1.getdata', table: 'trade' }],
      ['tp.tp1.upd.trade', { type: 'tickbus.v1.query', table: 'trade' }],
      ['tp.tp1.upd', { type: 'tickbus.v1.getdata', tables: {} }],
    ];
    for (const [subject, body] of cases) {
      const r = await ask(subject, body);
      expect({ subject, r }).toMatchObject({ subject, r: { type: 'tickbus.v1.error', code: 'BAD_TYPE' } });
    }
    // The error says what the subject takes.
    const r = await ask('q.rdb', update);
    expect(r.message).toMatch(/tickbus\.v1\.upd.*tickbus\.v1\.query/);
    expect(r.detail).toMatchObject({ type: 'tickbus.v1.upd', accepted: expect.arrayContaining(['tickbus.v1.query', 'tickbus.v1.getdata']) });
    // Through the gateway, the backend's BAD_TYPE reaches the caller as the documented
    // BACKEND_ERROR carrying the backend's envelope (nothing is answered instead).
    const via = await ask('gw.gw1.sync', { type: 'tickbus.v1.gateway.request', target: ['rdb'], query: update });
    expect(via).toMatchObject({ type: 'tickbus.v1.error', code: 'BACKEND_ERROR', detail: { backend: 'rdb1', error: { code: 'BAD_TYPE' } } });
    // A request without type is still the subject's default query, and the right types still work.
    expect(await ask('q.rdb', { table: 'trade', count: true })).toMatchObject({ type: 'tickbus.v1.result', n: 2 });
    const gd = await ask('q.rdb', { type: 'tickbus.v1.getdata', table: 'trade', start: '1970-01-01T00:00:00Z', end: new Date(Date.now() + 86_400_000).toISOString(), aggregations: [{ op: 'count' }] });
    expect(gd, JSON.stringify(gd)).toMatchObject({ type: 'tickbus.v1.result' });
  });
});
