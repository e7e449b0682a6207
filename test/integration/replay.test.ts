// Proves log replay into the HDB and the end-of-day write's crash safety, with a real
// nats-server, real processes and real Parquet files read back through the HDB:
// - replaying a day gives the same partition as the RDB's own end-of-day write (compared through
//   queries), both whole and in bounded chunks merged at the end; a corrupt log message is
//   skipped and reported, not fatal (and the RDB skips it too); `actors replay --json` prints the
//   same day's summary as one JSON document;
// - an RDB SIGKILLed in the middle of its end-of-day write (one table written, one not) ends up,
//   after a restart, with the day written once and completely, and no staging left behind.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { replay, listDays } from '../../actors/replay/replay.ts';
import { startRdb } from '../../actors/rdb/effects.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import type { Clock } from '../../actors/common/clock.ts';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { partitionRows } from '../../storage/hdb/merge.ts';
import { stagingDirFor } from '../../storage/hdb/layout.ts';
import { clockBeforeMidnight, connectTo, readLog, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, stopProc, waitUp } from '../support/procs.ts';

/** `actors <args>` as a child process against this suite's server. */
function actorsCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'ops', 'cli', 'main.ts'), ...args], { env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => done({ code, out, err }));
  });
}

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-replay-'));
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A tickerplant whose clock is `leadMs` before midnight UTC, and the day that ends there. */
async function tpBeforeMidnight(name: string, leadMs: number): Promise<{ tp: Tickerplant; clock: Clock; midnight: number; day0: string }> {
  const { clock, midnight, day0 } = clockBeforeMidnight(leadMs);
  const tp = await startTickerplant(nc, { name, tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clock);
  await tp.ready();
  return { tp, clock, midnight, day0 };
}

async function feedUntil(pub: Publisher, clock: Clock, until: number, start = 0): Promise<number> {
  let fid = start;
  const syms = ['AAPL', 'MSFT', 'IBM', 'GOOG', 'AMZN'];
  while (clock.now() < until) {
    const rows = Array.from({ length: 25 }, (_, i) => [syms[(fid + i) % 5], 100 + ((fid + i) % 13) / 4, (fid + i) % 9, fid + i]);
    const quotes = Array.from({ length: 10 }, (_, i) => [syms[(fid + i) % 5], 99, 101, fid + i]);
    await Promise.all([pub.publish('trade', { rows }), pub.publish('quote', { rows: quotes })]);
    fid += 25;
    await new Promise((r) => setTimeout(r, 5));
  }
  return fid;
}

// A day's partition also holds the rows stamped between midnight and the roll a moment later:
// the ranges run to the end of the next date.
const dayEnd = (day: string) => `${new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)}T23:59:59.999999999Z`;
const byFid = (day: string) => ({ type: 'tickbus.v1.getdata', table: 'trade', start: `${day}T00:00:00Z`, end: dayEnd(day), columns: ['sym', 'price', 'size', 'fid'], ordering: [{ column: 'fid' }] });
const grouped = (day: string) => ({ type: 'tickbus.v1.getdata', table: 'trade', start: `${day}T00:00:00Z`, end: dayEnd(day), grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }, { op: 'avg', column: 'price' }, { op: 'first', column: 'fid' }, { op: 'last', column: 'fid' }], ordering: [{ column: 'sym' }] });

