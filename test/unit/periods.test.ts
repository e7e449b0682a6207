// The end-of-period calendar (actors/common/clock.ts): boundaries from the day's start with
// eoiOffsetMin both ways, DST days of America/New_York (23 and 25 hourly periods, the repeated
// hour's labels apart), labels read back; the period settings checked with typed errors; the
// settings cascade carrying them; the machine on a simulated clock through whole DST days, a manual
// roll and a restart across boundaries. Days come from the clock's year, never a wall-clock literal.
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { tickerplantMachine } from '../../actors/tickerplant/machine.ts';
import type { EopMarker, EopRequest } from '../../actors/tickerplant/periods.ts';
import { addDays, dayStartInstant, endOfDayInstant, nextPeriodBoundary, periodInstant, periodLabel, periodStartOf, zoneOffsetMs } from '../../actors/common/clock.ts';
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

describe('tickerplant machine: end of period', () => {
  /** The machine on a simulated clock from `startMs`, with stub effects that record the rolls. */
  function harness(startMs: number, day: string, zone: string, freq: number, periodStartMs?: number) {
    const clock = new SimulatedClock();
    clock.set(startMs);
    const eops: EopRequest[] = [];
    const eods: Array<{ day: string; period?: EopRequest }> = [];
    const machine = tickerplantMachine.provide({
      actors: {
        recover: fromPromise(async () => (periodStartMs === undefined ? { day } : { day, periodStartMs })),
        rollEop: fromPromise(async ({ input }: { input: EopRequest }) => {
          eops.push(input);
          return { end: input.end, period: periodLabel(input.start, zone) } as EopMarker;
        }),
        rollEod: fromPromise(async ({ input }: { input: { day: string; period?: EopRequest } }) => {
          eods.push(input);
          return addDays(input.day, 1);
        }),
        drain: fromPromise(async () => {}),
      },
    });
    const actor = createActor(machine, { clock, input: { clock, eodTime: '00:00', eodZone: zone, recoverRetryMs: 1_000, recoverAttemptsMax: 5, intradayFreqMs: freq, eoiOffsetMin: 0 } });
    actor.start();
    const settle = async () => {
      for (let i = 0; i < 4; i++) await new Promise((r) => setTimeout(r, 0));
    };
    return { clock, actor, eops, eods, settle };
  }

  it('eop machine: a New York DST day rolls every elapsed hour, the last period with the end of day', async () => {
    const zone = 'America/New_York';
    for (const day of dstDays(zone)) {
      const start = dayStartInstant(day, '00:00', zone);
      const end = endOfDayInstant(day, '00:00', zone);
      const h = harness(start, day, zone, H);
      await h.settle();
      for (let t = start; t < end; t += 15 * 60_000) {
        h.clock.increment(15 * 60_000);
        await h.settle();
      }
      const hours = (end - start) / H;
      expect(h.eops).toHaveLength(hours - 1);
      h.eops.forEach((r, i) => expect([r.start, r.end]).toEqual([start + i * H, start + (i + 1) * H]));
      expect(h.eods).toEqual([{ day, period: { day, start: end - H, end } }]);
      h.actor.stop();
    }
  });

  it('eop machine: a manual roll ends the period now and the schedule keeps its boundary; a restart rolls the gap once', async () => {
    const day = `${new Date().getUTCFullYear() + 1}-06-10`;
    const start = dayStartInstant(day, '00:00', 'UTC');
    const h = harness(start + 10 * H + 60_000, day, 'UTC', H, start + 10 * H);
    await h.settle();
    expect(h.eops).toEqual([]);
    h.clock.increment(20 * 60_000);
    let answered: unknown;
    h.actor.send({ type: 'tp.eop', by: 'alice', reason: 'fix', respond: (r) => (answered = r) });
    await h.settle();
    const manualAt = start + 10 * H + 21 * 60_000;
    expect(h.eops).toEqual([{ day, start: start + 10 * H, end: manualAt, by: 'alice', reason: 'fix' }]);
    expect(answered).toMatchObject({ marker: { end: manualAt } });
    h.clock.increment(39 * 60_000);
    await h.settle();
    expect(h.eops).toHaveLength(2);
    expect(h.eops[1]).toEqual({ day, start: manualAt, end: start + 11 * H });
    h.actor.stop();
    // Recovered in period 10:00 at 13:30: one roll [10:00, 13:00), then on schedule.
    const r = harness(start + 13 * H + 30 * 60_000, day, 'UTC', H, start + 10 * H);
    await r.settle();
    expect(r.eops).toEqual([{ day, start: start + 10 * H, end: start + 13 * H }]);
    r.clock.increment(30 * 60_000);
    await r.settle();
    expect(r.eops[1]).toEqual({ day, start: start + 13 * H, end: start + 14 * H });
    r.actor.stop();
  });
});
