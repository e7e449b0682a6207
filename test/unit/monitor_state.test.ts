// Proves the monitor page's bounded structures and pure helpers: the ring keeps the newest
// `capacity` items in order; per-minute error counts keep only the last minutesMax minutes; the
// page's binning (web/bins.js, the very file the browser loads) groups minutes into aligned bins of
// any width with empty bins filled; rows/s come from successive cumulative counts, with no rate
// across an end-of-day reset; a forwarded log line keeps warn/error only, cuts long text, drops
// secret-looking fields and never throws. Times are fixed numbers: no wall clock.
import { describe, expect, it } from 'vitest';
import { MinuteCounts, RateTracker, Ring } from '../../actors/monitor/state.ts';
import { binCounts } from '../../actors/monitor/web/bins.js';
import { LogForwarder, logForwardLimits, toLogLine } from '../../bus/log_forward.ts';

const MIN = 60_000;
const T0 = Date.UTC(2030, 0, 2, 10, 0, 0); // a fixed instant; any would do

describe('monitor state', () => {
  it('monitor: the ring keeps the newest items in order', () => {
    const r = new Ring<number>(3);
    expect(r.items()).toEqual([]);
    for (const x of [1, 2]) r.push(x);
    expect(r.items()).toEqual([1, 2]);
    for (const x of [3, 4, 5]) r.push(x);
    expect(r.items()).toEqual([3, 4, 5]);
    expect(r.size).toBe(3);
    expect(r.last(2)).toEqual([5, 4]);
    expect(() => new Ring(0)).toThrow(RangeError);
  });

  it('monitor: per-minute counts forget minutes older than the window', () => {
    const m = new MinuteCounts(10);
    m.add(T0, 'error', T0);
    m.add(T0 + 5_000, 'error', T0 + 5_000);
    m.add(T0 + 30_000, 'warn', T0 + 30_000);
    m.add(T0 + 2 * MIN, 'error', T0 + 2 * MIN);
    expect(m.minutes(T0 + 2 * MIN)).toEqual([
      [T0, 2, 1],
      [T0 + 2 * MIN, 1, 0],
    ]);
    // Ten minutes later the first minute is out of the window, the other still in.
    expect(m.minutes(T0 + 11 * MIN)).toEqual([[T0 + 2 * MIN, 1, 0]]);
    // A line older than the window is not counted at all.
    m.add(T0, 'error', T0 + 11 * MIN);
    expect(m.minutes(T0 + 11 * MIN)).toHaveLength(1);
    // Bounded whatever arrives: 1000 distinct minutes leave at most the window.
    for (let i = 0; i < 1_000; i++) m.add(T0 + i * MIN, 'warn', T0 + i * MIN);
    expect(m.minutes(T0 + 999 * MIN).length).toBeLessThanOrEqual(10);
  });

  it('monitor: minutes group into aligned bins of the width chosen on the page', () => {
    const minutes: Array<[number, number, number]> = [
      [T0, 1, 0],
      [T0 + 4 * MIN, 2, 1],
      [T0 + 5 * MIN, 4, 0],
      [T0 + 14 * MIN, 0, 3],
    ];
    const now = T0 + 14 * MIN + 30_000;
    const five = binCounts(minutes, 5, 15, now);
    expect(five.starts).toEqual([T0, T0 + 5 * MIN, T0 + 10 * MIN]);
    expect(five.errors).toEqual([3, 4, 0]);
    expect(five.warns).toEqual([1, 0, 3]);
    const fifteen = binCounts(minutes, 15, 15, now);
    expect(fifteen.starts).toEqual([T0]);
    expect(fifteen.errors).toEqual([7]);
    // 1-minute bins over 15 minutes: 15 bins, empty ones zero.
    const one = binCounts(minutes, 1, 15, now);
    expect(one.starts).toHaveLength(15);
    expect(one.errors.reduce((a: number, b: number) => a + b, 0)).toBe(7);
    expect(one.errors[0]).toBe(1);
    // Minutes outside the span are left out.
    expect(binCounts(minutes, 5, 5, now).errors).toEqual([0]);
  });

  it('monitor: rows/s from successive counts, none across an end-of-day reset', () => {
    const r = new RateTracker(3);
    r.sample('tp1', { trade: 100, quote: 0 }, T0);
    expect(r.table().map((x) => x.rowsPerSec)).toEqual([0, 0]);
    r.sample('tp1', { trade: 600, quote: 50 }, T0 + 1_000);
    const rows = Object.fromEntries(r.table().map((x) => [x.table, x]));
    expect(rows.trade!.rowsPerSec).toBe(500);
    expect(rows.quote!.rowsPerSec).toBe(50);
    expect(rows.trade!.count).toBe(600);
    r.sample('tp1', { trade: 10, quote: 0 }, T0 + 2_000); // a new day
    expect(r.table().every((x) => x.rowsPerSec === 0)).toBe(true);
    r.sample('tp1', { trade: 30, quote: 0, junk: 'x' }, T0 + 4_000);
    expect(r.table().find((x) => x.table === 'trade')!.rowsPerSec).toBe(10);
    // The series for the chart is bounded by samplesMax.
    expect(r.chart().tp1).toEqual([
      [T0 + 1_000, 550],
      [T0 + 2_000, 0],
      [T0 + 4_000, 10],
    ]);
    r.forget('tp1');
    expect(r.table()).toEqual([]);
  });
});