describe('replay', () => {
  it('replay: a replayed day equals the RDB end-of-day write, whole or in chunks; bad messages are skipped', async () => {
    const { tp, clock, midnight, day0 } = await tpBeforeMidnight('rp', 2_000);
    const rdbHdb = join(dir, 'rdb-hdb');
    const rdb = await startRdb(nc, { name: 'rpr', tp: 'rp', tables: testTables, hdbDir: rdbHdb }, silentLogger);
    await rdb.ready();
    const pub = new Publisher(nc, { tp: 'rp' });
    let fid = await feedUntil(pub, clock, midnight - 1_000);
    // A corrupt message in the log, straight into the stream (not through the tickerplant).
    const ack = await nc.request('tick.rp.trade', new Uint8Array([0xde, 0xad, 0xbe, 0xef]), { timeout: 5_000 });
    const badSeq = (JSON.parse(new TextDecoder().decode(ack.data)) as { seq: number }).seq;
    fid = await feedUntil(pub, clock, midnight + 500, fid);
    await until(() => rdb.actor.getSnapshot().context.days === 1, 30_000);
    expect(rdb.status()).toMatchObject({ skipped: 1 });

    const whole = await replay(nc, { tp: 'rp', hdbDir: join(dir, 'replay-whole'), tables: testTables, date: day0 });
    expect(whole.skipped).toEqual([expect.objectContaining({ seq: badSeq, subject: 'tick.rp.trade' })]);
    const chunked = await replay(nc, { tp: 'rp', hdbDir: join(dir, 'replay-chunked'), tables: testTables, date: day0, chunkRows: 700 });
    const log = await readLog(nc, 'rp');
    expect(whole.rows[day0]).toEqual(log.eods[0]!.counts);
    expect(chunked.rows[day0]).toEqual(log.eods[0]!.counts);
    expect(existsSync(join(stagingDirFor(join(dir, 'replay-chunked'))))).toBe(true);
    expect(readdirSync(stagingDirFor(join(dir, 'replay-chunked')))).toEqual([]);

    const hdbs = await Promise.all(['rdb-hdb', 'replay-whole', 'replay-chunked'].map((d) => Hdb.open(join(dir, d))));
    const results = await Promise.all(hdbs.map(async (h) => [await h.query(byFid(day0)), await h.query(grouped(day0))]));
    expect(results[0]![0]!.n).toBe(log.eods[0]!.counts.trade);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    for (const h of hdbs) h.close();
    // A sequence range replays only those messages (into the partition of their day).
    const days = await listDays(nc, 'rp');
    const some = await replay(nc, { tp: 'rp', hdbDir: join(dir, 'replay-range'), tables: testTables, fromSeq: days[0]!.fromSeq, toSeq: days[0]!.fromSeq + 9, only: ['quote'] });
    expect(Object.keys(some.rows[day0] ?? {})).toEqual(['quote']);
    // The same day through `actors replay --json` (a real CLI process): one JSON summary on stdout.
    const cfgFile = join(dir, 'replay-cli.json');
    writeFileSync(cfgFile, JSON.stringify({ tables: testTables }));
    const cli = await actorsCli(['replay', '--tp', 'rp', '--date', day0, '--hdb', join(dir, 'replay-cli'), '--config', cfgFile, '--json']);
    expect(cli.code).toBe(0);
    const summary = JSON.parse(cli.out) as { written: Array<{ date: string; table: string; rows: number }>; skipped: Array<{ seq: number }> };
    expect(Object.fromEntries(summary.written.map((w) => [w.table, w.rows]))).toEqual(log.eods[0]!.counts);
    expect(summary.skipped.map((x) => x.seq)).toEqual([badSeq]);
    // `actors replay --check`: nothing written, the unreadable message reported, every table's
    // rows equal to the end-of-day marker; exit status 1 because the log is not clean.
    const checked = await replay(nc, { tp: 'rp', hdbDir: join(dir, 'replay-check'), tables: testTables, date: day0, check: true });
    expect(checked.written).toEqual([]);
    expect(existsSync(join(dir, 'replay-check'))).toBe(false);
    expect(checked.skippedCount).toBe(1);
    expect(checked.check!.map((c) => [c.table, c.rows, c.marker, c.match])).toEqual(Object.entries(log.eods[0]!.counts).filter(([, n]) => n > 0).sort().map(([t, n]) => [t, n, n, true]));
    const cliCheck = await actorsCli(['replay', '--tp', 'rp', '--date', day0, '--config', cfgFile, '--check', '--json']);
    expect(cliCheck.code).toBe(1);
    expect(JSON.parse(cliCheck.out)).toMatchObject({ clean: false, skippedCount: 1, skipped: [{ seq: badSeq }] });
    // `actors replay --repair-to`: the day's valid messages copied, in order, into a new log that
    // every reader reads like any other: --check on it is clean and a replay of it equals the RDB's.
    const repaired = await actorsCli(['replay', '--tp', 'rp', '--date', day0, '--config', cfgFile, '--repair-to', 'rpfixed', '--json']);
    expect(repaired.code).toBe(0);
    const rep = JSON.parse(repaired.out) as { repair: { stream: string; copied: number }; skippedCount: number };
    const dayMsgs = log.order.filter((m) => m.seq >= days[0]!.fromSeq && m.seq <= days[0]!.toSeq + 1).length; // batches and the day's eod marker
    expect(rep).toMatchObject({ repair: { stream: 'TICK_rpfixed', copied: dayMsgs }, skippedCount: 1 });
    const fixedLog = await readLog(nc, 'rpfixed');
    expect(fixedLog.batches.map((b) => [b.table, b.n])).toEqual(log.batches.filter((b) => b.seq <= days[0]!.toSeq).map((b) => [b.table, b.n]));
    expect(fixedLog.eods.map((e) => e.counts)).toEqual([log.eods[0]!.counts]);
    const fixedCheck = await replay(nc, { tp: 'rpfixed', hdbDir: join(dir, 'replay-fixed'), tables: testTables, date: day0, check: true });
    expect(fixedCheck.skippedCount).toBe(0);
    expect(fixedCheck.check!.every((c) => c.match)).toBe(true);
    const fixed = await replay(nc, { tp: 'rpfixed', hdbDir: join(dir, 'replay-fixed'), tables: testTables, date: day0 });
    const fixedHdb = await Hdb.open(join(dir, 'replay-fixed'));
    expect(await fixedHdb.query(byFid(day0))).toEqual(results[0]![0]);
    fixedHdb.close();
    expect(fixed.rows[day0]).toEqual(log.eods[0]!.counts);
    // A second repair into the same name is refused (the repaired log is never overwritten).
    const again = await replay(nc, { tp: 'rp', hdbDir: join(dir, 'x'), tables: testTables, date: day0, repairTo: 'rpfixed' }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'BAD_QUERY', detail: { param: 'repairTo' } });
    pub.close();
    await rdb.stop();
    await tp.stop();
  });

  it('rdb: SIGKILLed during its end-of-day write, the restarted RDB writes the day once and completely', async () => {
    // The RDB child starts first (a cold start can take seconds): a tickerplant run with the normal
    // clock creates the log for it, then the one 1.5 s before midnight takes over the same log.
    const first = await startTickerplant(nc, { name: 'kx', tables: testTables }, silentLogger);
    await first.ready();
    await first.stop();
    const hdbDir = join(dir, 'kill-hdb');
    const cfg = (extra: Record<string, unknown>) => {
      const p = join(dir, `kx-${Object.keys(extra).length}.json`);
      writeFileSync(p, JSON.stringify({ tables: testTables, defaults: { rdb: { tp: 'kx', hdbDir, ...extra } } }));
      return p;
    };
    // The first RDB pauses 1.5 s before each table of its write: the kill lands between tables.
    let rdb = spawnProc('rdb', 'kxr', cfg({ eodWriteDelayMs: 1_500 }), server.url, { LOG_LEVEL: 'info' });
    await waitUp(nc, 'kxr');
    const { tp, clock, midnight, day0 } = await tpBeforeMidnight('kx', 1_500);
    const pub = new Publisher(nc, { tp: 'kx' });
    await feedUntil(pub, clock, midnight + 300);
    const log = await readLog(nc, 'kx');
    const counts = log.eods[0]!.counts;
    await until(async () => (await partitionRows(hdbDir, day0, 'quote')) > 0 || (await partitionRows(hdbDir, day0, 'trade')) > 0, 20_000, 20).catch((e) => {
      throw new Error(`${(e as Error).message}; rdb output: ${rdb.output.join('').slice(-2000)}`);
    });
    rdb.child.kill('SIGKILL');
    await rdb.exited;
    const writtenBefore = [await partitionRows(hdbDir, day0, 'trade'), await partitionRows(hdbDir, day0, 'quote')];
    expect(writtenBefore.filter((n) => n === 0)).toHaveLength(1); // exactly one table was written
    rdb = spawnProc('rdb', 'kxr', cfg({}), server.url);
    await waitUp(nc, 'kxr');
    await until(async () => (await partitionRows(hdbDir, day0, 'trade')) === counts.trade && (await partitionRows(hdbDir, day0, 'quote')) === counts.quote, 30_000, 100);
    const h = await Hdb.open(hdbDir);
    expect(h.problems()).toEqual([]);
    const r = await h.query(byFid(day0));
    const fids = Array.from(r.cols.fid as BigInt64Array);
    expect(fids.length).toBe(counts.trade);
    expect(new Set(fids).size).toBe(fids.length);
    h.close();
    expect(readdirSync(stagingDirFor(hdbDir)).filter((f) => !f.startsWith('.'))).toEqual([]);
    pub.close();
    await stopProc(rdb);
    await tp.stop();
  });
});
