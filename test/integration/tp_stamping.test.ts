// Stamping against a real nats-server, read back from the log: per-table custom columns the
// tickerplant fills (TorQ seqnum-style: a `seq` column numbering the table's rows of the day, and
// `recvTime` next to a feed-supplied `time`), continued from the log after a restart with no
// repeat, also inside multi-table messages; KX timeType (gmt/local) and timeOffset on the stamps.
// The clocks are injected (a fixed instant), so the expected stamps follow from them on any day.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { zoneOffsetMs, type Clock } from '../../actors/common/clock.ts';
import { column, connectTo, readLog, silentLogger, startServer, testTables } from '../support/bus.ts';

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

/** A clock standing still at `ms` (stamps are exactly known), its timers real. */
function frozenClock(ms: number): Clock {
  return {
    now: () => ms,
    nowNs: () => BigInt(ms) * 1_000_000n,
    setTimeout: (f, t) => setTimeout(f, t),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  };
}

/** Noon UTC of a day a week ahead of now: far from any end of day in UTC, Tokyo or New York. */
const noon = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 7 * 86_400_000 + 12 * 3_600_000;

const stampedTables = {
  ...testTables,
  trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', fid: 'long', seq: 'long', recvTime: 'timestamp' },
};
const stamp = { trade: { seq: 'seq', recvTime: 'recvTime' } };

async function tp(name: string, extra: Record<string, unknown>, clock: Clock): Promise<Tickerplant> {
  const t = await startTickerplant(nc, { name, tables: stampedTables, stamp, ...extra }, silentLogger, clock);
  await t.ready();
  return t;
}

const feedTime = 1_000_000_000_000_000_000n; // 2001-09-09, any fixed feed time
const trade = (fid: number, time?: bigint) => (time === undefined ? ['AAPL', 100, 10, fid] : [time, 'AAPL', 100, 10, fid]);

describe('tickerplant stamping', () => {
  it('stamping: seq numbers each table row of the day and continues after a restart; recvTime sits next to the feed time', async () => {
    const clock = frozenClock(noon);
    const t = await tp('stamp1', { mode: 'batch', pubFreqMs: 20 }, clock);
    const pub = new Publisher(nc, { tp: 'stamp1' });
    await Promise.all(Array.from({ length: 10 }, (_, i) => pub.publish('trade', { rows: [trade(i, feedTime + BigInt(i))] })));
    await pub.publish('trade', { cols: { sym: ['AAPL', 'IBM'], price: [1, 2], size: [1n, 2n], fid: [10n, 11n] } });
    await t.stop();
    const t2 = await tp('stamp1', { mode: 'memorybatch', pubFreqMs: 20 }, clock);
    await pub.publishMulti({ trade: { rows: [trade(12), trade(13)] }, quote: { rows: [['MSFT', 1, 2, 99]] } });
    await pub.publish('trade', { rows: [trade(14)] });
    const log = await readLog(nc, 'stamp1');
    const trades = log.batches.filter((b) => b.table === 'trade');
    expect(trades.some((b) => b.multi)).toBe(true);
    // The seq column is the row's position in the day, in log order: 1..15, no repeat after the restart.
    expect(column(trades, 'seq')).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i + 1)));
    expect(trades.at(-1)!.count).toBe(15);
    // recvTime is the tickerplant's stamp; the feed's time is kept where given, stamped where not.
    const stampNs = BigInt(noon) * 1_000_000n;
    expect(column(trades, 'recvTime').every((x) => x === stampNs)).toBe(true);
    expect(column(trades, 'time').slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => feedTime + BigInt(i)));
    expect(column(trades, 'time').slice(10)).toEqual(Array(5).fill(stampNs));
    expect(column(trades, 'fid')).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i)));
    // A feed that sends a stamped column is told so; nothing is appended.
    const err = await pub.publish('trade', { cols: { sym: ['A'], price: [1], size: [1n], fid: [1n], seq: [5n] } }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.EXTRA_COLUMN, detail: { column: 'seq' } });
    expect((await readLog(nc, 'stamp1')).lastSeq).toBe(log.lastSeq);
    pub.close();
    await t2.stop();
  });

  it('stamping: timeType local stamps eodZone wall time; timeOffset adds whole hours', async () => {
    const clock = frozenClock(noon);
    const stampNs = BigInt(noon) * 1_000_000n;
    const hour = 3_600_000_000_000n;
    const cases: Array<[string, Record<string, unknown>, bigint]> = [
      ['tgmt', { timeType: 'gmt' }, stampNs],
      ['ttokyo', { timeType: 'local', eodZone: 'Asia/Tokyo' }, stampNs + 9n * hour],
      ['tny', { timeType: 'local', eodZone: 'America/New_York' }, stampNs + BigInt(zoneOffsetMs(noon, 'America/New_York')) * 1_000_000n],
      ['toff', { timeType: 'gmt', timeOffset: -3 }, stampNs - 3n * hour],
    ];
    for (const [name, extra, want] of cases) {
      const t = await tp(name, { mode: 'immediate', ...extra }, clock);
      const pub = new Publisher(nc, { tp: name });
      await pub.publish('trade', { rows: [trade(1)] });
      const log = await readLog(nc, name);
      expect(column(log.batches, 'time'), name).toEqual([want]);
      expect(column(log.batches, 'recvTime'), name).toEqual([want]);
      pub.close();
      await t.stop();
    }
  });

  it('stamping: a stamp naming a missing or mistyped column, or a bad timeType/timeOffset, is BAD_CONFIG naming it', async () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ stamp: { trade: { seq: 'nope' } } }, 'stamp.trade'],
      [{ stamp: { trade: { seq: 'recvTime' } } }, 'stamp.trade'],
      [{ stamp: { trade: { recvTime: 'fid' } } }, 'stamp.trade'],
      [{ stamp: { nosuch: { seq: 'seq' } } }, 'stamp.nosuch'],
      [{ stamp: { trade: { other: 'seq' } } }, 'stamp.trade'],
      [{ timeType: 'utc' }, 'timeType'],
      [{ timeOffset: 1.5 }, 'timeOffset'],
      [{ mode: 'sometimes' }, 'mode'],
    ];
    for (const [extra, setting] of bad) {
      const err = await startTickerplant(nc, { name: 'badstamp', tables: stampedTables, ...extra }, silentLogger).catch((e) => e);
      expect(err, setting).toBeInstanceOf(TickbusError);
      expect(err, setting).toMatchObject({ code: ErrorCode.BAD_CONFIG, detail: { setting } });
    }
  });
});
