// Buffer events (KX bufferEnabled / bufferFunct / bufferLimit) against a real nats-server, read
// back from the log: while an event is open the bufferFunct hook (a named export of a hooks
// module) holds some rows in the event's buffer log and lets the rest go live; start and end marks
// are in the live log (a subscriber's onBuffer handler gets them) and open and seal the buffer
// log; past bufferLimitMb the feed gets BUFFER_FULL and nothing is logged; a restarted
// tickerplant re-opens the event from the log; the end can replay the held rows into the live
// log, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { encode } from '../../bus/codec.ts';
import { ErrorCode } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import { subscribe, type BufferMarkEvent } from '../../bus/subscriber.ts';
import { readBufferMessages } from '../../actors/tickerplant/buffer.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { column, connectTo, dupes, readLog, silentLogger, startServer, testTables, until } from '../support/bus.ts';

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

const hooksModule = 'test/fixtures/tp_buffer_hooks.ts';

async function tp(name: string, extra: Record<string, unknown> = {}): Promise<Tickerplant> {
  const t = await startTickerplant(nc, { name, tables: testTables, mode: 'batch', pubFreqMs: 10, bufferEnabled: true, hooksModule, bufferFunct: 'holdLate', ...extra }, silentLogger);
  await t.ready();
  return t;
}

async function ctl(name: string, verb: 'start' | 'end', body: unknown): Promise<Record<string, unknown>> {
  const m = await nc.request(subjects.ctl(name, `buffer.${verb}`), JSON.stringify(body), { timeout: 20_000 });
  return JSON.parse(new TextDecoder().decode(m.data));
}

const cutoff = 1_000_000_000_000_000_000n; // rows stamped before it are "late" and held
const late = (fid: number) => [cutoff - 1000n + BigInt(fid), 'AAPL', 1, 1, fid];
const onTime = (fid: number) => [cutoff + BigInt(fid), 'AAPL', 1, 1, fid];

