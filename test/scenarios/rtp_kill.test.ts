// Scenario "the RTP dies mid-feed": the aggregate real-time processor (actors/rtp/examples/
// aggregate.ts) runs as a child OS process (`actors start rtp`) following an in-process
// tickerplant and publishing its derived `aggregate` rows back to it, while a feed sends trades
// and quotes. It is SIGKILLed mid-feed and started again: its replay runs the processor over the
// day again and publishes only what the log lacks. At the end the log's aggregate table holds each
// derived update exactly once (by id: one per input batch) and the same rows, as a multiset, as a
// second RTP that ran the whole feed uninterrupted computed (in-process, publishing to another
// tickerplant). Waits are bounded polls; nothing asserts on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { aggregateTable } from '../../actors/rtp/examples/aggregate.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import type { Column, SymColumn } from '../../storage/batch.ts';
import { clockAt, connectTo, readLog, silentLogger, startServer, testTables, until, type LogBatch } from '../support/bus.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';

const tables = { ...testTables, aggregate: aggregateTable };
const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG', 'AMZN'];
const ROUNDS = 300;

let server: NatsServer;
let nc: NatsConnection;
let tmp: string;
const procs: Proc[] = [];
const tps: Tickerplant[] = [];
let ref: ProcessRuntime | undefined;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  tmp = mkdtempSync(join(tmpdir(), 'tickbus-rtp-kill-'));
});
afterAll(async () => {
  for (const p of procs.reverse()) await stopProc(p);
  await ref?.stop();
  for (const t of tps) await t.stop();
  await nc?.close();
  await server?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** The aggregate rows of a log, one string per row (time, sym and every figure), sorted. */
function aggregateRows(batches: LogBatch[]): string[] {
  const out: string[] = [];
  for (const b of batches) {
    if (b.table !== 'aggregate') continue;
    const sym = b.cols.sym as SymColumn;
    const f = (c: string, i: number) => String((b.cols[c] as Exclude<Column, SymColumn | string[]>)[i]);
    for (let i = 0; i < b.n; i++) out.push([f('time', i), sym.dict[sym.codes[i]!], ...['trdvol', 'maxpx', 'minpx', 'maxbpx', 'minapx', 'baspread'].map((c) => f(c, i))].join('|'));
  }
  return out.sort();
}

type RtpStatus = { derivedAcked: number; derivedSkipped: number; lastSeq: number; publishErrors: number; processorErrors: number };

describe('scenario rtp-kill', () => {
  it('scenario rtp-kill: the aggregate RTP SIGKILLed mid-feed and restarted; each derived update in the log exactly once, the rows those of an uninterrupted run', async () => {
    const clock = clockAt(Date.now());
    // A dedupe window far shorter than the restart: the replay must find its updates in the log itself.
    const tp = await startTickerplant(nc, { name: 'rk', tables, mode: 'batch', pubFreqMs: 5, dedupeWindowMs: 1_000 }, silentLogger, clock);
    const tpRef = await startTickerplant(nc, { name: 'rkref', tables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
    tps.push(tp, tpRef);
    await Promise.all([tp.ready(), tpRef.ready()]);
    const rtpSettings = { tp: 'rk', vanilla: false, processor: 'actors/rtp/examples/aggregate.ts', subscribeTables: ['trade', 'quote'] };
    // The uninterrupted run: the same processor over the same log, its rows to another tickerplant.
    ref = await startRuntime(server.url, 'rtp', 'rkref1', { ...rtpSettings, publishTp: 'rkref' }, { tables });
    const cfg = join(tmp, 'config.json');
    writeFileSync(cfg, JSON.stringify({ tables, defaults: { rtp: { ...rtpSettings, heartbeatMs: 200 } } }));
    const start = () => {
      const p = spawnProc('rtp', 'rk1', cfg, server.url);
      procs.push(p);
      return p;
    };
    let p = start();
    await waitUp(nc, 'rk1');

    // The feed: ROUNDS rounds of a trade and a quote update, a few in flight, in the background.
    const pub = new Publisher(nc, { tp: 'rk' });
    let sent = 0;
    let fid = 0n;
    let killed!: () => void;
    const kill = new Promise<void>((r) => (killed = r));
    const feed = (async () => {
      for (let r = 0; r < ROUNDS; r++) {
        if (r === ROUNDS / 2) await kill; // however slow the RTP, the kill comes mid-feed
        const n = 5 + (r % 7);
        const sym = Array.from({ length: n }, (_, i) => SYMS[(r + i) % SYMS.length]!);
        const trade = { sym, price: Float64Array.from(sym, (_, i) => 100 + ((r * 7 + i * 3) % 41) * 0.5), size: BigInt64Array.from(sym, (_, i) => BigInt(100 * (1 + ((r + i) % 9)))), fid: BigInt64Array.from(sym, () => ++fid) };
        const quote = { sym, bid: Float64Array.from(sym, (_, i) => 99 + ((r * 5 + i) % 23) * 0.5), ask: Float64Array.from(sym, (_, i) => 111 + ((r * 3 + i) % 19) * 0.5), fid: BigInt64Array.from(sym, () => ++fid) };
        await Promise.all([pub.publish('trade', { cols: trade }), pub.publish('quote', { cols: quote })]);
        sent = r + 1;
        if (r % 10 === 9) await new Promise((res) => setTimeout(res, 10)); // a feed, not a burst
      }
    })();

    await until(async () => ((await status<RtpStatus>(nc, 'rk1', 500))?.derivedAcked ?? 0) >= 60, 60_000);
    p.child.kill('SIGKILL');
    await p.exited;
    killed();
    expect(sent).toBeLessThan(ROUNDS); // killed mid-feed
    p = start();
    await waitUp(nc, 'rk1', 60_000);
    await feed;
    pub.close();

    // Done when both RTPs have read the log's last input batch, no update waits in an open group
    // (held: the idle flush closes it) and none is in flight.
    const inputs = (bs: LogBatch[]) => bs.filter((b) => b.table === 'trade' || b.table === 'quote');
    const lastInput = Math.max(...inputs((await readLog(nc, 'rk')).batches).map((b) => b.seq));
    type Progress = RtpStatus & { inflight: number; held: number };
    const done = (x: Progress | undefined) => !!x && x.lastSeq >= lastInput && x.inflight === 0 && x.held === 0;
    await until(async () => done(await status<Progress>(nc, 'rk1', 500)) && done(await status<Progress>(nc, 'rkref1', 500)), 120_000, 200);
    // The last acks are in; the log is read once both tickerplants have appended them.
    const st = (await status<RtpStatus>(nc, 'rk1'))!;
    expect(st.derivedSkipped).toBeGreaterThan(0); // the replay found updates already published
    expect(st).toMatchObject({ publishErrors: 0, processorErrors: 0 });

    const log = await readLog(nc, 'rk');
    const derived = log.batches.filter((b) => b.table === 'aggregate');
    const ids = derived.flatMap((b) => b.ids);
    const inputSeqs = inputs(log.batches).map((b) => b.seq);
    // Exactly once: one derived update per input batch (each touches a sym), sent in groups
    // (decision 113): no id twice, the groups' input ranges disjoint, each input batch in one.
    expect(new Set(ids).size).toBe(ids.length);
    const ranges = ids.map((id) => /^rtp\.rk1\.(\d+)-(\d+)$/.exec(id)).map((m) => [Number(m![1]), Number(m![2])] as const);
    for (const seq of inputSeqs) expect(ranges.filter(([a, b]) => a <= seq && seq <= b).length, `input ${seq}`).toBe(1);
    const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]![0]).toBeGreaterThan(sorted[i - 1]![1]);
    // The same rows as the uninterrupted run.
    const mine = aggregateRows(derived);
    const theirs = aggregateRows((await readLog(nc, 'rkref')).batches);
    expect(mine.length).toBe(theirs.length);
    expect(mine.length).toBeGreaterThan(inputSeqs.length);
    expect(mine).toEqual(theirs);
  }, 240_000);
});
