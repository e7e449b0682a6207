// The chained tickerplant (issue 9 part 5) against a real nats-server, with real tickerplant, RDB
// and chained tp processes started in-process as `actors up` starts them (startRuntime). Proves:
// every parent row reaches the chained tp's log once and in order per table, tick by tick and
// coalesced on a timer with a table and sym filter (Tb-Count exact); an RDB pointed at the chained
// tp holds the rows; a restarted chained tp resumes after its watermark (no gap, no duplicate);
// its subscribers stay subscribed while the parent is down and restarted; end-of-day and manual
// end-of-period markers follow with the chained tp's own counts; log mode `none` routes
// subscribe({tp}) to the parent's log narrowed by the route; bad settings are BAD_CONFIG.
// Days come from the injected clock (clockBeforeMidnight), never from the wall clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { chainedTpSettings } from '../../actors/chainedtp/settings.ts';
import { CHAIN_TYPE, putRoute } from '../../bus/chain.ts';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { periodRange, readPeriod } from '../../bus/periods.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import { subscribe, type TickEvent } from '../../bus/subscriber.ts';
import { clockBeforeMidnight, column, connectTo, readLog, startServer, syms, tableFids, testTables, until, type LogBatch } from '../support/bus.ts';
import { periodViolations, readEops } from '../support/periods.ts';
import { status } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
const running: ProcessRuntime[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => {});
  await nc?.close();
  await server?.dispose();
});

const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG'];

async function start(proctype: string, name: string, settings: Record<string, unknown>, clock?: Parameters<typeof startRuntime>[4]['clock']): Promise<ProcessRuntime> {
  const rt = await startRuntime(server.url, proctype, name, settings, { tables: testTables, ...(clock ? { clock } : {}) });
  running.push(rt);
  return rt;
}

async function stop(rt: ProcessRuntime): Promise<void> {
  await rt.stop();
  running.splice(running.indexOf(rt), 1);
}

/** Publishes `updates` updates of `rows` rows alternating trade and quote, fids from `fid0`; resolves when all are acked. */
async function feed(tp: string, updates: number, rows: number, fid0: number): Promise<void> {
  const pub = new Publisher(nc, { tp, ackTimeoutMs: 5_000, retriesMax: 100, retryDelayMs: 100 });
  const acks: Promise<unknown>[] = [];
  let fid = BigInt(fid0);
  for (let k = 0; k < updates; k++) {
    const fids = new BigInt64Array(rows);
    const codes = new Uint32Array(rows);
    for (let i = 0; i < rows; i++) {
      fids[i] = fid++;
      codes[i] = (k + i) % SYMS.length;
    }
    const sym = { dict: SYMS, codes };
    const cols = k % 2 === 0 ? { sym, price: new Float64Array(rows).fill(100), size: new BigInt64Array(rows).fill(1n), fid: fids } : { sym, bid: new Float64Array(rows).fill(99), ask: new Float64Array(rows).fill(101), fid: fids };
    acks.push(pub.publish(k % 2 === 0 ? 'trade' : 'quote', { cols }));
    if (acks.length % 50 === 0) await Promise.all(acks.slice(-50));
  }
  await Promise.all(acks);
  pub.close();
}

/** The fids of `table` in a log, in log order, keeping rows of `keep` syms only. */
function fids(batches: LogBatch[], table: string, keep?: readonly string[]): bigint[] {
  return tableFids(batches, table, keep ? new Set(keep) : undefined);
}

/** Every batch's Tb-Count equals its table's rows in the log so far that day. */
function countErrors(batches: LogBatch[]): string[] {
  const seen = new Map<string, number>();
  const out: string[] = [];
  for (const b of batches) {
    const k = `${b.day}/${b.table}`;
    const n = (seen.get(k) ?? 0) + b.n;
    seen.set(k, n);
    if (b.count !== n) out.push(`seq ${b.seq}: Tb-Count ${b.count}, rows so far ${n}`);
  }
  return out;
}

