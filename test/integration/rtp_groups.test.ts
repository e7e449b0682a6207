// Derived groups across a restart in the middle of a group (decision 113), on a real nats-server and
// tickerplant: the aggregate RTP groups its updates four input batches at a time, is stopped with a
// group open (two inputs in, nothing of it sent), the feed goes on, and it starts again. The
// restart finds the two groups already logged (skips them), forms the open group again from the
// same inputs plus the new ones and sends it once; its groups and rows are those of a second RTP
// that ran over the whole log without a stop. The live idle flush sends a group once no input
// follows, and a late copy of a group (a dead run's update in flight) is a duplicate by its id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { aggregateTable } from '../../actors/rtp/examples/aggregate.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import type { Column, SymColumn } from '../../storage/batch.ts';
import { clockAt, connectTo, readLog, silentLogger, startServer, testTables, until, type LogBatch } from '../support/bus.ts';
import { status } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';

const tables = { ...testTables, aggregate: aggregateTable };
const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG'];
type St = { derivedAcked: number; groupsAcked: number; derivedSkipped: number; held: number; inflight: number; loggedIdsFound: number; publishErrors: number; processorErrors: number; lastSeq: number };

let server: NatsServer;
let nc: NatsConnection;
const tps: Tickerplant[] = [];
const rts: ProcessRuntime[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  for (const r of rts) await r.stop().catch(() => {});
  for (const t of tps) await t.stop();
  await nc?.close();
  await server?.dispose();
});

let fid = 0n;
function trade(r: number) {
  const sym = Array.from({ length: 3 + (r % 3) }, (_, i) => SYMS[(r + i) % SYMS.length]!);
  return { cols: { sym, price: Float64Array.from(sym, (_, i) => 100 + ((r * 7 + i) % 13) * 0.5), size: BigInt64Array.from(sym, (_, i) => BigInt(100 * (1 + ((r + i) % 4)))), fid: BigInt64Array.from(sym, () => ++fid) } };
}

/** The aggregate rows of a log (every figure), one string a row, sorted; and the derived ids. */
function derived(batches: LogBatch[]): { rows: string[]; ids: string[] } {
  const rows: string[] = [];
  const agg = batches.filter((b) => b.table === 'aggregate');
  for (const b of agg) {
    const sym = b.cols.sym as SymColumn;
    const f = (c: string, i: number) => String((b.cols[c] as Exclude<Column, SymColumn | string[]>)[i]);
    for (let i = 0; i < b.n; i++) rows.push([f('time', i), sym.dict[sym.codes[i]!], ...['trdvol', 'maxpx', 'minpx', 'maxbpx', 'minapx'].map((c) => f(c, i))].join('|'));
  }
  return { rows: rows.sort(), ids: agg.flatMap((b) => b.ids) };
}

const st = async (name: string) => (await status<St>(nc, name, 1_000))!;
const ranges = (ids: string[], name: string) => ids.map((id) => id.slice(`rtp.${name}.`.length)).sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]));

