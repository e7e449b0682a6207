// Proves the tickerplant against a real nats-server: typed errors for every kind of bad update
// (kept in the error stream, nothing acknowledged disturbed), batch and immediate modes, acks only
// after the append is durable, dedupe of retried ids (also across a restart), multi-table
// updates, end-of-day marker order across midnight, and a restart that continues the day's
// counts. Each test reads the log stream back and checks it, not the tickerplant's word.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher, type Ack } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams } from '../../bus/subjects.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import type { Clock } from '../../actors/common/clock.ts';
import { clockBeforeMidnight, column, connectTo, dupes, readLog, silentLogger, startServer, testTables, until } from '../support/bus.ts';

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

async function tp(name: string, extra: Record<string, unknown> = {}, clock?: Clock): Promise<Tickerplant> {
  const t = await startTickerplant(nc, { name, tables: testTables, ...extra }, silentLogger, clock);
  await t.ready();
  return t;
}

async function req(subject: string, body: unknown, json = false): Promise<Record<string, unknown>> {
  const h = headers();
  if (json) h.set('Content-Type', 'application/json');
  const m = await nc.request(subject, json ? JSON.stringify(body) : encode(body), { headers: h, timeout: 5_000 });
  return decode(m.data, m.headers?.get('Content-Type')?.includes('json') ? 'json' : 'cbor');
}

const row = (fid: number) => ['AAPL', 100 + fid / 100, 10, fid];