/** Waits until the chained tp's own log has forwarded the parent's log to its end. */
async function caughtUp(ctp: string, parent: string): Promise<void> {
  const jsm = await manager(nc);
  await until(async () => {
    const p = (await jsm.streams.info(streams.log(parent))).state.last_seq;
    const info = await jsm.streams.info(streams.log(ctp));
    if (info.state.messages === 0) return false;
    const last = await jsm.streams.getMessage(streams.log(ctp), { seq: info.state.last_seq });
    return Number(last!.header.get(Header.parentSeq)) >= p;
  }, 30_000, 50);
}

async function collect(tp: string, untilSeq: () => Promise<number>, opts: { tables?: string[]; syms?: string[] } = {}): Promise<{ events: TickEvent[]; stream: string }> {
  const sub = await subscribe(nc, { tp, from: 'today', ...opts });
  const events: TickEvent[] = [];
  const reading = (async () => {
    for await (const e of sub) events.push(e);
  })();
  const end = await untilSeq();
  await until(() => sub.lastSeq >= end, 30_000);
  await sub.close();
  await reading;
  return { events, stream: sub.stream };
}

function eventFids(events: TickEvent[], table: string): bigint[] {
  return events.flatMap((e) => (e.type === 'batch' && e.table === table ? Array.from(e.batch.cols.fid as BigInt64Array) : []));
}

