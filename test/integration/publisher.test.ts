// Proves the Publisher client: small updates are coalesced client-side within coalesceMs (fewer
// feed messages, every caller still gets its ack), and a publish made while no tickerplant runs is
// retried with the same id until one starts, and lands once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { column, connectTo, readLog, silentLogger, startServer, testTables } from '../support/bus.ts';

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

describe('publisher', () => {
  it('publisher: coalesces small updates per table within the bound', async () => {
    const tp = await startTickerplant(nc, { name: 'coal', tables: testTables, mode: 'immediate' }, silentLogger);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'coal', coalesceMs: 50, coalesceRowsMax: 40 });
    const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => pub.publish('trade', { rows: [['A', 1, 1, i]] })));
    expect(acks).toHaveLength(100);
    // 100 rows with at most 40 per message: 3 feed messages, not 100.
    expect(tp.status().updates).toBe(3);
    const log = await readLog(nc, 'coal');
    expect(column(log.batches, 'fid')).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i)));
    pub.close();
    await tp.stop();
  });

  it('publisher: retries with the same id until a tickerplant answers', async () => {
    const pub = new Publisher(nc, { tp: 'late', retriesMax: 50, retryDelayMs: 50, ackTimeoutMs: 1_000 });
    const pending = pub.publish('trade', { rows: [['A', 1, 1, 7]] });
    await new Promise((r) => setTimeout(r, 300));
    const tp = await startTickerplant(nc, { name: 'late', tables: testTables }, silentLogger);
    await tp.ready();
    const ack = await pending;
    expect(ack.rows).toBe(1);
    expect(column((await readLog(nc, 'late')).batches, 'fid')).toEqual([7n]);
    pub.close();
    await tp.stop();
  });
});
