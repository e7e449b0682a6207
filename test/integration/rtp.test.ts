// Proves the real-time processor (`rtp`, actors/rtp) on a real nats-server and tickerplant, started
// as `actors up` starts it (the process runtime): vanilla keeps rows as the RDB does and answers
// on q.rtp.<name>; a processor's pre-processor filters and reshapes (columns checked against the
// schema) or drops a batch (null), its post-processor gets the ORIGINAL batch, its state and a
// query API on the tables, and publishes derived rows that are logged with ids from the input's
// log sequence; a restart after the tickerplant's dedupe window publishes none of them again
// (found in the log by the start-up scan); the aggregate example's running per-sym figures equal
// those computed from the log's trades and quotes; at the end of day the processor's state starts
// again and an RDB saves the derived table to the Parquet HDB like any table; a broken module is
// BAD_CONFIG naming its file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { TickbusError } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { startRdb } from '../../actors/rdb/effects.ts';
import { startHdb } from '../../actors/hdb/effects.ts';
import { startRtp } from '../../actors/rtp/effects.ts';
import { aggregateTable } from '../../actors/rtp/examples/aggregate.ts';
import type { SymColumn } from '../../storage/batch.ts';
import { clockAt, clockBeforeMidnight, connectTo, readLog, silentLogger, startServer, testTables, until, type LogBatch } from '../support/bus.ts';
import { status } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';
import { seenTable } from '../fixtures/rtp/shape.ts';

const fixtures = resolve(import.meta.dirname, '..', 'fixtures', 'rtp');
const tables = { ...testTables, seen: seenTable, aggregate: aggregateTable };
const SYMS = ['AAPL', 'MSFT', 'IBM'];

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

async function rtpQuery(name: string, q: Record<string, unknown>): Promise<Record<string, any>> {
  const m = await nc.request(`q.rtp.${name}`, encode(q), { timeout: 5_000 });
  return decode(m.data);
}

async function count(name: string, table: string): Promise<number> {
  const r = await rtpQuery(name, { type: 'tickbus.v1.query', table, count: true });
  if (r.code) throw new Error(`${r.code}: ${r.message}`);
  return r.n as number;
}

let fid = 0n;
/** n trades with sizes 50, 150, 50, 150, ... and prices from the row number. */
function trades(n: number) {
  return {
    cols: {
      sym: Array.from({ length: n }, (_, i) => SYMS[i % SYMS.length]!),
      price: Float64Array.from({ length: n }, (_, i) => 100 + (Number(fid) % 37) + i * 0.25),
      size: BigInt64Array.from({ length: n }, (_, i) => (i % 2 ? 150n : 50n)),
      fid: BigInt64Array.from({ length: n }, () => ++fid),
    },
  };
}
function quotes(n: number) {
  return {
    cols: {
      sym: Array.from({ length: n }, (_, i) => SYMS[(i + 1) % SYMS.length]!),
      bid: Float64Array.from({ length: n }, (_, i) => 99 + ((Number(fid) + i) % 11) * 0.5),
      ask: Float64Array.from({ length: n }, (_, i) => 101 + ((Number(fid) + i) % 7) * 0.5),
      fid: BigInt64Array.from({ length: n }, () => ++fid),
    },
  };
}

type RtpStatus = { state: unknown; derivedAcked: number; derivedSkipped: number; dropped: number; processorErrors: number; publishErrors: number; loggedIdsFound: number; vanilla: boolean };

/** Derived ids are group ranges `rtp.<name>.<first>-<last>`, disjoint, and each input sequence that published lies in exactly one. */
function expectGroups(ids: string[], name: string, inputSeqs: number[]): void {
  const ranges = ids.map((id) => {
    const m = new RegExp(`^rtp\\.${name}\\.(\\d+)-(\\d+)$`).exec(id);
    expect(m, id).not.toBeNull();
    return [Number(m![1]), Number(m![2])] as const;
  });
  for (const seq of inputSeqs) expect(ranges.filter(([a, b]) => a <= seq && seq <= b).length, `input ${seq}`).toBe(1);
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]![0]).toBeGreaterThan(sorted[i - 1]![1]);
}