describe('chainedtp', () => {
  it('chainedtp: create mode forwards every parent row once, in order, tick by tick and coalesced with a filter; an RDB on the chained tp holds them', async () => {
    await start('tickerplant', 'cp1', { mode: 'immediate' });
    await start('chainedtp', 'cp1c', { parent: 'cp1' });
    await start('chainedtp', 'cp1f', { parent: 'cp1', pubFreqMs: 100, subscribeTables: ['trade'], syms: ['AAPL', 'MSFT'] });
    const rdb = await start('rdb', 'cp1rdb', { tp: 'cp1c' });
    await feed('cp1', 200, 7, 0);
    await caughtUp('cp1c', 'cp1');
    await caughtUp('cp1f', 'cp1');
    const parent = await readLog(nc, 'cp1');
    const ctp = await readLog(nc, 'cp1c');
    const filtered = await readLog(nc, 'cp1f');
    for (const t of ['trade', 'quote']) {
      expect(fids(ctp.batches, t)).toEqual(fids(parent.batches, t));
      expect(fids(ctp.batches, t)).toHaveLength(100 * 7);
    }
    // Tick by tick: one message per parent batch, each unfiltered one forwarded as its bytes.
    expect(ctp.batches).toHaveLength(parent.batches.length);
    expect((await status<{ rawOut: number; parentSeq: number }>(nc, 'cp1c', 5_000))?.rawOut).toBe(parent.batches.length);
    expect(fids(filtered.batches, 'trade')).toEqual(fids(parent.batches, 'trade', ['AAPL', 'MSFT']));
    expect(fids(filtered.batches, 'quote')).toEqual([]);
    expect(new Set(filtered.batches.flatMap((b) => syms(b.cols.sym!)))).toEqual(new Set(['AAPL', 'MSFT']));
    // Coalesced: fewer messages than parent trade batches (a 100 ms timer over an immediate-mode feed).
    expect(filtered.batches.length).toBeLessThan(parent.batches.filter((b) => b.table === 'trade').length);
    expect(countErrors(ctp.batches)).toEqual([]);
    expect(countErrors(filtered.batches)).toEqual([]);
    // An RDB pointed at the chained tp: the same rows, unchanged code.
    await until(async () => {
      const m = await nc.request(subjects.query('rdb', 'cp1rdb'), encode({ type: 'tickbus.v1.query', table: 'quote', columns: ['fid'] }), { timeout: 5_000 });
      return decode<{ n?: number }>(m.data).n === 700;
    }, 30_000, 100);
    const m = await nc.request(subjects.query('rdb', 'cp1rdb'), encode({ type: 'tickbus.v1.query', table: 'trade', columns: ['fid'] }), { timeout: 5_000 });
    expect(Array.from(decode<{ cols: { fid: BigInt64Array } }>(m.data).cols.fid)).toEqual(fids(parent.batches, 'trade'));
    await stop(rdb);
  }, 90_000);

  it('chainedtp: a restarted chained tp resumes after its watermark; its subscriber sees every row once while the parent is stopped and restarted', async () => {
    const tp = await start('tickerplant', 'cp2', { mode: 'batch', pubFreqMs: 5 });
    let ctp = await start('chainedtp', 'cp2c', { parent: 'cp2', pubFreqMs: 10 });
    const sub = await subscribe(nc, { tp: 'cp2c', from: 'today' });
    const got: TickEvent[] = [];
    const reading = (async () => {
      for await (const e of sub) got.push(e);
    })();
    await feed('cp2', 60, 5, 0);
    await stop(ctp); // a clean stop mid-day; rows keep coming
    await feed('cp2', 60, 5, 10_000);
    ctp = await start('chainedtp', 'cp2c', { parent: 'cp2', pubFreqMs: 10 });
    await feed('cp2', 40, 5, 20_000);
    await stop(tp); // the parent goes away: the chained tp and its subscriber stay
    await new Promise((r) => setTimeout(r, 300));
    // The chained tp still runs and answers while its parent is gone (TorQ's would have exited).
    const st = await status<{ state: unknown; parent: string }>(nc, 'cp2c', 5_000);
    expect(st?.parent).toBe('cp2');
    expect(JSON.stringify(st?.state)).toContain('forwarding');
    await start('tickerplant', 'cp2', { mode: 'batch', pubFreqMs: 5 });
    await feed('cp2', 40, 5, 30_000);
    await caughtUp('cp2c', 'cp2');
    const parent = await readLog(nc, 'cp2');
    const own = await readLog(nc, 'cp2c');
    await until(() => sub.lastSeq >= own.lastSeq, 30_000);
    await sub.close();
    await reading;
    for (const t of ['trade', 'quote']) {
      expect(fids(own.batches, t)).toEqual(fids(parent.batches, t));
      expect(eventFids(got, t)).toEqual(fids(parent.batches, t));
    }
    expect(fids(own.batches, 'trade').length + fids(own.batches, 'quote').length).toBe(200 * 5);
    expect(countErrors(own.batches)).toEqual([]);
  }, 90_000);

  it('chainedtp: a parent writing multi-table messages (memorybatch) is forwarded whole, tick by tick and coalesced, across a restart of the chained tp', async () => {
    await start('tickerplant', 'cp7', { mode: 'memorybatch', pubFreqMs: 20 });
    let tick = await start('chainedtp', 'cp7t', { parent: 'cp7' });
    let coal = await start('chainedtp', 'cp7b', { parent: 'cp7', pubFreqMs: 30 });
    await feed('cp7', 120, 6, 0);
    // Restarts mid-feed: each resumes after its watermark, never in the middle of a parent message.
    await stop(tick);
    await stop(coal);
    await feed('cp7', 60, 6, 10_000);
    tick = await start('chainedtp', 'cp7t', { parent: 'cp7' });
    coal = await start('chainedtp', 'cp7b', { parent: 'cp7', pubFreqMs: 30 });
    await feed('cp7', 60, 6, 20_000);
    await caughtUp('cp7t', 'cp7');
    await caughtUp('cp7b', 'cp7');
    const parent = await readLog(nc, 'cp7');
    expect(parent.batches.some((b) => b.multi)).toBe(true); // the parent did write multi-table messages
    for (const own of [await readLog(nc, 'cp7t'), await readLog(nc, 'cp7b')]) {
      for (const t of ['trade', 'quote']) expect(fids(own.batches, t)).toEqual(fids(parent.batches, t));
      expect(countErrors(own.batches)).toEqual([]);
      // Both tables of one parent message stay in one own message (atomic, as the parent's).
      expect(own.batches.some((b) => b.multi)).toBe(true);
    }
  }, 90_000);

  it('chainedtp: end of day and a manual end of period follow in order, with the chained tp own counts', async () => {
    const { clock, day0 } = clockBeforeMidnight(10_000);
    await start('tickerplant', 'cp3', { mode: 'batch', pubFreqMs: 5, intradayFreqMs: 3_600_000 }, clock);
    await start('chainedtp', 'cp3c', { parent: 'cp3', syms: ['IBM'] });
    await feed('cp3', 20, 4, 0);
    const r = await nc.request(subjects.ctl('cp3', 'eop'), JSON.stringify({ by: 'test', reason: 'correction' }), { timeout: 10_000 });
    expect(JSON.parse(new TextDecoder().decode(r.data)).type).toBe('tickbus.v1.eop');
    await feed('cp3', 10, 4, 1_000);
    await until(async () => (await readLog(nc, 'cp3')).eods.length === 1, 40_000, 100);
    await feed('cp3', 10, 4, 2_000);
    await caughtUp('cp3c', 'cp3');
    const own = await readLog(nc, 'cp3c');
    expect(own.eods).toHaveLength(1);
    const eod = own.eods[0]!;
    expect(eod.day).toBe(day0);
    const before = own.batches.filter((b) => b.seq < eod.seq);
    expect(eod.counts).toEqual({ trade: fids(before, 'trade').length, quote: fids(before, 'quote').length });
    expect(eod.counts.trade).toBeGreaterThan(0);
    expect(own.batches.filter((b) => b.seq > eod.seq).every((b) => b.day > day0)).toBe(true);
    expect(countErrors(own.batches)).toEqual([]);
    // The manual period's marker (by, reason) and the day's last period's, each with exact own counts.
    const eops = await readEops(nc, 'cp3c');
    const label = (e: { period: string; nextPeriod: string; by?: string; reason?: string }) => [e.period, e.nextPeriod, e.by, e.reason];
    expect(eops.map(label)).toEqual((await readEops(nc, 'cp3')).map(label));
    expect(eops.filter((e) => e.by === 'test' && e.reason === 'correction')).toHaveLength(1);
    expect(periodViolations(own, eops, 1)).toEqual([]);
    expect(eops.find((e) => e.by === 'test')!.counts.trade).toBeGreaterThan(0);
    // The chained tp's own period manifest: one period of one table read without scanning the day.
    const manual = eops.find((e) => e.by === 'test')!;
    await until(async () => (await periodRange(nc, 'cp3c', manual.period).catch(() => undefined)) !== undefined, 10_000, 50);
    const one = await readPeriod(nc, 'cp3c', manual.period, 'trade');
    expect([one.record.firstSeq, one.record.lastSeq]).toEqual([manual.firstSeq, manual.seq]);
    expect(one.batches.flatMap((b) => Array.from(b.cols.fid as BigInt64Array))).toEqual(fids(own.batches.filter((b) => b.seq >= manual.firstSeq && b.seq < manual.seq), 'trade'));
    expect(one.rows).toBe(manual.counts.trade);
    expect(new Set(own.batches.flatMap((b) => syms(b.cols.sym!)))).toEqual(new Set(['IBM']));
  }, 60_000);

  it('chainedtp: log mode none routes subscribe({tp}) and an RDB to the parent log, narrowed by the route', async () => {
    await start('tickerplant', 'cp4', { mode: 'batch', pubFreqMs: 5 });
    await start('chainedtp', 'cp4n', { parent: 'cp4', logMode: 'none', subscribeTables: ['trade', 'quote'], syms: ['GOOG', 'IBM'] });
    await start('chainedtp', 'cp4nn', { parent: 'cp4n', logMode: 'parent', syms: ['IBM', 'AAPL'] }); // a route to a route
    const rdb = await start('rdb', 'cp4rdb', { tp: 'cp4n', syms: ['GOOG'] });
    await feed('cp4', 40, 6, 0);
    const parent = await readLog(nc, 'cp4');
    const r = await collect('cp4n', async () => parent.lastSeq, { tables: ['quote'] });
    expect(r.stream).toBe(streams.log('cp4'));
    expect(eventFids(r.events, 'quote')).toEqual(fids(parent.batches, 'quote', ['GOOG', 'IBM']));
    expect(eventFids(r.events, 'trade')).toEqual([]);
    const rr = await collect('cp4nn', async () => parent.lastSeq);
    expect(rr.stream).toBe(streams.log('cp4'));
    expect(eventFids(rr.events, 'trade')).toEqual(fids(parent.batches, 'trade', ['IBM']));
    expect(eventFids(rr.events, 'quote')).toEqual(fids(parent.batches, 'quote', ['IBM']));
    expect(eventFids(rr.events, 'trade').length).toBeGreaterThan(0);
    await until(async () => {
      const m = await nc.request(subjects.query('rdb', 'cp4rdb'), encode({ type: 'tickbus.v1.query', table: 'trade', columns: ['fid'] }), { timeout: 5_000 });
      const res = decode<{ cols?: { fid: BigInt64Array } }>(m.data);
      return res.cols !== undefined && Array.from(res.cols.fid).join() === fids(parent.batches, 'trade', ['GOOG']).join();
    }, 30_000, 100);
    await stop(rdb);
    expect(column(parent.batches, 'fid').length).toBe(240);
  }, 60_000);

  it('chainedtp: started before its parent, it is ready, waits for the parent and then forwards its day', async () => {
    await start('chainedtp', 'cp5c', { parent: 'cp5', recoverRetryMs: 200 });
    // Running and answering, retrying the missing parent log.
    await until(async () => (await status<{ lastErrorCode?: string }>(nc, 'cp5c', 5_000))?.lastErrorCode === ErrorCode.NO_MATCHING_PROCESS, 20_000, 50);
    await start('tickerplant', 'cp5', { mode: 'batch', pubFreqMs: 5 });
    await feed('cp5', 20, 3, 0);
    await caughtUp('cp5c', 'cp5');
    const parent = await readLog(nc, 'cp5');
    const own = await readLog(nc, 'cp5c');
    for (const t of ['trade', 'quote']) expect(fids(own.batches, t)).toEqual(fids(parent.batches, t));
    expect(fids(own.batches, 'trade')).toHaveLength(30);
  }, 60_000);

  it('chainedtp: a subscriber of a route loop is BAD_CONFIG, of a create-mode chained tp not started NOT_READY, of nothing NO_MATCHING_PROCESS', async () => {
    await putRoute(nc, { type: CHAIN_TYPE, name: 'loopa', parent: 'loopb', logMode: 'none' });
    await putRoute(nc, { type: CHAIN_TYPE, name: 'loopb', parent: 'loopa', logMode: 'parent' });
    await putRoute(nc, { type: CHAIN_TYPE, name: 'notyet', parent: 'cp1', logMode: 'create' });
    const code = async (tp: string) => await subscribe(nc, { tp }).then(() => 'subscribed', (e: Error) => (e instanceof TickbusError ? e.code : e.message));
    expect(await code('loopa')).toBe(ErrorCode.BAD_CONFIG);
    expect(await code('notyet')).toBe(ErrorCode.NOT_READY);
    expect(await code('nosuchtp')).toBe(ErrorCode.NO_MATCHING_PROCESS);
  });

  it('chainedtp: bad settings are BAD_CONFIG naming the setting', () => {
    const bad = (s: Record<string, unknown>) => {
      try {
        chainedTpSettings({ name: 'x', tables: testTables, ...s });
      } catch (e) {
        expect(e).toBeInstanceOf(TickbusError);
        expect((e as TickbusError).code).toBe(ErrorCode.BAD_CONFIG);
        return (e as TickbusError).detail.setting;
      }
      return undefined;
    };
    expect(bad({})).toBe('parent');
    expect(bad({ parent: 'x' })).toBe('parent');
    expect(bad({ parent: 'tp1', logMode: 'copy' })).toBe('logMode');
    expect(bad({ parent: 'tp1', pubFreqMs: -1 })).toBe('pubFreqMs');
    expect(bad({ parent: 'tp1', subscribeTables: ['nope'] })).toBe('subscribeTables');
    expect(bad({ parent: 'tp1', syms: 'AAPL' })).toBe('syms');
    expect(bad({ parent: 'tp1' })).toBeUndefined();
  });
});
