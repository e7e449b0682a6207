// The chained tickerplant's bad inputs (decisions 121, 122) against a real nats-server: a parent
// that does not exist is NO_MATCHING_PROCESS (at once with parentWaitMs 0, after the bounded wait
// otherwise), and a parent log message it cannot forward (does not decode, not its schema, too
// large for its own log) is counted, kept in TICKERR_<name> with its reason and parent sequence,
// and the chained tp goes on: every good row reaches its log once, in order, tick by tick and
// coalesced; a restart that reads a rejected message again keeps it once. Bad messages are
// written straight into the parent's log stream, as the log-repair test does. Days come from the injected clock, never from the wall clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams } from '../../bus/subjects.ts';
import { clockBeforeMidnight, connectTo, readLog, startServer, tableFids, testTables, until } from '../support/bus.ts';
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

async function start(proctype: string, name: string, settings: Record<string, unknown>, clock?: Parameters<typeof startRuntime>[4]['clock']): Promise<ProcessRuntime> {
  const rt = await startRuntime(server.url, proctype, name, settings, { tables: testTables, ...(clock ? { clock } : {}) });
  running.push(rt);
  return rt;
}

const SYMS = ['AAPL', 'MSFT', 'IBM'];

/** One trade update of `rows` rows with fids from `fid0`; resolves when acked. */
async function trade(pub: Publisher, rows: number, fid0: number): Promise<bigint[]> {
  const fid = BigInt64Array.from({ length: rows }, (_, i) => BigInt(fid0 + i));
  const codes = Uint32Array.from({ length: rows }, (_, i) => i % SYMS.length);
  await pub.publish('trade', { cols: { sym: { dict: SYMS, codes }, price: new Float64Array(rows).fill(100), size: new BigInt64Array(rows).fill(1n), fid } });
  return Array.from(fid);
}

/** Appends bytes straight into a tickerplant's log stream (a foreign writer); returns its sequence. */
async function inject(subject: string, data: Uint8Array): Promise<number> {
  const ack = await nc.request(subject, data, { timeout: 10_000 });
  return (JSON.parse(new TextDecoder().decode(ack.data)) as { seq: number }).seq;
}

async function startError(p: Promise<unknown>): Promise<TickbusError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(TickbusError);
  return e as TickbusError;
}