describe('log forwarding', () => {
  const at = new Date(T0).toISOString();

  it('log: warn and error lines become tickbus.v1.log, bounded and without secrets', () => {
    const raw = JSON.stringify({ level: 50, time: T0, pid: 1, proctype: 'rdb', name: 'rdb1', msg: 'hdb write failed', table: 'trade', attempt: 2, password: 'hunter2', apiToken: 't', nested: { a: 1 } });
    const line = toLogLine(raw, 'rdb', 'rdb1', at)!;
    expect(line).toMatchObject({ type: 'tickbus.v1.log', at, level: 'error', proctype: 'rdb', name: 'rdb1', msg: 'hdb write failed' });
    expect(line.fields).toEqual({ table: 'trade', attempt: 2, nested: '{"a":1}' });
    expect(toLogLine(JSON.stringify({ level: 40, msg: 'x' }), 'rdb', 'rdb1', at)!.level).toBe('warn');
    expect(toLogLine(JSON.stringify({ level: 30, msg: 'info' }), 'rdb', 'rdb1', at)).toBeUndefined();
    expect(toLogLine('not json', 'rdb', 'rdb1', at)).toBeUndefined();
    const long = toLogLine(JSON.stringify({ level: 50, msg: 'x'.repeat(10_000), f: 'y'.repeat(10_000) }), 'rdb', 'rdb1', at)!;
    expect(long.msg.length).toBe(logForwardLimits.msgCharsMax);
    expect(String(long.fields!.f).length).toBe(logForwardLimits.fieldCharsMax);
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(toLogLine(JSON.stringify({ level: 50, msg: 'm', ...many }), 'rdb', 'rdb1', at)!.fields!)).toHaveLength(logForwardLimits.fieldsMax);
  });

  it('log: the forwarder never throws and counts lines over its rate limit', () => {
    const sent: string[] = [];
    const fake = {
      isClosed: () => false,
      publish: (subject: string, data: Uint8Array) => {
        if (sent.length >= 3) throw new Error('connection closed');
        sent.push(`${subject} ${new TextDecoder().decode(data)}`);
      },
    };
    const f = new LogForwarder();
    // Not attached yet: nothing goes out, nothing throws.
    expect(f.write(JSON.stringify({ level: 50, msg: 'early' }))).toBe(true);
    f.attach(fake as never, 'rdb', 'rdb1');
    for (let i = 0; i < logForwardLimits.burst + 10; i++) expect(f.write(JSON.stringify({ level: 50, msg: `m${i}` }))).toBe(true);
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/^log\.rdb\.rdb1 /);
    expect(f.stats.failed).toBeGreaterThan(0);
    expect(f.stats.dropped).toBeGreaterThanOrEqual(10);
  });
});
