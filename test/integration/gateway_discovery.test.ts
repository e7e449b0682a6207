// Proves the discovery library (actors/common/discovery.ts) on a real nats-server: the registry
// bucket `proc` loads on open (including entries written before), processes are found by type and
// attribute filter, a watcher is told when a process of a type it watches registers, changes its
// attributes (the runtime re-registers them on change) and goes away, and other types are not
// reported; heartbeats classify each process ok -> warning (more than warnAfterBeats periods
// silent) -> error (more than errorAfterBeats) -> ok again when beats resume; a stale entry that
// never beats goes to error. Beats here are published by hand to control them to the millisecond.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { kv, subjects } from '../../bus/subjects.ts';
import { Discovery, type DiscoveryEvent } from '../../actors/common/discovery.ts';
import { ProcessRuntime, type ProcessInfo } from '../../actors/common/runtime.ts';
import { connectTo, silentLogger, startServer, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

function entry(proctype: string, name: string, heartbeatMs: number, attributes: Record<string, unknown> = {}): ProcessInfo {
  return { type: 'tickbus.v1.proc', name, proctype, host: 'test', pid: 1, subjects: [], startedAt: new Date().toISOString(), attributes, heartbeatMs, apis: [] };
}

describe('discovery', () => {
  it('gateway: discovery finds processes by type and attributes and reports registrations, changes and departures', async () => {
    const bucket = await new Kvm(nc).create(kv.registryBucket, { history: 1 });
    await bucket.put(kv.registryKey('hdb', 'old1'), JSON.stringify(entry('hdb', 'old1', 1_000, { dates: ['2026-11-20'] })));
    const events: DiscoveryEvent[] = [];
    const d = await Discovery.open(nc, { types: ['rdb', 'hdb'] });
    d.on((e) => events.push(e));
    expect(d.find('hdb').map((p) => p.name)).toEqual(['old1']);
    let attributes: Record<string, unknown> = { tables: ['trade'], dates: ['2026-11-22'] };
    const rt = new ProcessRuntime({
      proctype: 'rdb',
      name: 'r1',
      servers: server.url,
      logger: silentLogger,
      heartbeatMs: 50,
      start: async () => ({ ready: async () => {}, stop: async () => {}, status: () => ({}), attributes: () => attributes }),
    });
    const other = new ProcessRuntime({ proctype: 'feed', name: 'f1', servers: server.url, logger: silentLogger, start: async () => ({ ready: async () => {}, stop: async () => {}, status: () => ({}) }) });
    await rt.start();
    await other.start();
    await until(() => events.some((e) => e.type === 'proc.up' && e.proc.name === 'r1'), 5_000);
    expect(d.list({ attributes: { dates: '2026-11-22' } }).map((p) => p.name)).toEqual(['r1']);
    expect(d.list({ types: ['rdb'], attributes: { tables: ['trade', 'quote'] } })).toEqual([]);
    attributes = { tables: ['trade'], dates: ['2026-11-23'] };
    await until(() => events.some((e) => e.type === 'proc.changed' && e.proc.attributes.dates !== undefined && (e.proc.attributes.dates as string[])[0] === '2026-11-23'), 5_000);
    await rt.stop();
    await until(() => events.some((e) => e.type === 'proc.down' && e.proc.name === 'r1'), 5_000);
    expect(events.some((e) => e.proc.proctype === 'feed')).toBe(false);
    expect(d.find('rdb')).toEqual([]);
    await other.stop();
    await d.close();
  });

  it('gateway: heartbeats put a process in warning after warnAfterBeats periods, error after errorAfterBeats, and back to ok', async () => {
    const bucket = await new Kvm(nc).create(kv.registryBucket, { history: 1 });
    const HB = 100;
    await bucket.put(kv.registryKey('svc', 'beater'), JSON.stringify(entry('svc', 'beater', HB)));
    await bucket.put(kv.registryKey('svc', 'stale'), JSON.stringify(entry('svc', 'stale', HB)));
    const d = await Discovery.open(nc, { types: ['svc'], checkEveryMs: 10, health: { warnAfterBeats: 2, errorAfterBeats: 3 } });
    const seen: Array<[string, string, number]> = [];
    const t0 = performance.now();
    d.on((e) => {
      if (e.type === 'proc.health') seen.push([e.proc.name, e.proc.health, performance.now() - t0]);
    });
    let seq = 0;
    let lastBeatAt = 0;
    const beat = () => {
      lastBeatAt = performance.now() - t0;
      nc.publish(subjects.heartbeat('svc', 'beater'), JSON.stringify({ type: 'tickbus.v1.hb', seq: ++seq }));
    };
    const timer = setInterval(beat, HB);
    beat();
    // The stale entry never beat: warning after 2 periods, error after 3; the beater stays ok.
    await until(() => d.get('svc', 'stale')!.health === 'error', 3_000);
    expect(seen.filter(([n]) => n === 'stale').map(([, h]) => h)).toEqual(['warning', 'error']);
    beat();
    await new Promise((r) => setTimeout(r, 20));
    expect(d.get('svc', 'beater')).toMatchObject({ health: 'ok', beats: seq });
    clearInterval(timer);
    seen.length = 0;
    const silentAt = lastBeatAt;
    await until(() => d.get('svc', 'beater')!.health === 'error', 2_000);
    const marks = seen.filter(([n]) => n === 'beater');
    expect(marks.map(([, h]) => h)).toEqual(['warning', 'error']);
    expect(marks[0]![2] - silentAt).toBeGreaterThanOrEqual(2 * HB - 20);
    expect(marks[1]![2] - silentAt).toBeGreaterThanOrEqual(3 * HB - 20);
    expect(marks[1]![2] - silentAt).toBeLessThan(3 * HB + 1_000);
    beat();
    await until(() => d.get('svc', 'beater')!.health === 'ok', 1_000);
    expect(d.list({ health: ['error'] }).map((p) => p.name)).toEqual(['stale']);
    await d.close();
  });
});