describe('rtp groups', () => {
  it('rtp groups: a restart in the middle of a group skips the logged groups, forms the open one again and sends it once; groups and rows equal an uninterrupted run; a late copy is a duplicate', async () => {
    const clock = clockAt(Date.now());
    const tp = await startTickerplant(nc, { name: 'gm', tables, mode: 'immediate' }, silentLogger, clock);
    const tpRef = await startTickerplant(nc, { name: 'gmref', tables, mode: 'immediate' }, silentLogger, clock);
    tps.push(tp, tpRef);
    await Promise.all([tp.ready(), tpRef.ready()]);
    const pub = new Publisher(nc, { tp: 'gm' });
    // Groups of four input batches; the log-time bound far away (a minute): only the count closes them.
    const settings = { tp: 'gm', vanilla: false, processor: 'actors/rtp/examples/aggregate.ts', subscribeTables: ['trade', 'quote'], groupInputsMax: 4, groupMs: 60_000 };
    for (let r = 0; r < 10; r++) await pub.publish('trade', trade(r));
    const inputSeqs = async () => (await readLog(nc, 'gm')).batches.filter((b) => b.table === 'trade').map((b) => b.seq);
    let seqs = await inputSeqs();
    expect(seqs.length).toBe(10);

    let rt = await startRuntime(server.url, 'rtp', 'gm1', settings, { tables });
    rts.push(rt);
    await until(async () => {
      const s = await st('gm1');
      return !!s && s.groupsAcked === 2 && s.held === 2 && s.inflight === 0;
    }, 60_000);
    // Stopped with a group open: inputs 9 and 10 in it, nothing of it sent.
    await rt.stop();
    expect(ranges(derived((await readLog(nc, 'gm')).batches).ids, 'gm1')).toEqual([`${seqs[0]}-${seqs[3]}`, `${seqs[4]}-${seqs[7]}`]);

    for (let r = 10; r < 13; r++) await pub.publish('trade', trade(r));
    seqs = await inputSeqs();
    rt = await startRuntime(server.url, 'rtp', 'gm1', settings, { tables });
    rts.push(rt);
    await until(async () => {
      const s = await st('gm1');
      return !!s && s.groupsAcked === 1 && s.held === 1 && s.inflight === 0;
    }, 60_000);
    const s = await st('gm1');
    expect(s).toMatchObject({ derivedSkipped: 8, derivedAcked: 4, loggedIdsFound: 2, publishErrors: 0, processorErrors: 0 });

    // The uninterrupted run over the same log: the same groups (ranges), the same rows.
    const ref = await startRuntime(server.url, 'rtp', 'gmref', { ...settings, publishTp: 'gmref' }, { tables });
    rts.push(ref);
    await until(async () => {
      const r = await st('gmref');
      return !!r && r.groupsAcked === 3 && r.held === 1 && r.inflight === 0;
    }, 60_000);
    const mine = derived((await readLog(nc, 'gm')).batches);
    const theirs = derived((await readLog(nc, 'gmref')).batches);
    const expected = [`${seqs[0]}-${seqs[3]}`, `${seqs[4]}-${seqs[7]}`, `${seqs[8]}-${seqs[11]}`];
    expect(ranges(mine.ids, 'gm1')).toEqual(expected);
    expect(ranges(theirs.ids, 'gmref')).toEqual(expected);
    expect(mine.rows.length).toBeGreaterThan(12);
    expect(mine.rows).toEqual(theirs.rows);

    // A late copy of a logged group (a dead run's update still in flight) carries the same id: a duplicate.
    const third = (await readLog(nc, 'gm')).batches.find((b) => b.table === 'aggregate' && b.ids.includes(`rtp.gm1.${expected[2]}`))!;
    const ack = await pub.publish('aggregate', { cols: { time: third.cols.time, sym: third.cols.sym, trdvol: third.cols.trdvol, maxpx: third.cols.maxpx, minpx: third.cols.minpx, maxbpx: third.cols.maxbpx, minapx: third.cols.minapx, baspread: third.cols.baspread } }, `rtp.gm1.${expected[2]}`);
    expect(ack.duplicate).toBe(true);
    expect(derived((await readLog(nc, 'gm')).batches).ids.length).toBe(3);
    pub.close();
  }, 180_000);

  it('rtp groups: live, a group is sent once no input follows within groupMs (the idle flush), and the next input starts a new group', async () => {
    const tp = await startTickerplant(nc, { name: 'gi', tables, mode: 'immediate' }, silentLogger, clockAt(Date.now()));
    tps.push(tp);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'gi' });
    const rt = await startRuntime(server.url, 'rtp', 'gi1', { tp: 'gi', vanilla: false, processor: 'actors/rtp/examples/aggregate.ts', subscribeTables: ['trade', 'quote'], groupMs: 200 }, { tables });
    rts.push(rt);
    await until(async () => (await status<St>(nc, 'gi1', 1_000)) !== undefined);
    // Two inputs, sent once no input follows (in one group or two, as their log times fall); then one more: a group of its own.
    await Promise.all([pub.publish('trade', trade(1)), pub.publish('trade', trade(2))]);
    await until(async () => (await st('gi1'))?.derivedAcked === 2, 30_000);
    await pub.publish('trade', trade(3));
    await until(async () => (await st('gi1'))?.derivedAcked === 3, 30_000);
    const s = await st('gi1');
    expect(s.held).toBe(0);
    const ids = derived((await readLog(nc, 'gi')).batches).ids;
    expect(ids.length).toBe(s.groupsAcked);
    const seqs = (await readLog(nc, 'gi')).batches.filter((b) => b.table === 'trade').map((b) => b.seq);
    expect(ids.at(-1)).toBe(`rtp.gi1.${seqs[2]}-${seqs[2]}`); // the third input came after the flush: a group of its own
    pub.close();
  }, 120_000);

  it('rtp groups: with syms, a later message whose rows are all filtered out keeps the group open (no idle flush); the next kept input closes it by the log-time rule', async () => {
    const tp = await startTickerplant(nc, { name: 'gs', tables, mode: 'immediate' }, silentLogger, clockAt(Date.now()));
    tps.push(tp);
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'gs' });
    const rt = await startRuntime(server.url, 'rtp', 'gs1', { tp: 'gs', vanilla: false, processor: 'actors/rtp/examples/aggregate.ts', subscribeTables: ['trade'], syms: ['AAPL'], groupMs: 100 }, { tables });
    rts.push(rt);
    await until(async () => (await status<St>(nc, 'gs1', 1_000)) !== undefined);
    const one = (sym: string, px: number) => ({ cols: { sym: [sym], price: Float64Array.of(px), size: BigInt64Array.of(100n), fid: BigInt64Array.of(++fid) } });
    await pub.publish('trade', one('AAPL', 100));
    await pub.publish('trade', one('MSFT', 200)); // no batch for this RTP: filtered whole
    await until(async () => (await st('gs1'))?.lastSeq >= 1, 30_000);
    // However long it waits, the group stays open: a message after its last input is in the log.
    await new Promise((r) => setTimeout(r, 600));
    expect(await st('gs1')).toMatchObject({ held: 1, derivedAcked: 0 });
    await pub.publish('trade', one('AAPL', 101));
    await until(async () => (await st('gs1'))?.derivedAcked === 2, 30_000);
    const log = (await readLog(nc, 'gs')).batches;
    const seqs = log.filter((b) => b.table === 'trade').map((b) => b.seq);
    // The third trade was logged more than groupMs after the first: groups of one input each.
    expect(derived(log).ids.sort()).toEqual([`rtp.gs1.${seqs[0]}-${seqs[0]}`, `rtp.gs1.${seqs[2]}-${seqs[2]}`].sort());
    pub.close();
  }, 120_000);
});
