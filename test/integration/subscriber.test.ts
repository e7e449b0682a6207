// The subscription core every subscriber uses (RDB, late joiners, replay): when its consumer stops
// delivering while the log holds more (here the server-side consumer is deleted from under it,
// with nats.js's own heartbeat check set far away), the stall watchdog re-creates the consumer
// from the next sequence within its bound: every message arrives once, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { Publisher } from '../../bus/publisher.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { manager } from '../../bus/streams.ts';
import { streams } from '../../bus/subjects.ts';
import { subscribe } from '../../bus/subscriber.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let tp: Tickerplant;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  tp = await startTickerplant(nc, { name: 'stall', tables: testTables, mode: 'immediate' }, silentLogger);
  await tp.ready();
});

afterAll(async () => {
  await tp?.stop();
  await nc?.close();
  await server?.dispose();
});

describe('subscriber', () => {
  it('subscriber: the consumer on the server is named after the subscriber (monitor lag rows say whose it is)', async () => {
    const sub = await subscribe(nc, { tp: 'stall', from: 'live', name: 'rdb_r.1 x' });
    const jsm = await manager(nc);
    const names: string[] = [];
    for await (const c of jsm.consumers.list(streams.log('stall'))) names.push(c.name);
    expect(names.some((n) => n.startsWith('rdb_r_1_x'))).toBe(true);
    // A second subscriber of the same name while the first's consumer is still on the server (a
    // restarted process whose predecessor was killed) gets its own consumer, not a name clash.
    const again = await subscribe(nc, { tp: 'stall', from: 'today', name: 'rdb_r.1 x' });
    expect(again.startSeq).toBeGreaterThan(0);
    await again.close();
    await sub.close();
  });

  it('subscriber: close() of a subscription that was never iterated returns within its bound', async () => {
    const sub = await subscribe(nc, { tp: 'stall', from: 'live' });
    const t0 = Date.now();
    await sub.close();
    expect(Date.now() - t0).toBeLessThan(10_000); // hung for ever before
  });

  it('subscriber: a consumer that stops delivering is re-created from the next sequence, no gap, no duplicate', async () => {
    const pub = new Publisher(nc, { tp: 'stall' });
    const send = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) await pub.publish('trade', { rows: [['AAPL', 1.5, 100, i]] });
    };
    await send(0, 20);
    // nats.js would notice missing heartbeats only after 2 x 15 s: the watchdog must act first.
    const sub = await subscribe(nc, { tp: 'stall', from: 'today', expiresMs: 30_000, stallMs: 1_000 });
    const fids: bigint[] = [];
    const reading = (async () => {
      for await (const e of sub) if (e.type === 'batch') fids.push(...(e.batch.cols.fid as BigInt64Array));
    })();
    await until(() => fids.length === 20, 10_000);
    const jsm = await manager(nc);
    for await (const c of jsm.consumers.list(streams.log('stall'))) await jsm.consumers.delete(streams.log('stall'), c.name);
    await send(20, 30);
    await until(() => fids.length >= 50, 20_000);
    expect(fids).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)));
    expect(sub.resumes).toBeGreaterThanOrEqual(1);
    await sub.close();
    await reading;
    pub.close();
  }, 40_000);
});
