// The gateway's side of a WDB's reload sequence, with a real HDB and gateway under the process
// runtime: between `wdb.<name>.reloadstart` and `reloadend` for a day, a getdata reading that day
// from the HDB is held and answered once reloadend comes; a reloadstart whose reloadend never
// comes ends by itself after the notice's holdMs (TorQ bug #661: never stuck); a query for
// another day is not held at all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { subjects } from '../../bus/subjects.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { defineTable } from '../../storage/schema.ts';
import { connectTo, startServer, testTables, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-wdbhold-'));
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway reload hold', () => {
  it('holds HDB-bound queries of the reloading day until reloadend, ends a hold by itself after holdMs, leaves other days alone', async () => {
    const hdbDir = join(dir, 'hdb');
    const trade = defineTable('trade', testTables.trade);
    const mk = (day: string, n: number) => {
      const t0 = BigInt(Date.parse(`${day}T12:00:00Z`)) * 1_000_000n;
      return [{ table: 'trade', n, cols: { time: BigInt64Array.from({ length: n }, (_, i) => t0 + BigInt(i)), sym: { dict: ['AAPL'], codes: new Uint32Array(n) }, price: new Float64Array(n).fill(1), size: new BigInt64Array(n), fid: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) } }];
    };
    await writePartition(hdbDir, '2026-03-02', 'trade', mk('2026-03-02', 5), { schema: trade });
    await writePartition(hdbDir, '2026-03-03', 'trade', mk('2026-03-03', 7), { schema: trade });
    const procs = [await startRuntime(server.url, 'hdb', 'rhh', { hdbDir, rescanMs: 0 }, { tables: testTables, heartbeatMs: 250 }), await startRuntime(server.url, 'gateway', 'rhg', {}, { tables: testTables, heartbeatMs: 250 })];
    const gw = new GatewayClient(nc, { gateway: 'rhg' });
    const count = (day: string) =>
      gw.sync<{ cols: { count: ArrayLike<number | bigint> } }>({ type: 'tickbus.v1.getdata', table: 'trade', start: `${day}T00:00:00Z`, end: `${day}T23:59:59Z`, aggregations: [{ op: 'count' }] }, undefined, { timeoutMs: 30_000 }).then((r) => Number(r.result.cols.count[0]));
    await until(() => count('2026-03-03').then((n) => n === 7, () => false), 15_000, 50);
    const gwStatus = async () => JSON.parse(new TextDecoder().decode((await nc.request('ctl.rhg.status', '', { timeout: 2_000 })).data)).status;

    // reloadstart ... reloadend: held, then answered.
    nc.publish(subjects.wdbReloadStart('w9'), encode({ type: 'tickbus.v1.wdb.reloadstart', wdb: 'w9', date: '2026-03-03', tables: ['trade'], holdMs: 60_000 }));
    await until(async () => (await gwStatus()).reloadHolds.held.length === 1, 10_000);
    let answered: number | undefined;
    const pending = count('2026-03-03').then((n) => (answered = n));
    expect(await count('2026-03-02')).toBe(5); // another day: not held
    await until(async () => (await gwStatus()).held === 1, 10_000);
    expect(answered).toBeUndefined();
    nc.publish(subjects.wdbReloadEnd('w9'), encode({ type: 'tickbus.v1.wdb.reloadend', wdb: 'w9', date: '2026-03-03', steps: [] }));
    expect(await pending).toBe(7);
    expect((await gwStatus()).reloadHolds).toMatchObject({ started: 1, ended: 1, expired: 0, held: [] });

    // A reloadstart whose reloadend is lost: the hold ends by itself after holdMs.
    nc.publish(subjects.wdbReloadStart('w9'), encode({ type: 'tickbus.v1.wdb.reloadstart', wdb: 'w9', date: '2026-03-03', tables: ['trade'], holdMs: 1_500 }));
    await until(async () => (await gwStatus()).reloadHolds.held.length === 1, 10_000);
    expect(await count('2026-03-03')).toBe(7);
    expect((await gwStatus()).reloadHolds).toMatchObject({ started: 2, ended: 1, expired: 1, held: [] });
    gw.close?.();
    for (const p of procs.reverse()) await p.stop();
  }, 60_000);
});
