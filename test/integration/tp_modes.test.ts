// The tickerplant's batching modes and multi-table updates against a real nats-server, read back
// from the log: memorybatch appends each timer tick's tables as one multi-table message and acks
// a feed with the sequence of the message holding its rows; a multi-table update is one log
// message (all or none), keeps each table's row order around it, is refused whole with
// MESSAGE_TOO_LARGE when it cannot fit one message, continues the day's counts after a restart
// (Tb-Counts), and reaches subscribers and `replay --check` as one batch per table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from '../../bus/codec.ts';
import { ErrorCode } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher, type Ack } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { streams, subjects } from '../../bus/subjects.ts';
import { subscribe, type BatchEvent } from '../../bus/subscriber.ts';
import { replay } from '../../actors/replay/replay.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { column, connectTo, dupes, readLog, silentLogger, startServer, testTables } from '../support/bus.ts';

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

async function tp(name: string, extra: Record<string, unknown> = {}): Promise<Tickerplant> {
  const t = await startTickerplant(nc, { name, tables: testTables, ...extra }, silentLogger);
  await t.ready();
  return t;
}

const trade = (fid: number) => ['AAPL', 100 + fid / 100, 10, fid];
const quote = (fid: number) => ['MSFT', 1, 2, fid];

async function lastSeq(name: string): Promise<number> {
  return (await (await manager(nc)).streams.info(streams.log(name))).state.last_seq;
}