describe('tickerplant buffer events', () => {
  it('buffer: held rows go to the event log, live rows to subscribers; marks reach onBuffer; end replays each held row once', async () => {
    const t = await tp('buf1');
    const pub = new Publisher(nc, { tp: 'buf1' });
    await pub.publish('trade', { rows: [late(0)] }); // before the event: live whatever its time
    const start = await ctl('buf1', 'start', { id: 7, args: { cutoff: String(cutoff), source: 'dbw_a' } });
    expect(start).toMatchObject({ type: 'tickbus.v1.buffer', phase: 'start', id: '7', log: subjects.buffer('buf1', '7') });
    // Late rows held, on-time rows live; one update mixes both and gets one ack for all its rows.
    const acks = await Promise.all([
      pub.publish('trade', { rows: [late(1), late(2)] }, 'u1'),
      pub.publish('trade', { rows: [onTime(3)] }, 'u2'),
      pub.publish('trade', { rows: [late(4), onTime(5), late(6)] }, 'u3'),
      pub.publishMulti({ trade: { rows: [late(7)] }, quote: { rows: [[cutoff - 5n, 'MSFT', 1, 2, 8]] } }, 'u4'),
    ]);
    expect(acks.map((a) => a.rows)).toEqual([2, 1, 3, 2]);
    expect(t.status()).toMatchObject({ bufferEvent: '7' });
    const mid = await readLog(nc, 'buf1');
    expect(column(mid.batches, 'fid', 'trade')).toEqual([0n, 3n, 5n]);
    expect(column(mid.batches, 'fid', 'quote')).toEqual([]);
    const held = await readBufferMessages(nc, await manager(nc), 'buf1', '7');
    expect(held[0]).toMatchObject({ kind: 'mark', mark: { phase: 'start', id: '7' } });
    const heldFids = held.flatMap((m) => (m.kind === 'rows' ? m.batches.flatMap((b) => Array.from(b.cols.fid as BigInt64Array)) : []));
    expect(heldFids.sort((a, b) => Number(a - b))).toEqual([1n, 2n, 4n, 6n, 7n, 8n]);
    // The multi-table update's held rows are one message (both tables).
    expect(held.some((m) => m.kind === 'rows' && m.batches.length === 2)).toBe(true);

    const end = await ctl('buf1', 'end', { id: '7', args: { status: 'complete' }, replay: true });
    expect(end).toMatchObject({ phase: 'replayed', id: '7', rows: 6 });
    expect(t.status()).toMatchObject({ bufferEvent: null });
    // Sealed: the buffer log's last message is the end mark.
    const sealed = await readBufferMessages(nc, await manager(nc), 'buf1', '7');
    expect(sealed.at(-1)).toMatchObject({ kind: 'mark', mark: { phase: 'end', args: { status: 'complete' }, rows: 6, replay: true } });
    // After the end every row is live exactly once, the replayed ones after the end mark.
    await pub.publish('trade', { rows: [late(9)] }); // event over: live again
    const log = await readLog(nc, 'buf1');
    const trades = column(log.batches, 'fid', 'trade');
    expect([...trades].sort((a, b) => Number(a - b))).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 9n]);
    expect(dupes(trades)).toEqual([]);
    expect(column(log.batches, 'fid', 'quote')).toEqual([8n]);
    expect(log.batches.at(-1)!.count).toBe(9); // counts include the replayed rows
    // Subscribers: the onBuffer handler gets start, end and replayed marks in log order.
    const marks: BufferMarkEvent[] = [];
    const sub = await subscribe(nc, { tp: 'buf1', from: 'today', onBuffer: (m) => void marks.push(m) });
    let rows = 0;
    for await (const e of sub) {
      if (e.type === 'batch') rows += e.batch.n;
      if (e.seq >= log.lastSeq) break;
    }
    await sub.close();
    expect(rows).toBe(10);
    expect(marks.map((m) => [m.phase, m.id])).toEqual([
      ['start', '7'],
      ['end', '7'],
      ['replayed', '7'],
    ]);
    expect(marks[0]!.args).toEqual({ cutoff: String(cutoff), source: 'dbw_a' });
    // An id used before is refused; so is an end of an event that is not open.
    expect(await ctl('buf1', 'start', { id: 7 })).toMatchObject({ code: ErrorCode.BAD_QUERY });
    expect(await ctl('buf1', 'end', { id: 8 })).toMatchObject({ code: ErrorCode.BAD_QUERY });
    pub.close();
    await t.stop();
  });

  it('buffer: past bufferLimitMb the feed gets BUFFER_FULL and nothing of the update is logged; live-only updates still go', async () => {
    const t = await tp('buf2', { bufferLimitMb: 0.001 }); // about 1 KB
    const pub = new Publisher(nc, { tp: 'buf2', retriesMax: 0 });
    await ctl('buf2', 'start', { id: 'lim', args: { cutoff: String(cutoff) } });
    await pub.publish('trade', { rows: [late(1)] });
    const before = (await (await manager(nc)).streams.info(streams.log('buf2'))).state.last_seq;
    const many = Array.from({ length: 40 }, (_, i) => late(100 + i));
    const err = await pub.publish('trade', { rows: [...many, onTime(2)] }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.BUFFER_FULL, detail: { id: 'lim', limitMb: 0.001 } });
    expect((await (await manager(nc)).streams.info(streams.log('buf2'))).state.last_seq).toBe(before);
    // A full buffer is a capacity answer, not bad data: not kept in the error stream.
    expect((await (await manager(nc)).streams.info(streams.rejected('buf2'))).state.messages).toBe(0);
    await pub.publish('trade', { rows: [onTime(3)] });
    const log = await readLog(nc, 'buf2');
    expect(column(log.batches, 'fid', 'trade')).toEqual([3n]);
    pub.close();
    await t.stop();
  });

  it('buffer: a restarted tickerplant re-opens the event from the log and keeps its totals; end without replay leaves the rows for a reader', async () => {
    const t = await tp('buf3');
    const pub = new Publisher(nc, { tp: 'buf3' });
    await ctl('buf3', 'start', { id: 'r1', args: { cutoff: String(cutoff) } });
    await pub.publish('trade', { rows: [late(1), onTime(2)] }, 'a1');
    await t.stop();
    const t2 = await tp('buf3');
    expect(t2.status()).toMatchObject({ bufferEvent: 'r1' });
    // The same id again after the restart is a duplicate: nothing held twice.
    expect(await pub.publish('trade', { rows: [late(1), onTime(2)] }, 'a1')).toMatchObject({ duplicate: true });
    await pub.publish('trade', { rows: [late(3)] }, 'a2');
    const end = await ctl('buf3', 'end', { id: 'r1' });
    expect(end).toMatchObject({ phase: 'end', rows: 2, replay: false });
    const held = await readBufferMessages(nc, await manager(nc), 'buf3', 'r1');
    expect(held.flatMap((m) => (m.kind === 'rows' ? m.batches.flatMap((b) => Array.from(b.cols.fid as BigInt64Array)) : []))).toEqual([1n, 3n]);
    const last = held.filter((m) => m.kind === 'rows').at(-1)!;
    const msg = await (await manager(nc)).streams.getMessage(streams.log('buf3'), { seq: last.seq });
    expect(msg!.header.get(Header.bufferRows)).toBe('2');
    expect(column((await readLog(nc, 'buf3')).batches, 'fid', 'trade')).toEqual([2n]);
    pub.close();
    await t2.stop();
  });

  it('buffer: an update whose held part landed before a crash but whose live part did not, retried after the event ended, is logged once', async () => {
    const t = await tp('buf8');
    const pub = new Publisher(nc, { tp: 'buf8' });
    await ctl('buf8', 'start', { id: 'c1', args: { cutoff: String(cutoff) } });
    await t.stop();
    // What a tickerplant killed between an update's two appends leaves: its held part (late(1)) in
    // the buffer log with Nats-Msg-Id h.<id>, its live part (onTime(2)) nowhere, no ack sent.
    const day = (await readBufferMessages(nc, await manager(nc), 'buf8', 'c1'))[0]!;
    expect(day.kind).toBe('mark');
    const h = headers();
    h.set('Content-Type', 'application/cbor');
    h.set('Nats-Msg-Id', 'h.x1');
    h.set(Header.bufferRows, '1');
    h.set(Header.bufferBytes, '64');
    const cols = { time: BigInt64Array.of(cutoff - 999n), sym: { dict: ['AAPL'], codes: Uint32Array.of(0) }, price: Float64Array.of(1), size: BigInt64Array.of(1n), fid: BigInt64Array.of(1n) };
    await jetstream(nc).publish(subjects.buffer('buf8', 'c1'), encode({ type: 'tickbus.v1.batch', table: 'trade', day: '2026-01-01', n: 1, cols }), { headers: h });
    const t2 = await tp('buf8');
    expect(t2.status()).toMatchObject({ bufferEvent: 'c1' });
    await ctl('buf8', 'end', { id: 'c1', replay: true });
    // The feed's retry comes after the end: only its live row is appended.
    const ack = await pub.publish('trade', { rows: [late(1), onTime(2)] }, 'x1');
    expect(ack.rows).toBe(2);
    expect(t2.status()).toMatchObject({ heldRetries: 1 });
    const log = await readLog(nc, 'buf8');
    expect(column(log.batches, 'fid', 'trade').sort((a, b) => Number(a - b))).toEqual([1n, 2n]);
    // ... and a second retry is a duplicate.
    expect(await pub.publish('trade', { rows: [late(1), onTime(2)] }, 'x1')).toMatchObject({ duplicate: true });
    pub.close();
    await t2.stop();
  });

  it('buffer: off by default, a bad request or an unknown bufferFunct is a typed error naming it', async () => {
    const t = await startTickerplant(nc, { name: 'buf4', tables: testTables }, silentLogger);
    await t.ready();
    expect(await ctl('buf4', 'start', { id: 1 })).toMatchObject({ code: ErrorCode.BAD_CONFIG, detail: { setting: 'bufferEnabled' } });
    await t.stop();
    const t2 = await tp('buf5');
    expect(await ctl('buf5', 'start', { id: 'a.b' })).toMatchObject({ code: ErrorCode.BAD_ID });
    expect(await ctl('buf5', 'start', { id: 'x', args: [1] })).toMatchObject({ code: ErrorCode.BAD_QUERY });
    expect(await ctl('buf5', 'start', { id: 'x', replay: true })).toMatchObject({ code: ErrorCode.BAD_QUERY });
    await t2.stop();
    const err = await startTickerplant(nc, { name: 'buf6', tables: testTables, hooksModule, bufferFunct: 'nosuch' }, silentLogger).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.BAD_CONFIG, detail: { setting: 'bufferFunct' } });
    // A hook that throws fails the update with a typed error; nothing is logged.
    const t3 = await tp('buf7', { bufferFunct: 'broken' });
    await ctl('buf7', 'start', { id: 'b' });
    const pub = new Publisher(nc, { tp: 'buf7', retriesMax: 0 });
    const e2 = await pub.publish('trade', { rows: [late(1)] }).catch((e) => e);
    expect(e2).toMatchObject({ code: ErrorCode.API_FAILED });
    await until(async () => (await readLog(nc, 'buf7')).batches.length === 0);
    pub.close();
    await t3.stop();
  });
});
