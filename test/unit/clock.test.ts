// Proves the end-of-day calendar: the instant a trading day ends in an IANA zone, with DST
// (23- and 25-hour days), ambiguous and missing wall times, and the FX-style non-midnight roll.
// Pure functions, no clock: each case names an instant computed independently.
import { describe, expect, it } from 'vitest';
import { addDays, endOfDayInstant, tradingDay, wallToInstant, zoneDate } from '../../actors/common/clock.ts';
import { TickbusError } from '../../bus/errors.ts';

const utc = (s: string) => Date.parse(s);

describe('calendar', () => {
  it('calendar: midnight UTC ends a UTC day', () => {
    expect(endOfDayInstant('2026-11-21', '00:00', 'UTC')).toBe(utc('2026-11-22T00:00:00Z'));
    expect(tradingDay(utc('2026-11-21T23:59:59.999Z'), '00:00', 'UTC')).toBe('2026-11-21');
    expect(tradingDay(utc('2026-11-22T00:00:00Z'), '00:00', 'UTC')).toBe('2026-11-22');
  });

  it('calendar: New York midnight follows daylight saving time', () => {
    // EDT (UTC-4) in summer, EST (UTC-5) in winter.
    expect(endOfDayInstant('2026-07-01', '00:00', 'America/New_York')).toBe(utc('2026-07-02T04:00:00Z'));
    expect(endOfDayInstant('2026-12-01', '00:00', 'America/New_York')).toBe(utc('2026-12-02T05:00:00Z'));
  });

  it('calendar: the spring-forward day is 23 hours and the fall-back day 25 hours long', () => {
    const len = (day: string, zone: string) => endOfDayInstant(day, '00:00', zone) - endOfDayInstant(addDays(day, -1), '00:00', zone);
    expect(len('2026-03-08', 'America/New_York')).toBe(23 * 3_600_000);
    expect(len('2026-11-01', 'America/New_York')).toBe(25 * 3_600_000);
    expect(len('2026-03-29', 'Europe/London')).toBe(23 * 3_600_000);
    expect(len('2026-10-25', 'Europe/London')).toBe(25 * 3_600_000);
    expect(len('2026-06-15', 'Asia/Tokyo')).toBe(24 * 3_600_000);
  });

  it('calendar: a wall time inside the spring-forward gap maps past the gap', () => {
    // 02:30 does not exist in New York on 2026-03-08; 03:30 EDT = 07:30Z.
    expect(wallToInstant('2026-03-08', '02:30', 'America/New_York')).toBe(utc('2026-03-08T07:30:00Z'));
  });

  it('calendar: an ambiguous fall-back wall time maps to its first occurrence', () => {
    expect(wallToInstant('2026-11-01', '01:30', 'America/New_York')).toBe(utc('2026-11-01T05:30:00Z'));
    expect(wallToInstant('2026-10-25', '01:30', 'Europe/London')).toBe(utc('2026-10-25T00:30:00Z'));
  });

  it('calendar: a 17:00 New York roll labels the evening with the next date (FX convention)', () => {
    expect(endOfDayInstant('2026-11-20', '17:00', 'America/New_York')).toBe(utc('2026-11-20T22:00:00Z'));
    expect(tradingDay(utc('2026-11-20T21:59:59Z'), '17:00', 'America/New_York')).toBe('2026-11-20');
    expect(tradingDay(utc('2026-11-20T22:00:00Z'), '17:00', 'America/New_York')).toBe('2026-11-21');
  });

  it('calendar: zoneDate and bad zones', () => {
    expect(zoneDate(utc('2026-11-22T03:00:00Z'), 'America/New_York')).toBe('2026-11-21');
    expect(() => zoneDate(0, 'Mars/Olympus')).toThrow(TickbusError);
    expect(() => endOfDayInstant('2026-11-22', '25:00', 'UTC')).toThrow(/HH:MM/);
  });
});

describe('simulated clock (TICKBUS_SIM_CLOCK, scenarios)', () => {
  it('sim clock: starts at startMs at the anchor and runs speed times as fast; timers shrink by the same factor; bad values are BAD_CONFIG', async () => {
    const { clockFromEnv, SIM_CLOCK_ENV } = await import('../../actors/common/clock.ts');
    expect(clockFromEnv({})).toBeUndefined();
    const start = Date.UTC(new Date().getUTCFullYear() + 1, 2, 1);
    const c = clockFromEnv({ [SIM_CLOCK_ENV]: `${start},${Date.now()},1000` })!;
    const t0 = c.now();
    expect(Math.abs(t0 - start)).toBeLessThan(60_000); // within a minute of simulated time of its start
    const fired = await new Promise<number>((r) => c.setTimeout(() => r(c.now()), 5_000)); // 5 simulated s = 5 real ms
    expect(fired - t0).toBeGreaterThanOrEqual(4_000);
    const ns = c.nowNs!();
    expect(ns / 1_000_000n >= BigInt(t0)).toBe(true);
    for (const bad of ['1,2', 'a,b,c', `${start},${Date.now()},0.5`, `${start},${Date.now()},1e9`]) {
      expect(() => clockFromEnv({ [SIM_CLOCK_ENV]: bad })).toThrow(/TICKBUS_SIM_CLOCK/);
    }
  });
});
