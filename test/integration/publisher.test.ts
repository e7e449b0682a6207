// Proves the Publisher client: small updates are coalesced client-side within coalesceMs (fewer
// feed messages, every caller still gets its ack), and a publish made while no tickerplant runs is
// retried with the same id until one starts, and lands once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInbox, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
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

  it('publisher: bulk acks answer many requests in one message, only for clients that ask', async () => {
    const tp = await startTickerplant(nc, { name: 'bulk', tables: testTables, mode: 'batch', pubFreqMs: 20 }, silentLogger);
    await tp.ready();
    // A raw client that opted in: replies on <prefix>.<token>, acks may come on <prefix>.acks.
    const prefix = createInbox();
    const got: Array<{ subject: string; body: Record<string, unknown> }> = [];
    const sub = nc.subscribe(`${prefix}.*`, { callback: (_e, m) => {
      got.push({ subject: m.subject, body: decode(m.data) });
    } });
    for (let i = 0; i < 5; i++) {
      const upd = { type: 'tickbus.v1.upd', id: `bulk-${i}`, ack: 'bulk', rows: [['A', 1, 1, i]] };
      nc.publish('tp.bulk.upd.trade', encode(upd), { reply: `${prefix}.${i}` });
    }
    // One that did not opt in gets its own ack as before.
    const plain = await nc.request('tp.bulk.upd.trade', encode({ type: 'tickbus.v1.upd', id: 'plain-1', rows: [['A', 1, 1, 9]] }), { timeout: 5_000 });
    expect(decode(plain.data)).toMatchObject({ type: 'tickbus.v1.ack', id: 'plain-1', rows: 1 });
    const deadline = Date.now() + 5_000;
    const acked = () => got.flatMap((g) => (g.subject === `${prefix}.acks` ? (g.body.acks as unknown[][]) : [g.body]));
    while (acked().length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    sub.unsubscribe();
    expect(got.every((g) => g.subject === `${prefix}.acks`)).toBe(true);
    expect(got.every((g) => g.body.type === 'tickbus.v1.acks')).toBe(true);
    const entries = acked() as Array<[string, string, number, number]>;
    expect(entries.map((e) => e[0]).sort()).toEqual(['0', '1', '2', '3', '4']);
    expect(entries.map((e) => e[1]).sort()).toEqual(['bulk-0', 'bulk-1', 'bulk-2', 'bulk-3', 'bulk-4']);
    for (const e of entries) expect(e[3]).toBe(1);
    // Acks only after the append: every seq is in the log, and the rows are there once.
    const log = await readLog(nc, 'bulk');
    expect(column(log.batches, 'fid').sort()).toEqual([0n, 1n, 2n, 3n, 4n, 9n]);
    const seqs = new Set(log.batches.map((b) => b.seq));
    for (const e of entries) expect(seqs.has(e[2])).toBe(true);
    // The Publisher asks for bulk acks and resolves each publish with its own id.
    const pub = new Publisher(nc, { tp: 'bulk' });
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publish('trade', { rows: [['B', 1, 1, 100 + i]] }, `p-${i}`)));
    expect(acks.map((a) => a.id)).toEqual(Array.from({ length: 50 }, (_, i) => `p-${i}`));
    for (const a of acks) expect(a.rows).toBe(1);
    pub.close();
    await tp.stop();
  });
});
