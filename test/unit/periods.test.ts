// The end-of-period calendar (actors/common/clock.ts): boundaries from the day's start with
// eoiOffsetMin both ways, DST days of America/New_York (23 and 25 hourly periods, the repeated
// hour's labels apart), labels read back; the period settings checked with typed errors; the
// settings cascade carrying them. Days come from the current year, never a wall-clock literal.
import { describe, expect, it } from 'vitest';
import { dayStartInstant, endOfDayInstant, nextPeriodBoundary, periodInstant, periodLabel, periodStartOf, zoneOffsetMs } from '../../actors/common/clock.ts';
import { checkPeriodSettings } from '../../actors/tickerplant/periods.ts';
import { defaultTickerplantSettings, type TickerplantSettings } from '../../actors/tickerplant/settings.ts';
import { parseOverrides, settingsFor } from '../../ops/config.ts';
import { TickbusError } from '../../bus/errors.ts';

const H = 3_600_000;

/** Every period start of a day. */
function periods(day: string, zone: string, freq: number, offMin = 0): number[] {
  const start = dayStartInstant(day, '00:00', zone);
  const end = endOfDayInstant(day, '00:00', zone);
  const out = [start];
  for (let t = start; ; ) {
    t = nextPeriodBoundary(t, start, end, freq, offMin * 60_000);
    if (t >= end) return out;
    out.push(t);
  }
}

/** The dates (YYYY-MM-DD) in the zone whose day is not 24 hours long, in the next year. */
function dstDays(zone: string): string[] {
  const out: string[] = [];
  const y = new Date().getUTCFullYear() + 1;
  for (let d = Date.UTC(y, 0, 1); d < Date.UTC(y + 1, 0, 1); d += 86_400_000) {
    const day = new Date(d).toISOString().slice(0, 10);
    if (endOfDayInstant(day, '00:00', zone) - dayStartInstant(day, '00:00', zone) !== 24 * H) out.push(day);
  }
  return out;
}

describe('end-of-period calendar', () => {
  it('eop calendar: boundaries every freq from the day start, shifted by eoiOffsetMin either way', () => {
    const day = `${new Date().getUTCFullYear()}-06-10`;
    const start = dayStartInstant(day, '00:00', 'UTC');
    expect(periods(day, 'UTC', H)).toHaveLength(24);
    const plus = periods(day, 'UTC', H, 15);
    expect(plus[0]).toBe(start);
    expect(plus[1]! - start).toBe(15 * 60_000);
    expect(plus).toHaveLength(25); // [00:00,00:15), ..., [23:15,24:00)
    const minus = periods(day, 'UTC', H, -5);
    expect(minus[1]! - start).toBe(55 * 60_000);
    expect(minus).toHaveLength(25);
    expect(periodStartOf(start + 70 * 60_000, start, H, -5 * 60_000)).toBe(start + 55 * 60_000);
    expect(periodStartOf(start + 10 * 60_000, start, H, 15 * 60_000)).toBe(start);
  });

  it('eop calendar: New York DST days have 23 and 25 hourly periods, labels unique and read back', () => {
    const zone = 'America/New_York';
    const [spring, fall] = dstDays(zone);
    const s = periods(spring!, zone, H);
    const f = periods(fall!, zone, H);
    expect(s).toHaveLength(23);
    expect(f).toHaveLength(25);
    const sl = s.map((t) => periodLabel(t, zone));
    const fl = f.map((t) => periodLabel(t, zone));
    expect(sl.map((l) => l.slice(11, 13))).not.toContain('02'); // the skipped hour has no period
    expect(new Set(fl).size).toBe(25);
    expect(fl.filter((l) => l.slice(11, 16) === '01:00')).toHaveLength(2); // the repeated hour, twice, apart by the offset
    for (const [t, l] of [...s.map((t, i) => [t, sl[i]!] as const), ...f.map((t, i) => [t, fl[i]!] as const)]) expect(periodInstant(l)).toBe(t);
    expect(zoneOffsetMs(f[1]!, zone)).not.toBe(zoneOffsetMs(f[2]!, zone));
    expect(periodLabel(s[0]! + 1_500, zone)).toMatch(/T00:00:01\.500-05:00$/);
    expect(() => periodInstant('2026-12-03T10:00')).toThrow(TickbusError);
  });

  it('eop settings: bad values are BAD_CONFIG naming the setting; the cascade carries them', () => {
    const base = { ...defaultTickerplantSettings, name: 'tp1', tables: {} } as TickerplantSettings;
    const bad: Array<[Partial<TickerplantSettings>, RegExp]> = [
      [{ intradayFreqMs: 500 }, /intradayFreqMs/],
      [{ intradayFreqMs: -1 }, /intradayFreqMs/],
      [{ eoiOffsetMin: '5' as unknown as number }, /eoiOffsetMin/],
      [{ intradayTables: 'trade' as unknown as string[] }, /intradayTables must be a JSON array/],
      [{ intradayTables: ['nope'] }, /nope, which is not a table/],
    ];
    for (const [s, re] of bad) {
      try {
        checkPeriodSettings({ ...base, ...s }, ['trade', 'quote']);
        throw new Error('accepted');
      } catch (e) {
        expect((e as TickbusError).code).toBe('BAD_CONFIG');
        expect((e as Error).message).toMatch(re);
      }
    }
    checkPeriodSettings({ ...base, intradayFreqMs: H, eoiOffsetMin: -5, intradayTables: ['trade'] }, ['trade', 'quote']);
    const cfg = { tables: {}, defaults: { tickerplant: { intradayFreqMs: H, eoiOffsetMin: 5 } }, processes: { tp2: { eoiOffsetMin: -5 } } };
    const s = settingsFor(cfg as never, 'tickerplant', 'tp2', parseOverrides(['intradayTables=["trade"]']));
    expect(s).toMatchObject({ intradayFreqMs: H, eoiOffsetMin: -5, intradayTables: ['trade'] });
  });
});