describe('tickerplant', () => {
  it('tickerplant: every bad update gets a typed error naming the problem and lands in the error stream', async () => {
    const t = await tp('errs', { maxMessageBytes: 10_000 });
    const ok = await req('tp.errs.upd.trade', { type: 'tickbus.v1.upd', rows: [row(1)] }, true);
    expect(ok).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    const cases: Array<[string, unknown, string, RegExp]> = [
      ['tp.errs.upd.nope', { type: 'tickbus.v1.upd', rows: [row(2)] }, 'UNKNOWN_TABLE', /nope/],
      ['tp.errs.upd.trade', { type: 'tickbus.v1.upd', cols: { sym: ['A'], price: [1], size: [1] } }, 'MISSING_COLUMN', /fid/],
      ['tp.errs.upd.trade', { type: 'tickbus.v1.upd', cols: { sym: ['A'], price: [1], size: [1], fid: [1], venue: ['X'] } }, 'EXTRA_COLUMN', /venue/],
      ['tp.errs.upd.trade', { type: 'tickbus.v1.upd', cols: { sym: ['A'], price: ['high'], size: [1], fid: [1] } }, 'BAD_COLUMN_TYPE', /price/],
      ['tp.errs.upd.trade', { type: 'tickbus.v1.upd', cols: { sym: ['A', 'B'], price: [1], size: [1, 2], fid: [1, 2] } }, 'RAGGED_COLUMNS', /price/],
      ['tp.errs.upd.trade', { rows: [row(3)] }, 'BAD_TYPE', /type/],
      ['tp.errs.upd', { type: 'tickbus.v1.upd', tables: { trade: { rows: [row(4)] }, nope: { rows: [row(5)] } } }, 'UNKNOWN_TABLE', /nope/],
    ];
    for (const [subject, body, code, re] of cases) {
      const r = await req(subject, body, true);
      expect(r, `${code}`).toMatchObject({ type: 'tickbus.v1.error', code });
      expect(String(r.message)).toMatch(re);
    }
    // A message larger than the limit, and one that is not CBOR at all.
    const big = await req('tp.errs.upd.trade', { type: 'tickbus.v1.upd', rows: Array.from({ length: 1_000 }, (_, i) => row(i)) }, true);
    expect(big).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    const garbage = await nc.request('tp.errs.upd.trade', new Uint8Array([0xff, 0x00, 0x13]), { timeout: 5_000 });
    expect(decode(garbage.data)).toMatchObject({ code: 'BAD_ENCODING' });

    const jsm = await manager(nc);
    await until(async () => (await jsm.streams.info(streams.rejected('errs'))).state.messages >= cases.length + 2);
    const kept = await jsm.streams.getMessage(streams.rejected('errs'), { seq: 1 });
    expect(kept?.header.get(Header.errorCode)).toBe('UNKNOWN_TABLE');
    expect(kept?.header.get(Header.errorSubject)).toBe('tp.errs.upd.nope');
    // The multi-table update with one bad table appended nothing: the log holds only the first row.
    const log = await readLog(nc, 'errs');
    expect(column(log.batches, 'fid')).toEqual([1n]);
    await t.stop();
  });

  it('tickerplant: batch mode coalesces updates per table; immediate mode appends each', async () => {
    const b = await tp('batchy', { mode: 'batch', pubFreqMs: 50 });
    const pub = new Publisher(nc, { tp: 'batchy' });
    await Promise.all(Array.from({ length: 40 }, (_, i) => pub.publish('trade', { rows: [row(i)] })));
    const log = await readLog(nc, 'batchy');
    expect(column(log.batches, 'fid').sort((x, y) => Number(x - y))).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i)));
    expect(log.batches.length).toBeLessThan(10);
    await b.stop();

    // A byte bound smaller than the pending rows: appended in several messages, none lost.
    const small = await tp('small', { mode: 'batch', pubFreqMs: 50, batchBytesMax: 2_000 });
    const pub3 = new Publisher(nc, { tp: 'small' });
    await Promise.all(Array.from({ length: 40 }, (_, i) => pub3.publish('trade', { rows: [row(i), row(i + 1000)] })));
    const log3 = await readLog(nc, 'small');
    expect(column(log3.batches, 'fid').length).toBe(80);
    expect(log3.batches.length).toBeGreaterThan(1);
    pub3.close();
    await small.stop();

    const i = await tp('immy', { mode: 'immediate' });
    const pub2 = new Publisher(nc, { tp: 'immy' });
    for (let k = 0; k < 5; k++) await pub2.publish('trade', { rows: [row(k), row(k + 100)] });
    const log2 = await readLog(nc, 'immy');
    expect(log2.batches.map((x) => x.n)).toEqual([2, 2, 2, 2, 2]);
    expect(log2.batches.map((x) => x.count)).toEqual([2, 4, 6, 8, 10]);
    pub.close();
    pub2.close();
    await i.stop();
  });

  it('tickerplant: an ack names a sequence already in the log; no ack while the log is unreachable', async () => {
    const t = await tp('durable', { mode: 'immediate', appendTimeoutMs: 300, appendRetryDelayMs: 100, appendRetryWindowMs: 1_000 });
    const pub = new Publisher(nc, { tp: 'durable', retriesMax: 0, ackTimeoutMs: 3_000 });
    const ack = await pub.publish('trade', { rows: [row(7)] });
    const stored = await (await manager(nc)).streams.getMessage(streams.log('durable'), { seq: ack.seq });
    expect(decode<{ n: number }>(stored!.data).n).toBe(1);
    // Take the stream away: the tickerplant cannot append, so the feed must not be acked.
    await (await manager(nc)).streams.delete(streams.log('durable'));
    const failed = await pub.publish('trade', { rows: [row(8)] }).then(
      () => 'acked',
      (e: Error) => e.message,
    );
    expect(failed).toMatch(/log append failed/);
    pub.close();
    await t.stop();
  });

  it('tickerplant: an update larger than one log message is split; the ack waits for every piece', async () => {
    const t = await tp('split', { mode: 'immediate', batchBytesMax: 10_000 });
    const pub = new Publisher(nc, { tp: 'split' });
    const ack = await pub.publish('trade', { rows: Array.from({ length: 1001 }, (_, i) => row(i)) }, 'big-1');
    expect(ack.rows).toBe(1001);
    const log = await readLog(nc, 'split');
    expect(log.batches.length).toBeGreaterThan(1);
    expect(ack.seq).toBe(log.batches.at(-1)!.seq);
    expect(column(log.batches, 'fid')).toEqual(Array.from({ length: 1001 }, (_, i) => BigInt(i)));
    expect(log.batches.at(-1)!.count).toBe(1001);
    expect(log.batches.map((b) => b.ids.length)).toEqual([...log.batches.slice(1).map(() => 0), 1]);
    pub.close();
    await t.stop();
  });

  it('tickerplant: a retried id is appended once, whether the first is pending or acked', async () => {
    const t = await tp('dedupe', { mode: 'batch', pubFreqMs: 30 });
    const body = (fid: number) => encode({ type: 'tickbus.v1.upd', id: 'feed-1', rows: [row(fid)] });
    const [a, b] = await Promise.all([nc.request('tp.dedupe.upd.trade', body(1)), nc.request('tp.dedupe.upd.trade', body(1))]);
    const c = await nc.request('tp.dedupe.upd.trade', body(1));
    const acks = [a, b, c].map((m) => decode<Ack>(m.data));
    expect(new Set(acks.map((x) => x.seq)).size).toBe(1);
    expect(acks.filter((x) => x.duplicate).length).toBe(2);
    await t.stop();
    // A restarted tickerplant still knows the id (rebuilt from the log's Tb-Ids headers).
    const t2 = await tp('dedupe');
    const d = decode<Ack>((await nc.request('tp.dedupe.upd.trade', body(1))).data);
    expect(d).toMatchObject({ duplicate: true, seq: acks[0]!.seq });
    expect(column((await readLog(nc, 'dedupe')).batches, 'fid')).toEqual([1n]);
    await t2.stop();
  });

  it('tickerplant: small updates read together are validated together, yet each gets its own answer', async () => {
    const t = await tp('group', { mode: 'batch', pubFreqMs: 20 });
    const inbox = `_INBOX.group`;
    const got = new Map<string, Record<string, unknown>>();
    const sub = nc.subscribe(`${inbox}.*`, {
      callback: (_e, m) => {
        got.set(m.subject.slice(inbox.length + 1), decode(m.data, m.headers?.get('Content-Type')?.includes('json') ? 'json' : 'cbor'));
      },
    });
    // Sent back to back (one socket read on the tickerplant's side): good rows, one bad value,
    // one ragged row, a retry of an id within the same burst, a cols update and a JSON one between.
    const send = (k: string, body: Record<string, unknown>, json = false) => {
      const h = headers();
      if (json) h.set('Content-Type', 'application/json');
      nc.publish('tp.group.upd.trade', json ? JSON.stringify(body) : encode(body), { reply: `${inbox}.${k}`, headers: h });
    };
    for (let i = 0; i < 20; i++) send(`g${i}`, { type: 'tickbus.v1.upd', id: `g-${i}`, rows: [row(i)] });
    send('bad', { type: 'tickbus.v1.upd', id: 'g-bad', rows: [['AAPL', 'high', 10, 99]] });
    send('ragged', { type: 'tickbus.v1.upd', rows: [['AAPL', 1, 10]] });
    send('again', { type: 'tickbus.v1.upd', id: 'g-3', rows: [row(3)] });
    send('cols', { type: 'tickbus.v1.upd', cols: { sym: ['B'], price: [1], size: [1], fid: [50] } });
    send('json', { type: 'tickbus.v1.upd', rows: [row(51)] }, true);
    for (let i = 20; i < 30; i++) send(`g${i}`, { type: 'tickbus.v1.upd', id: `g-${i}`, rows: [row(i)] });
    await nc.flush();
    await until(() => got.size >= 35, 5_000);
    sub.unsubscribe();
    for (let i = 0; i < 30; i++) expect(got.get(`g${i}`)).toMatchObject({ type: 'tickbus.v1.ack', id: `g-${i}`, rows: 1 });
    expect(got.get('bad')).toMatchObject({ code: 'BAD_COLUMN_TYPE', detail: { column: 'price', row: 0 } });
    expect(got.get('ragged')?.code).toMatch(/MISSING_COLUMN|RAGGED_COLUMNS/);
    expect(got.get('again')).toMatchObject({ type: 'tickbus.v1.ack', id: 'g-3', duplicate: true });
    expect(got.get('cols')).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    expect(got.get('json')).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    const log = await readLog(nc, 'group');
    // Every good row once, in arrival order.
    expect(column(log.batches, 'fid')).toEqual([...Array.from({ length: 20 }, (_, i) => BigInt(i)), 50n, 51n, ...Array.from({ length: 10 }, (_, i) => BigInt(20 + i))]);
    await t.stop();
  });

  it('tickerplant: a multi-table update is acked once both tables are in the log', async () => {
    const t = await tp('multi');
    const pub = new Publisher(nc, { tp: 'multi' });
    const ack = await pub.publishMulti({ trade: { rows: [row(1), row(2)] }, quote: { rows: [['AAPL', 1, 2, 3]] } });
    expect(ack.rows).toBe(3);
    const log = await readLog(nc, 'multi');
    expect(log.batches.map((b) => [b.table, b.n]).sort()).toEqual([
      ['quote', 1],
      ['trade', 2],
    ]);
    pub.close();
    await t.stop();
  });

  it('tickerplant: the end-of-day marker follows the last batch of the day and precedes the next day', async () => {
    // A clock 1.5 s before midnight UTC: the day rolls during the test while a feed publishes.
    const { clock, midnight } = clockBeforeMidnight(1_500);
    const t = await tp('eod', { mode: 'batch', pubFreqMs: 10 }, clock);
    const day0 = new Date(midnight - 1).toISOString().slice(0, 10);
    const pub = new Publisher(nc, { tp: 'eod' });
    const pending: Promise<Ack>[] = [];
    let fid = 0;
    const until3s = Date.now() + 3_000;
    while (Date.now() < until3s) {
      pending.push(pub.publish('trade', { rows: [row(fid++), row(fid++)] }));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
    const log = await readLog(nc, 'eod');
    expect(log.eods).toHaveLength(1);
    const eod = log.eods[0]!;
    expect(eod.day).toBe(day0);
    const before = log.batches.filter((b) => b.seq < eod.seq);
    const after = log.batches.filter((b) => b.seq > eod.seq);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(before.every((b) => b.day === day0)).toBe(true);
    expect(after.every((b) => b.day === eod.nextDay)).toBe(true);
    expect(eod.counts.trade).toBe(before.reduce((a, b) => a + b.n, 0));
    expect(column(log.batches, 'fid').length).toBe(fid);
    expect(dupes(column(log.batches, 'fid'))).toEqual([]);
    // Counts restart with the new day.
    expect(after[0]!.count).toBe(after[0]!.n);
    pub.close();
    await t.stop();
  });

  it('tickerplant: a restarted tickerplant continues the same stream and the day counts', async () => {
    const t = await tp('restart', { mode: 'immediate' });
    const pub = new Publisher(nc, { tp: 'restart' });
    for (let k = 0; k < 3; k++) await pub.publish('trade', { rows: [row(k)] });
    await t.stop();
    const t2 = await tp('restart', { mode: 'immediate' });
    expect(t2.status()).toMatchObject({ counts: { trade: 3, quote: 0 } });
    const ack = await pub.publish('trade', { rows: [row(3)] });
    expect(ack.seq).toBe(4);
    const log = await readLog(nc, 'restart');
    expect(log.batches.map((b) => b.count)).toEqual([1, 2, 3, 4]);
    pub.close();
    await t2.stop();
  });

  it('tickerplant: a restart after the dedupe window has passed does not wait for ids', async () => {
    const t = await tp('quiet', { dedupeWindowMs: 200 });
    const pub = new Publisher(nc, { tp: 'quiet' });
    await pub.publish('trade', { rows: [row(1)] });
    await t.stop();
    await new Promise((r) => setTimeout(r, 400));
    const started = Date.now();
    const t2 = await tp('quiet', { dedupeWindowMs: 200 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(t2.status()).toMatchObject({ counts: { trade: 1 } });
    pub.close();
    await t2.stop();
  });

  it('tickerplant: JSON and CBOR feeds get replies in their own encoding', async () => {
    const t = await tp('enc');
    const j = await nc.request('tp.enc.upd.trade', JSON.stringify({ type: 'tickbus.v1.upd', rows: [['A', 1, 1, 1]] }), {
      headers: (() => {
        const h = headers();
        h.set('Content-Type', 'application/json');
        return h;
      })(),
      timeout: 5_000,
    });
    expect(JSON.parse(new TextDecoder().decode(j.data))).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    const js = jetstream(nc);
    expect(js).toBeDefined();
    await t.stop();
  });
});