describe('rtp', () => {
  it('rtp: vanilla keeps every row as the RDB does and answers queries on q.rtp.<name>', async () => {
    const tp = await startTickerplant(nc, { name: 'rv', tables, mode: 'immediate' }, silentLogger, clockAt(Date.now()));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'rv' });
    for (let i = 0; i < 3; i++) await pub.publish('trade', trades(10));
    await pub.publish('quote', quotes(4));
    const rt = await startRuntime(server.url, 'rtp', 'v1', { tp: 'rv' }, { tables });
    await until(async () => (await status<RtpStatus>(nc, 'v1'))?.state !== undefined && (await rtpQuery('v1', { type: 'tickbus.v1.query', table: 'trade', count: true })).code === undefined);
    await pub.publish('trade', trades(5)); // live
    await until(async () => (await count('v1', 'trade')) === 35);
    expect(await count('v1', 'quote')).toBe(4);
    const st = (await status<RtpStatus>(nc, 'v1'))!;
    expect(st).toMatchObject({ vanilla: true, dropped: 0, derivedAcked: 0 });
    // A request type the RTP does not answer is a typed error naming the process type.
    expect(await rtpQuery('v1', { type: 'tickbus.v1.nope', table: 'trade' })).toMatchObject({ code: 'BAD_TYPE' });
    await rt.stop();
    pub.close();
    await tp.stop();
  });

  it('rtp: pre filters, reshapes and drops; post gets the original batch, its state and the query API; derived rows are logged once and not republished by a restart past the dedupe window', async () => {
    const tp = await startTickerplant(nc, { name: 'rs', tables, mode: 'immediate', dedupeWindowMs: 1_000 }, silentLogger, clockAt(Date.now()));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'rs' });
    const sizes = [10, 7, 4];
    for (const n of sizes) {
      await pub.publish('trade', trades(n));
      await pub.publish('quote', quotes(3));
    }
    const settings = { tp: 'rs', vanilla: false, processor: `${fixtures}/shape.ts#shape`, subscribeTables: ['trade', 'quote'] };
    let rt = await startRuntime(server.url, 'rtp', 's1', settings, { tables });
    await until(async () => ((await status<RtpStatus>(nc, 's1'))?.derivedAcked ?? 0) === 3);
    await pub.publish('trade', trades(6)); // live: not a replay
    await until(async () => ((await status<RtpStatus>(nc, 's1'))?.derivedAcked ?? 0) === 4);
    const kept = [10, 7, 4, 6].map((n) => Math.floor(n / 2)); // every other row has size 150
    expect(await count('s1', 'trade')).toBe(kept.reduce((a, b) => a + b, 0));
    expect(await count('s1', 'quote')).toBe(0); // dropped by pre (null)
    const held = await rtpQuery('s1', { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01' });
    expect([...(held.cols.size as BigInt64Array)].every((s) => s === 150n)).toBe(true);
    let st = (await status<RtpStatus>(nc, 's1'))!;
    expect(st).toMatchObject({ vanilla: false, dropped: 3, processorErrors: 0, publishErrors: 0, derivedSkipped: 0 });

    const seen = async () => (await readLog(nc, 'rs')).batches.filter((b) => b.table === 'seen');
    const rows = (bs: LogBatch[]) => bs.flatMap((b) => [...(b.cols.orig as BigInt64Array)].map((o, i) => ({ orig: Number(o), held: Number((b.cols.held as BigInt64Array)[i]), batches: Number((b.cols.batches as BigInt64Array)[i]), quotes: Number((b.cols.quotes as BigInt64Array)[i]), replay: (b.cols.replay as Uint8Array)[i] === 1 })));
    const first = await seen();
    const cum = kept.map((_, i) => kept.slice(0, i + 1).reduce((a, b) => a + b, 0));
    // Quotes alternate with the trades: post saw each quote batch pre dropped.
    expect(rows(first)).toEqual([10, 7, 4, 6].map((orig, i) => ({ orig, held: cum[i], batches: i + 1, quotes: i, replay: i < 3 })));
    const ids = first.flatMap((b) => b.ids);
    const trades4 = (await readLog(nc, 'rs')).batches.filter((b) => b.table === 'trade').map((b) => b.seq);
    expectGroups(ids, 's1', trades4); // grouped by log time: as many ids as groups, each trade batch in one
    expect(new Set(ids).size).toBe(ids.length);

    // Stopped, and restarted after the tickerplant's dedupe window: the replay runs the processor
    // again (same state, same rows) and publishes nothing, the log already holds it all.
    await rt.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    rt = await startRuntime(server.url, 'rtp', 's1', settings, { tables });
    await until(async () => ((await status<RtpStatus>(nc, 's1'))?.derivedSkipped ?? 0) === 4);
    st = (await status<RtpStatus>(nc, 's1'))!;
    expect(st).toMatchObject({ derivedAcked: 0, loggedIdsFound: ids.length });
    await pub.publish('trade', trades(2)); // a live batch after the restart is published as usual
    await until(async () => ((await status<RtpStatus>(nc, 's1'))?.derivedAcked ?? 0) === 1);
    const after = await seen();
    expect(rows(after).length).toBe(5); // rows: several may share a log message (a group)
    expect(rows(after).at(-1)).toEqual({ orig: 2, held: cum[3]! + 1, batches: 5, quotes: 3, replay: false });
    await rt.stop();
    pub.close();
    await tp.stop();
  });

  it('rtp: the aggregate example keeps per-sym running figures equal to those of the log', async () => {
    const tp = await startTickerplant(nc, { name: 'ra', tables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clockAt(Date.now()));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'ra' });
    for (let i = 0; i < 20; i++) await Promise.all([pub.publish('trade', trades(7 + (i % 5))), pub.publish('quote', quotes(5))]);
    const rt = await startRuntime(server.url, 'rtp', 'agg1', { tp: 'ra', vanilla: false, processor: 'actors/rtp/examples/aggregate.ts', subscribeTables: ['trade', 'quote'] }, { tables });
    for (let i = 0; i < 10; i++) await Promise.all([pub.publish('trade', trades(3)), pub.publish('quote', quotes(2))]);
    const inputs = async () => (await readLog(nc, 'ra')).batches.filter((b) => b.table === 'trade' || b.table === 'quote').length;
    await until(async () => ((await status<RtpStatus>(nc, 'agg1'))?.derivedAcked ?? 0) === (await inputs()));
    const log = await readLog(nc, 'ra');
    const expected = new Map<string, { trdvol: number; maxpx: number; minpx: number; maxbpx: number; minapx: number }>();
    const last = new Map<string, Record<string, number>>();
    for (const b of log.batches) {
      const sym = b.cols.sym as SymColumn;
      for (let i = 0; i < b.n; i++) {
        const s = sym.dict[sym.codes[i]!]!;
        if (b.table === 'aggregate') {
          last.set(s, Object.fromEntries(['trdvol', 'maxpx', 'minpx', 'maxbpx', 'minapx', 'baspread'].map((c) => [c, (b.cols[c] as Float64Array)[i]!])));
          continue;
        }
        const e = expected.get(s) ?? { trdvol: 0, maxpx: -Infinity, minpx: Infinity, maxbpx: -Infinity, minapx: Infinity };
        expected.set(s, e);
        if (b.table === 'trade') {
          const px = (b.cols.price as Float64Array)[i]!;
          e.trdvol += px * Number((b.cols.size as BigInt64Array)[i]!);
          e.maxpx = Math.max(e.maxpx, px);
          e.minpx = Math.min(e.minpx, px);
        } else if (b.table === 'quote') {
          e.maxbpx = Math.max(e.maxbpx, (b.cols.bid as Float64Array)[i]!);
          e.minapx = Math.min(e.minapx, (b.cols.ask as Float64Array)[i]!);
        }
      }
    }
    expect([...last.keys()].sort()).toEqual([...SYMS].sort());
    for (const s of SYMS) {
      const e = expected.get(s)!;
      const got = last.get(s)!;
      expect(got.trdvol).toBeCloseTo(e.trdvol, 6);
      expect(got).toMatchObject({ maxpx: e.maxpx, minpx: e.minpx, maxbpx: e.maxbpx, minapx: e.minapx, baspread: e.maxbpx - e.minapx });
    }
    const ids = log.batches.filter((b) => b.table === 'aggregate').flatMap((b) => b.ids);
    expect(new Set(ids).size).toBe(ids.length);
    expectGroups(ids, 'agg1', log.batches.filter((b) => b.table === 'trade' || b.table === 'quote').map((b) => b.seq));
    expect(ids.length).toBeLessThan(await inputs()); // grouped
    await rt.stop();
    pub.close();
    await tp.stop();
  });

  it('rtp: at the end of day the processor gets endOfDay with its state, then a new state for the new day; the RDB saves the derived table to the HDB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickbus-rtp-eod-'));
    const hdbDir = join(dir, 'hdb');
    // A generous lead: the tickerplant and the RTP start (and a few batches go) before midnight.
    const { clock, midnight, day0 } = clockBeforeMidnight(8_000);
    const tp = await startTickerplant(nc, { name: 're', tables, mode: 'immediate' }, silentLogger, clock);
    await tp.ready();
    const rt = await startRuntime(server.url, 'rtp', 'e1', { tp: 're', vanilla: false, processor: `${fixtures}/shape.ts#shape`, subscribeTables: ['trade'] }, { tables, clock });
    // An RDB writes the day, derived table included, to a Parquet HDB.
    const rdb = await startRdb(nc, { name: 'e1rdb', tp: 're', tables, hdbDir, handoffGraceMs: 0 }, silentLogger);
    const hdb = await startHdb(nc, { name: 'e1hdb', hdbDir, rescanMs: 0 }, silentLogger);
    await Promise.all([rdb.ready(), hdb.ready()]);
    await until(async () => (await status(nc, 'e1', 500)) !== undefined);
    const pub = new Publisher(nc, { tp: 're' });
    let sent = 0;
    while (clock.now() < midnight - 6_000) await new Promise((r) => setTimeout(r, 20));
    while (clock.now() < midnight + 1_000) {
      await pub.publish('trade', trades(4)); // 2 of 4 kept
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(async () => ((await status<RtpStatus>(nc, 'e1', 500))?.derivedAcked ?? 0) === sent);
    const eods = (globalThis as { rtpShapeEods?: Array<{ day: string; batches: number }> }).rtpShapeEods ?? [];
    expect(eods.map((e) => e.day)).toEqual([day0]);
    const log = await readLog(nc, 're');
    expect(log.eods.map((e) => e.day)).toEqual([day0]);
    const seen = log.batches.filter((b) => b.table === 'seen').flatMap((b) => [...(b.cols.batches as BigInt64Array)].map((x, i) => ({ batches: Number(x), held: Number((b.cols.held as BigInt64Array)[i]) })));
    // One run of 1..k on the old day, then 1..m on the new one: the state started again at the roll.
    const restart = seen.findIndex((r, i) => i > 0 && r.batches === 1);
    expect(restart).toBeGreaterThan(0);
    expect(seen.map((r) => r.batches)).toEqual([...Array.from({ length: restart }, (_, i) => i + 1), ...Array.from({ length: seen.length - restart }, (_, i) => i + 1)]);
    expect(eods[0]!.batches).toBe(restart);
    // The tables too: the new day's first batch holds only its own 2 rows.
    expect(seen[restart]!.held).toBe(2);
    expect((await status<{ day: string }>(nc, 'e1'))!.day).toBe(new Date(midnight).toISOString().slice(0, 10));
    // The derived rows logged before the marker are in the HDB's partition of the old day, read
    // back from Parquet (a row derived from the day's last batch may land after the marker: the
    // new day's, like any late row).
    const before = log.batches.filter((b) => b.table === 'seen' && b.seq < log.eods[0]!.seq);
    const seenBefore = before.reduce((a, b) => a + b.n, 0);
    expect(seenBefore).toBeGreaterThan(0);
    await until(() => hdb.hdb().partitions().includes(day0), 30_000);
    // The partition's range reaches past midnight: it holds rows stamped before the roll a moment later.
    const h = (await hdb.query!({ type: 'tickbus.v1.getdata', table: 'seen', start: `${day0}T00:00:00Z`, end: new Date(midnight + 86_400_000 - 1).toISOString(), aggregations: [{ op: 'count' }, { op: 'max', column: 'batches' }] })) as { cols: Record<string, ArrayLike<number | bigint>> };
    expect(Number(h.cols.count![0])).toBe(seenBefore);
    expect(Number(Object.values(h.cols)[1]![0])).toBe(Math.max(...before.flatMap((b) => [...(b.cols.batches as BigInt64Array)].map(Number))));
    await rt.stop();
    await hdb.stop();
    await rdb.stop();
    pub.close();
    await tp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rtp: a broken processor module, a module with no processor, a missing package and contradictory settings are BAD_CONFIG naming what is wrong', async () => {
    const base = { name: 'bad1', tp: 'nobody', tables };
    const fails = async (s: Record<string, unknown>) => {
      try {
        await startRtp(nc, { ...base, ...s }, silentLogger);
      } catch (e) {
        return e as TickbusError;
      }
      throw new Error('startRtp did not fail');
    };
    const broken = await fails({ vanilla: false, processor: `${fixtures}/broken.ts` });
    expect(broken).toBeInstanceOf(TickbusError);
    expect(broken.code).toBe('BAD_CONFIG');
    expect(broken.message).toContain('broken.ts');
    expect(broken.message).toContain('broken on purpose');
    const none = await fails({ vanilla: false, processor: `${fixtures}/shape.ts#nothing` });
    expect(none.code).toBe('BAD_CONFIG');
    expect(none.message).toMatch(/shape\.ts#nothing.*needs pre or post/);
    const noExport = await fails({ vanilla: false, processor: `${fixtures}/shape.ts#absent` });
    expect(noExport.message).toMatch(/export absent is not a processor/);
    const pkg = await fails({ vanilla: false, processor: 'no-such-package-for-rtp#aggregate' });
    expect(pkg.code).toBe('BAD_CONFIG');
    expect(pkg.message).toContain('no-such-package-for-rtp');
    expect((await fails({ vanilla: true, processor: `${fixtures}/shape.ts#shape` })).detail).toMatchObject({ setting: 'processor' });
    expect((await fails({ vanilla: false })).detail).toMatchObject({ setting: 'processor' });
    expect((await fails({ vanilla: 'no' })).detail).toMatchObject({ setting: 'vanilla' });
    expect((await fails({ vanilla: false, processor: `${fixtures}/shape.ts#shape`, publishInflightMax: 0 })).detail).toMatchObject({ setting: 'publishInflightMax' });
  });
});
