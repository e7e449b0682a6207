// End of period (issue 9) against a real nats-server: markers `tickbus.v1.eop` in the log after
// each period's last batch with exact counts under a steady feed, eoiOffsetMin both ways,
// intradayTables, a boundary across a DST change (America/New_York, the next transition after
// the injected clock), manual ctl.<tp>.eop with the caller's reason and the schedule resuming,
// subscriber eop events and from: 'period', the manifest range equal to a scan, and a restart
// across a boundary writing one marker. Clocks are injected (clockAt): no wall-clock literals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { periodRange, readPeriod } from '../../bus/periods.ts';
import { Publisher, type Ack } from '../../bus/publisher.ts';
import { subjects } from '../../bus/subjects.ts';
import { subscribe, type EopEvent } from '../../bus/subscriber.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { startRdb } from '../../actors/rdb/effects.ts';
import type { EopMarker } from '../../actors/tickerplant/periods.ts';
import { dayStartInstant, periodLabel, tradingDay, zoneOffsetMs, type Clock } from '../../actors/common/clock.ts';
import { clockAt, clockBeforeMidnight, column, connectTo, readLog, silentLogger, startServer, testTables, until, type LogBatch } from '../support/bus.ts';
import { periodViolations, readEops } from '../support/periods.ts';

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

async function tp(name: string, extra: Record<string, unknown>, clock: Clock): Promise<Tickerplant> {
  const t = await startTickerplant(nc, { name, tables: testTables, mode: 'batch', pubFreqMs: 10, ...extra }, silentLogger, clock);
  await t.ready();
  return t;
}

const root = resolve(import.meta.dirname, '..', '..');

/** Runs the real CLI (node ops/actors.mjs) against this suite's server. */
function actors(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'ops', 'actors.mjs'), ...args], { env: { ...process.env, LOG_LEVEL: 'warn', NATS_URL: server.url } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => done({ code, out, err }));
  });
}

/** The day start and the first period boundary after `now` (UTC day, eodTime 00:00). */
function nextBoundary(now: number, freqMs: number, offsetMin = 0, zone = 'UTC'): { dayStart: number; b: number } {
  const dayStart = dayStartInstant(tradingDay(now, '00:00', zone), '00:00', zone);
  const off = offsetMin * 60_000;
  const k = Math.floor((now - dayStart - off) / freqMs) + 1;
  return { dayStart, b: dayStart + off + k * freqMs };
}

const row = (fid: number) => ['AAPL', 100 + fid / 100, 10, fid];
const qrow = (fid: number) => ['AAPL', 99, 101, fid];

/** Publishes trades and quotes every 5 ms for `ms`; returns how many of each. */
async function feed(pub: Publisher, ms: number, start = 0): Promise<{ trades: number; quotes: number }> {
  const pending: Promise<Ack>[] = [];
  let fid = start;
  let quotes = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    pending.push(pub.publish('trade', { rows: [row(fid++), row(fid++)] }));
    pending.push(pub.publish('quote', { rows: [qrow(quotes++)] }));
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  return { trades: fid - start, quotes };
}

/** Rows of a table in the log strictly between two sequences. */
function rowsBetween(batches: LogBatch[], table: string, afterSeq: number, beforeSeq: number): number {
  return batches.filter((b) => b.table === table && b.seq > afterSeq && b.seq < beforeSeq).reduce((a, b) => a + b.n, 0);
}