describe('tickerplant modes', () => {
  it('memorybatch: a tick of both tables is one multi-table message; every ack names the message holding its rows', async () => {
    const t = await tp('mem', { mode: 'memorybatch', pubFreqMs: 100 });
    const pub = new Publisher(nc, { tp: 'mem' });
    const acks: Array<Promise<Ack>> = [];
    for (let i = 0; i < 60; i++) acks.push(pub.publish(i % 2 ? 'quote' : 'trade', { rows: [i % 2 ? quote(i) : trade(i)] }));
    const got = await Promise.all(acks);
    const log = await readLog(nc, 'mem');
    // Every row once; far fewer messages than updates; the messages are multi-table.
    const fids = [...column(log.batches, 'fid', 'trade'), ...column(log.batches, 'fid', 'quote')].sort((a, b) => Number(a - b));
    expect(fids).toEqual(Array.from({ length: 60 }, (_, i) => BigInt(i)));
    expect(log.lastSeq).toBeLessThan(10);
    expect(log.batches.some((b) => b.multi)).toBe(true);
    // Each ack's sequence is the message holding that update's row.
    got.forEach((a, i) => {
      const table = i % 2 ? 'quote' : 'trade';
      const holder = log.batches.find((b) => b.seq === a.seq && b.table === table)!;
      expect(holder, `update ${i}`).toBeDefined();
      expect(Array.from(holder.cols.fid as BigInt64Array)).toContain(BigInt(i));
    });
    // The day's counts ride on each multi message (Tb-Counts) and end at the totals.
    const lastTrade = log.batches.filter((b) => b.table === 'trade').at(-1)!;
    expect(lastTrade.count).toBe(30);
    expect(t.status()).toMatchObject({ counts: { trade: 30, quote: 30 } });
    pub.close();
    await t.stop();
  });

  it('memorybatch: the byte bound still cuts a tick into several messages, none lost', async () => {
    const t = await tp('memsmall', { mode: 'memorybatch', pubFreqMs: 100, batchBytesMax: 2_000 });
    const pub = new Publisher(nc, { tp: 'memsmall' });
    await Promise.all(Array.from({ length: 40 }, (_, i) => pub.publishMulti({ trade: { rows: [trade(i)] }, quote: { rows: [quote(i)] } })));
    const log = await readLog(nc, 'memsmall');
    expect(column(log.batches, 'fid', 'trade').sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i)));
    expect(dupes(column(log.batches, 'fid', 'quote'))).toEqual([]);
    expect(column(log.batches, 'fid', 'quote')).toHaveLength(40);
    expect(log.lastSeq).toBeGreaterThan(1);
    pub.close();
    await t.stop();
  });

  it('multi-table update: one log message, between the rows that came before and after it', async () => {
    const t = await tp('multi1', { mode: 'batch', pubFreqMs: 200 });
    const pub = new Publisher(nc, { tp: 'multi1' });
    const before = await lastSeq('multi1');
    // A trade row pending in its batch, then a multi-table update, then another trade row.
    const a = pub.publish('trade', { rows: [trade(1)] });
    const m = pub.publishMulti({ trade: { rows: [trade(2), trade(3)] }, quote: { rows: [quote(4)] } });
    const b = pub.publish('trade', { rows: [trade(5)] });
    const [ackA, ackM, ackB] = await Promise.all([a, m, b]);
    expect(ackM.rows).toBe(3);
    const log = await readLog(nc, 'multi1');
    const multi = log.batches.filter((x) => x.multi);
    // Both tables of the update in one message (one sequence), acked with that sequence.
    expect(multi.map((x) => [x.table, x.n, x.seq])).toEqual([
      ['trade', 2, ackM.seq],
      ['quote', 1, ackM.seq],
    ]);
    expect(ackA.seq).toBeLessThan(ackM.seq);
    expect(ackB.seq).toBeGreaterThan(ackM.seq);
    expect(ackM.seq - before).toBe(2); // the pending trade row went out first, then the multi message
    expect(column(log.batches, 'fid', 'trade')).toEqual([1n, 2n, 3n, 5n]);
    expect(multi[0]!.count).toBe(3);
    // Subscribers get one batch event per table, with the message's sequence.
    const sub = await subscribe(nc, { tp: 'multi1', from: 'today' });
    const events: BatchEvent[] = [];
    for await (const e of sub) {
      if (e.type === 'batch') events.push(e);
      if (e.seq >= ackB.seq) break;
    }
    await sub.close();
    expect(events.map((e) => [e.table, e.seq, e.batch.n])).toEqual([
      ['trade', ackA.seq, 1],
      ['trade', ackM.seq, 2],
      ['quote', ackM.seq, 1],
      ['trade', ackB.seq, 1],
    ]);
    // A table filter applies inside the message.
    const quotes = await subscribe(nc, { tp: 'multi1', from: 'today', tables: ['quote'] });
    for await (const e of quotes) {
      expect(e).toMatchObject({ type: 'batch', table: 'quote', seq: ackM.seq });
      break;
    }
    await quotes.close();
    pub.close();
    await t.stop();
  });

  it('multi-table update: all or none across a restart; a retry of its id is a duplicate; counts continue from Tb-Counts', async () => {
    const t = await tp('multi2', { mode: 'immediate' });
    const pub = new Publisher(nc, { tp: 'multi2' });
    const ack = await pub.publishMulti({ trade: { rows: [trade(1), trade(2)] }, quote: { rows: [quote(3)] } }, 'm-1');
    const seqs = await lastSeq('multi2');
    expect(seqs).toBe(ack.seq); // one append holds both tables: no state where one table is in and the other is not
    // Stopped without a goodbye between appends is not possible to tell apart from here: the
    // message is in the log whole. A restarted tickerplant reads both tables' counts from it.
    await t.stop();
    const t2 = await tp('multi2', { mode: 'immediate' });
    expect(t2.status()).toMatchObject({ counts: { trade: 2, quote: 1 } });
    const again = await pub.publishMulti({ trade: { rows: [trade(1), trade(2)] }, quote: { rows: [quote(3)] } }, 'm-1');
    expect(again).toMatchObject({ duplicate: true, seq: ack.seq });
    await pub.publish('quote', { rows: [quote(4)] });
    const log = await readLog(nc, 'multi2');
    expect(log.batches.filter((b) => b.table === 'quote').map((b) => b.count)).toEqual([1, 2]);
    // replay --check reads the multi-table message as one batch per table.
    const day = log.batches[0]!.day;
    const report = await replay(nc, { tp: 'multi2', hdbDir: '/nonexistent', tables: testTables, fromSeq: 1, toSeq: log.lastSeq, check: true });
    expect(report.rows[day]).toEqual({ trade: 2, quote: 2 });
    expect(report.skippedCount).toBe(0);
    pub.close();
    await t2.stop();
  });

  it('multi-table update: one too large for a log message is refused whole with MESSAGE_TOO_LARGE, nothing logged', async () => {
    const t = await tp('multi3', { mode: 'batch', batchBytesMax: 4_000 });
    const pub = new Publisher(nc, { tp: 'multi3' });
    const before = await lastSeq('multi3');
    const many = (f: (i: number) => unknown[]) => Array.from({ length: 100 }, (_, i) => f(i));
    const err = await pub.publishMulti({ trade: { rows: many(trade) }, quote: { rows: many(quote) } }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE, detail: { max: 4_000, tables: ['trade', 'quote'] } });
    expect(await lastSeq('multi3')).toBe(before);
    // The same rows as one update per table are taken (a single table may be split into pieces).
    await pub.publish('trade', { rows: many(trade) });
    await pub.publish('quote', { rows: many(quote) });
    const log = await readLog(nc, 'multi3');
    expect(column(log.batches, 'fid', 'trade')).toHaveLength(100);
    expect(column(log.batches, 'fid', 'quote')).toHaveLength(100);
    pub.close();
    await t.stop();
  });

  it('multi-table messages carry the Tb-Counts and Tb-Ids headers and decode as tickbus.v1.multi', async () => {
    const t = await tp('multi4', { mode: 'immediate' });
    const pub = new Publisher(nc, { tp: 'multi4' });
    const ack = await pub.publishMulti({ quote: { rows: [quote(1)] }, trade: { rows: [trade(2)] } }, 'm-4');
    const m = await (await manager(nc)).streams.getMessage(streams.log('multi4'), { seq: ack.seq });
    expect(m!.subject).toBe(subjects.multi('multi4'));
    expect(m!.header.get('Tb-Counts')).toBe('quote=1,trade=1');
    expect(m!.header.get('Tb-Ids')).toBe('m-4');
    const body = decode<{ type: string; batches: Array<{ type: string; table: string; n: number }> }>(m!.data);
    expect(body.type).toBe('tickbus.v1.multi');
    expect(body.batches.map((b) => [b.type, b.table, b.n])).toEqual([
      ['tickbus.v1.batch', 'quote', 1],
      ['tickbus.v1.batch', 'trade', 1],
    ]);
    pub.close();
    await t.stop();
  });
});