describe('chainedtp bad inputs', () => {
  it('chainedtp: a parent that does not exist is NO_MATCHING_PROCESS naming it, at start with parentWaitMs 0 (both log modes), failed after a bounded wait', async () => {
    const e = await startError(startRuntime(server.url, 'chainedtp', 'np1c', { parent: 'np1', parentWaitMs: 0 }, { tables: testTables }));
    expect(e.code).toBe(ErrorCode.NO_MATCHING_PROCESS);
    expect(e.message).toContain('np1');
    expect(e.detail).toMatchObject({ parent: 'np1', stream: streams.log('np1') });
    const r = await startError(startRuntime(server.url, 'chainedtp', 'np2c', { parent: 'np2', logMode: 'none', parentWaitMs: 0 }, { tables: testTables }));
    expect(r.code).toBe(ErrorCode.NO_MATCHING_PROCESS);
    expect(r.detail).toMatchObject({ parent: 'np2' });

    // A bounded wait: ready and answering while it retries, then failed with the typed error.
    await start('chainedtp', 'np3c', { parent: 'np3', parentWaitMs: 1_500, recoverRetryMs: 100 });
    const st = await status<{ state: unknown; lastErrorCode?: string; lastError?: string }>(nc, 'np3c', 5_000);
    expect(st?.lastErrorCode ?? ErrorCode.NO_MATCHING_PROCESS).toBe(ErrorCode.NO_MATCHING_PROCESS);
    await until(async () => (await status<{ state: unknown }>(nc, 'np3c', 5_000))?.state === 'failed', 30_000, 100);
    const failed = await status<{ lastErrorCode?: string; lastError?: string }>(nc, 'np3c', 5_000);
    expect(failed).toMatchObject({ lastErrorCode: ErrorCode.NO_MATCHING_PROCESS });
    expect(failed?.lastError).toContain(streams.log('np3'));
  }, 60_000);

  it('chainedtp: parent messages it cannot forward (not CBOR, not its schema, too large) are kept in TICKERR_<name>, counted, and every good row still goes once, tick by tick and coalesced', async () => {
    const { clock } = clockBeforeMidnight(3_600_000);
    await start('tickerplant', 'rj', { mode: 'immediate' }, clock);
    // Own log messages at most 64 KiB: a 3000-row trade batch (~110 KB) does not fit.
    const small = { maxMessageBytes: 65_536, batchBytesMax: 16_384 };
    const rj1 = await start('chainedtp', 'rj1', { parent: 'rj', ...small });
    await start('chainedtp', 'rj2', { parent: 'rj', pubFreqMs: 50, ...small });
    const pub = new Publisher(nc, { tp: 'rj', ackTimeoutMs: 10_000 });
    const good: bigint[] = [];
    for (let k = 0; k < 5; k++) good.push(...(await trade(pub, 10, k * 10)));
    const day = (await readLog(nc, 'rj')).batches[0]!.day;

    const notCbor = await inject('tick.rj.trade', new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    const codes = Uint32Array.from([0, 1]);
    const wrong = await inject('tick.rj.trade', encode({ type: 'tickbus.v1.batch', day, n: 2, cols: { sym: { dict: SYMS, codes }, price: new Float64Array(2) } }));
    await trade(pub, 3_000, 100_000); // too large for the chained tps' logs
    const big = (await (await manager(nc)).streams.info(streams.log('rj'))).state.last_seq;
    for (let k = 5; k < 10; k++) good.push(...(await trade(pub, 10, k * 10)));
    pub.close();
    const last = (await (await manager(nc)).streams.info(streams.log('rj'))).state.last_seq;

    const jsm = await manager(nc);
    for (const name of ['rj1', 'rj2']) {
      // Caught up: the own log's watermark reaches the parent's last message.
      await until(async () => {
        const info = await jsm.streams.info(streams.log(name));
        if (info.state.messages === 0) return false;
        const m = await jsm.streams.getMessage(streams.log(name), { seq: info.state.last_seq });
        return Number(m!.header.get(Header.parentSeq)) >= last;
      }, 30_000, 50);
      const own = await readLog(nc, name);
      expect(tableFids(own.batches, 'trade')).toEqual(good);
      const st = await status<Record<string, unknown>>(nc, name, 5_000);
      expect(st).toMatchObject({ state: { forwarding: 'open' }, skipped: 1, rejected: 3, rejectedByCode: { BAD_ENCODING: 1, MISSING_COLUMN: 1, MESSAGE_TOO_LARGE: 1 } });

      await until(async () => (await jsm.streams.info(streams.rejected(name))).state.messages >= 3, 20_000, 50);
      const kept = [];
      for (let seq = 1; seq <= 3; seq++) kept.push((await jsm.streams.getMessage(streams.rejected(name), { seq }))!);
      const bySeq = new Map(kept.map((m) => [Number(m.header.get(Header.parentSeq)), m]));
      expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual([notCbor, wrong, big]);
      expect(bySeq.get(notCbor)!.header.get(Header.errorCode)).toBe(ErrorCode.BAD_ENCODING);
      expect(Array.from(bySeq.get(notCbor)!.data)).toEqual([0xde, 0xad, 0xbe, 0xef]);
      expect(bySeq.get(wrong)!.header.get(Header.errorCode)).toBe(ErrorCode.MISSING_COLUMN);
      expect(bySeq.get(wrong)!.subject).toBe(`tickerr.${name}.trade`);
      expect(bySeq.get(big)!.header.get(Header.errorCode)).toBe(ErrorCode.MESSAGE_TOO_LARGE);
      expect(bySeq.get(big)!.header.get('Tb-Error-Message')).toContain('maxMessageBytes');
      expect(decode<{ n: number }>(bySeq.get(big)!.data).n).toBe(3_000);
    }

    // A bad message last in the parent's log is past the watermark (nothing appended after it): a
    // restarted chained tp reads it again and rejects it again, and TICKERR keeps it once.
    const tail = await inject('tick.rj.quote', new Uint8Array([0x01, 0x02]));
    const kept = async () => (await jsm.streams.info(streams.rejected('rj1'))).state.messages;
    await until(async () => (await kept()) === 4, 20_000, 50);
    await rj1.stop();
    running.splice(running.indexOf(rj1), 1);
    await start('chainedtp', 'rj1', { parent: 'rj', ...small });
    await until(async () => (await status<{ skipped?: number }>(nc, 'rj1', 5_000))?.skipped === 1, 30_000, 50);
    // One more good update: once the own log holds it, the server has taken the re-kept copy (sent
    // before it on the same connection) and deduplicated it.
    const more = new Publisher(nc, { tp: 'rj', ackTimeoutMs: 10_000 });
    const fid = await trade(more, 2, 500);
    more.close();
    await until(async () => tableFids((await readLog(nc, 'rj1')).batches, 'trade').includes(fid[1]!), 30_000, 50);
    expect(tail).toBeGreaterThan(last);
    expect(await kept()).toBe(4);
  }, 120_000);
});