describe('end of period', () => {
  it('eop: markers follow each period with exact counts of intradayTables under a steady feed; manifest and subscriber agree', async () => {
    const freq = 2_000;
    const { dayStart, b } = nextBoundary(Date.now(), freq);
    const clock = clockAt(b - 300); // the first scheduled boundary passes 300 ms in
    const t = await tp('eop1', { intradayFreqMs: freq, intradayTables: ['trade'] }, clock);
    const rdb = await startRdb(nc, { name: 'eoprdb', tp: 'eop1', tables: testTables }, silentLogger);
    await rdb.ready();
    const live = await subscribe(nc, { tp: 'eop1', from: 'today' });
    const seen: EopEvent[] = [];
    const reading = (async () => {
      for await (const e of live) if (e.type === 'eop') seen.push(e);
    })();
    const pub = new Publisher(nc, { tp: 'eop1' });
    const fed = await feed(pub, 5_000);
    await until(async () => (await readEops(nc, 'eop1')).length >= 3, 10_000);
    const log = await readLog(nc, 'eop1');
    const eops = await readEops(nc, 'eop1');
    // The startup marker covers the day up to the last boundary passed (an empty catch-up period).
    expect(eops[0]!.start).toBe(dayStart);
    expect(eops[0]!.end).toBe(b - freq);
    expect(eops[0]!.counts).toEqual({ trade: 0 });
    let prevSeq = 0;
    for (let i = 0; i < eops.length; i++) {
      const e = eops[i]!;
      expect(e.tables).toEqual(['trade']);
      expect(Object.keys(e.counts)).toEqual(['trade']); // quote's counts do not ride
      expect(e.counts.trade).toBe(rowsBetween(log.batches, 'trade', prevSeq, e.seq));
      expect(e.firstSeq).toBe(prevSeq + 1);
      expect(e.period).toBe(periodLabel(e.start, 'UTC'));
      expect(e.nextPeriod).toBe(periodLabel(e.end, 'UTC'));
      if (i > 0) {
        expect(e.start).toBe(eops[i - 1]!.end);
        expect(e.period).toBe(eops[i - 1]!.nextPeriod);
        expect(e.end - e.start).toBe(freq);
        expect((e.end - dayStart) % freq).toBe(0);
      }
      // Every row before the marker was stamped before it.
      const before = log.batches.filter((x) => x.seq < e.seq && x.seq > prevSeq);
      for (const x of before) for (const ts of x.cols.time as BigInt64Array) expect(ts <= e.time).toBe(true);
      prevSeq = e.seq;
    }
    expect(eops.slice(1).some((e) => e.counts.trade! > 0)).toBe(true);
    expect(periodViolations(log, eops, 1)).toEqual([]);
    // Nothing lost, nothing doubled by the rolls.
    expect(column(log.batches, 'fid', 'trade').length).toBe(fed.trades);
    // The manifest's range reads exactly what a scan of the log finds, for each ended period.
    for (const e of eops) {
      // The manifest entry is written just after the marker, off the roll's path.
      await until(async () => (await periodRange(nc, 'eop1', e.period).then(() => true, () => false)), 5_000);
      const rec = await periodRange(nc, 'eop1', e.period);
      expect(rec).toMatchObject({ firstSeq: e.firstSeq, lastSeq: e.seq, counts: e.counts, start: e.start, end: e.end });
      const got = await readPeriod(nc, 'eop1', e.period, 'trade');
      const scan = log.batches.filter((x) => x.table === 'trade' && x.seq >= e.firstSeq && x.seq < e.seq);
      expect(column(got.batches.map((x) => ({ ...x, seq: 0, day: '', count: 0, ids: [] })), 'fid')).toEqual(column(scan, 'fid'));
      // A table outside intradayTables is read by range too (no count to check against).
      const q = await readPeriod(nc, 'eop1', e.period, 'quote');
      expect(q.rows).toBe(rowsBetween(log.batches, 'quote', e.firstSeq - 1, e.seq));
    }
    // The subscriber saw every marker as an eop event, in order.
    await until(() => seen.length >= eops.length, 5_000);
    expect(seen.slice(0, eops.length).map((e) => [e.seq, e.period, e.counts.trade])).toEqual(eops.map((e) => [e.seq, e.period, e.counts.trade]));
    // A late joiner from: 'period' starts right after the last marker.
    const lastEop = (await readEops(nc, 'eop1')).at(-1)!;
    const late = await subscribe(nc, { tp: 'eop1', from: 'period' });
    expect(late.startSeq).toBe(lastEop.seq + 1);
    await late.close();
    // The RDB's eop hook: it counts the periods and shows the last one in its status.
    await until(() => (rdb.status().periods as { count: number }).count >= eops.length, 5_000);
    const rp = rdb.status().periods as { count: number; last: { period: string } };
    const all = await readEops(nc, 'eop1'); // (a marker may have come since: compare by position)
    expect(all.findIndex((e) => e.period === rp.last.period)).toBe(rp.count - 1);
    await rdb.stop();
    pub.close();
    await live.close();
    await reading.catch(() => {});
    await t.stop();
    expect(t.status()).toMatchObject({ periods: (await readEops(nc, 'eop1')).length });
  });

  it('eop: eoiOffsetMin shifts the boundaries, forwards and backwards', async () => {
    const freq = 7_000; // one minute is not a multiple of it: the shift shows
    for (const [name, offsetMin] of [['eopoffp', 1], ['eopoffn', -1]] as const) {
      const { b } = nextBoundary(Date.now() + 1_000, freq, offsetMin);
      const clock = clockAt(b - 600);
      const t = await tp(name, { intradayFreqMs: freq, eoiOffsetMin: offsetMin }, clock);
      await until(async () => (await readEops(nc, name)).some((e) => e.end === b), 5_000);
      const eops = await readEops(nc, name);
      const e = eops.find((x) => x.end === b)!;
      expect(e.start).toBe(b - freq);
      expect(e.nextPeriod).toBe(periodLabel(b, 'UTC'));
      // The unshifted grid would have put the boundary elsewhere.
      expect(((b - nextBoundary(b, freq).dayStart) % freq) === 0).toBe(false);
      await t.stop();
    }
  });

  it('eop: a period boundary across a DST change in America/New_York carries the right labels', async () => {
    const zone = 'America/New_York';
    // The next transition after the injected clock's now: scan hourly, then narrow to the minute.
    const now = Date.now();
    let t0 = Math.floor(now / 3_600_000) * 3_600_000;
    while (zoneOffsetMs(t0 + 3_600_000, zone) === zoneOffsetMs(t0, zone)) t0 += 3_600_000;
    let lo = t0;
    let hi = t0 + 3_600_000;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 2 / 60_000) * 60_000;
      if (zoneOffsetMs(mid, zone) === zoneOffsetMs(lo, zone)) lo = mid;
      else hi = mid;
    }
    const T = hi; // first instant on the new offset
    const clock = clockAt(T - 800);
    const t = await tp('eopdst', { intradayFreqMs: 3_600_000, eodZone: zone, eodTime: '00:00' }, clock);
    await until(async () => (await readEops(nc, 'eopdst')).some((e) => e.end === T), 5_000).catch(async (err) => {
      console.log(new Date(T).toISOString(), JSON.stringify((await readEops(nc, 'eopdst')).map((e) => [e.period, e.nextPeriod, e.start, e.end])), t.status());
      throw err;
    });
    const e = (await readEops(nc, 'eopdst')).find((x) => x.end === T)!;
    expect(e.end - e.start).toBe(3_600_000);
    expect(Date.parse(e.nextPeriod)).toBe(T);
    expect(Date.parse(e.period)).toBe(T - 3_600_000);
    const offOf = (label: string) => label.slice(-6);
    expect(offOf(e.period)).not.toBe(offOf(e.nextPeriod));
    const spring = zoneOffsetMs(T, zone) > zoneOffsetMs(T - 1, zone);
    // Spring forward: 01:00 EST is followed by 03:00 EDT. Fall back: 01:00 EDT by 01:00 EST.
    expect(e.period.slice(11, 16)).toBe('01:00');
    expect(e.nextPeriod.slice(11, 16)).toBe(spring ? '03:00' : '01:00');
    await t.stop();
  });

  it('eop: ctl.<tp>.eop rolls now with the caller on the marker, then the schedule resumes', async () => {
    const freq = 3_000;
    const { b } = nextBoundary(Date.now(), freq);
    const clock = clockAt(b + 200); // just after a boundary: the manual roll comes before the next one
    const t = await tp('eopman', { intradayFreqMs: freq, intradayTables: ['trade', 'quote'] }, clock);
    const pub = new Publisher(nc, { tp: 'eopman' });
    const fed = await feed(pub, 600);
    const reply = await nc.request(subjects.ctl('eopman', 'eop'), JSON.stringify({ by: 'ops-alice', reason: 'vendor correction' }), { timeout: 5_000 });
    const m = JSON.parse(new TextDecoder().decode(reply.data)) as EopMarker;
    expect(m).toMatchObject({ type: 'tickbus.v1.eop', by: 'ops-alice', reason: 'vendor correction', start: b, counts: { trade: fed.trades, quote: fed.quotes } });
    const manualEnd = m.end;
    expect(manualEnd).toBeLessThan(b + freq);
    await until(async () => (await readEops(nc, 'eopman')).some((e) => e.end === b + freq), 6_000);
    const eops = await readEops(nc, 'eopman');
    const i = eops.findIndex((e) => e.by === 'ops-alice');
    expect(eops[i + 1]).toMatchObject({ start: manualEnd, end: b + freq, period: m.nextPeriod, counts: { trade: 0, quote: 0 } });
    expect(eops[i + 1]!.by).toBeUndefined();
    // Typed errors: a bad body, and a tickerplant without periods.
    const bad = JSON.parse(new TextDecoder().decode((await nc.request(subjects.ctl('eopman', 'eop'), 'not json', { timeout: 5_000 })).data));
    expect(bad).toMatchObject({ type: 'tickbus.v1.error', code: 'BAD_ENCODING' });
    const off = await tp('eopoff', {}, clockAt(Date.now()));
    const r = JSON.parse(new TextDecoder().decode((await nc.request(subjects.ctl('eopoff', 'eop'), '{}', { timeout: 5_000 })).data));
    expect(r).toMatchObject({ code: 'BAD_CONFIG', message: expect.stringMatching(/intradayFreqMs/) });
    // The CLI: `actors eop --tp <tp> --reason <text>` sends the same request, the OS user or --by as caller.
    const cli = await actors(['eop', '--tp', 'eopman', '--reason', 'cli roll', '--by', 'ops-bob']);
    expect(cli.err).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.out).toMatch(/^eopman: ended period \S+ \(next \S+\); counts \{"trade":0,"quote":0\}/);
    expect((await readEops(nc, 'eopman')).at(-1)).toMatchObject({ by: 'ops-bob', reason: 'cli roll' });
    const cliOff = await actors(['eop', '--tp', 'eopoff']);
    expect(cliOff.code).toBe(2);
    expect(cliOff.err).toMatch(/^actors: BAD_CONFIG: .*intradayFreqMs/);
    pub.close();
    await off.stop();
    await t.stop();
  });

  it('eop: a tickerplant stopped before a boundary and restarted after it writes one marker with exact counts', async () => {
    const freq = 2_000;
    const { b } = nextBoundary(Date.now() + 1_000, freq);
    const lead = 1_200;
    const clock = clockAt(b - lead);
    const t1 = await tp('eoprs', { intradayFreqMs: freq }, clock);
    const pub = new Publisher(nc, { tp: 'eoprs' });
    const fed = await feed(pub, 400);
    await t1.stop();
    await new Promise((r) => setTimeout(r, Math.max(0, b - clock.now()) + 300)); // the boundary passes while down
    const t2 = await tp('eoprs', { intradayFreqMs: freq }, clock);
    await until(async () => (await readEops(nc, 'eoprs')).some((e) => e.end === b), 5_000);
    const eops = await readEops(nc, 'eoprs');
    expect(eops.filter((e) => e.end === b)).toHaveLength(1);
    const e = eops.find((x) => x.end === b)!;
    expect(e.start).toBe(b - freq);
    expect(e.counts.trade).toBe(fed.trades);
    expect(e.counts.quote).toBe(fed.quotes);
    await t2.stop();
  });

  it('eop: the day\'s last period ends right before the end-of-day marker, and the next day starts a period', async () => {
    const freq = 2_000;
    const { clock, midnight, day0 } = clockBeforeMidnight(1_000);
    const t = await tp('eopeod', { intradayFreqMs: freq }, clock);
    const pub = new Publisher(nc, { tp: 'eopeod' });
    const fed = await feed(pub, 3_500);
    await until(async () => (await readEops(nc, 'eopeod')).some((e) => e.start === midnight), 5_000);
    const log = await readLog(nc, 'eopeod');
    const eops = await readEops(nc, 'eopeod');
    expect(log.eods).toHaveLength(1);
    const eod = log.eods[0]!;
    const last = eops.find((e) => e.end === midnight)!;
    expect(last).toMatchObject({ day: day0, start: midnight - freq, nextPeriod: periodLabel(midnight, 'UTC') });
    expect(last.seq).toBe(eod.seq - 1); // nothing between the day's last period marker and the end of day
    const prev = eops[eops.indexOf(last) - 1]!;
    expect(last.counts.trade).toBe(rowsBetween(log.batches, 'trade', prev.seq, last.seq));
    const next = eops.find((e) => e.start === midnight)!;
    expect(next.day).toBe(eod.nextDay);
    expect(next.firstSeq).toBe(eod.seq + 1);
    expect(next.counts.trade).toBe(rowsBetween(log.batches, 'trade', eod.seq, next.seq));
    expect(eops.filter((e) => e.end === midnight)).toHaveLength(1);
    expect(column(log.batches, 'fid', 'trade').length).toBe(fed.trades);
    pub.close();
    await t.stop();
  });
});
