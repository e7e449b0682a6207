// Proves the reporter's schedule (TorQ's start, end, period and days of week, in a zone): every
// fire time equals one computed independently from the calendar (actors/common/clock.ts:
// wallToInstant, zoneDate), over weeks that contain a DST change in zones east and west of UTC.
// The weeks are found from an injected clock (the next spring-forward and fall-back after the
// clock's now), and the same check runs from the system clock, so it holds on any date. Also: a
// start inside a DST gap, a window spanning the fall-back hour, and the days of week.
import { describe, expect, it } from 'vitest';
import { addDays, wallToInstant, zoneDate, zoneOffsetMs } from '../../actors/common/clock.ts';
import { ReportSchedule, cronDay, type ScheduleSpec } from '../../actors/reporter/schedule.ts';
import { clockAt } from '../support/bus.ts';

const H = 3_600_000;
const zones = ['America/New_York', 'Europe/London', 'Australia/Sydney', 'Asia/Tokyo', 'UTC'];

/** TorQ's day number of a date: kdb+'s `date mod 7` (2000-01-01, a Saturday, is 0). */
function torqDay(date: string): number {
  const days = (Date.parse(`${date}T00:00:00Z`) - Date.parse('2000-01-01T00:00:00Z')) / 86_400_000;
  return ((days % 7) + 7) % 7;
}

/** The next instant after `fromMs` when the zone's UTC offset changes (within a year), or undefined. */
function nextOffsetChange(fromMs: number, zone: string, direction: 1 | -1): number | undefined {
  let t = fromMs;
  let off = zoneOffsetMs(t, zone);
  for (let i = 0; i < 366 * 24; i++) {
    const o = zoneOffsetMs(t + H, zone);
    if (o !== off && Math.sign(o - off) === direction) {
      // Narrow to the minute.
      let lo = t;
      let hi = t + H;
      while (hi - lo > 60_000) {
        const mid = lo + Math.floor((hi - lo) / 2 / 60_000) * 60_000;
        if (zoneOffsetMs(mid, zone) === off) lo = mid;
        else hi = mid;
      }
      return hi;
    }
    off = o;
    t += H;
  }
  return undefined;
}

/** Fire times by the definition, day by day, from the calendar functions (not croner). */
function oracle(spec: ScheduleSpec, zone: string, fromMs: number, toMs: number): number[] {
  const fmt = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  const out: number[] = [];
  for (let day = addDays(zoneDate(fromMs, zone), -1); Date.parse(`${day}T00:00:00Z`) < toMs + 2 * 86_400_000; day = addDays(day, 1)) {
    if (!spec.days.includes(torqDay(day))) continue;
    const start = wallToInstant(day, fmt(spec.startMs), zone);
    const end = spec.endMs === 86_400_000 ? wallToInstant(addDays(day, 1), '00:00', zone) : wallToInstant(day, fmt(spec.endMs), zone);
    for (let t = start; t < end; t += spec.periodMs) if (t > fromMs && t <= toMs) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

function fires(s: ReportSchedule, fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  for (let t = s.next(fromMs); t !== undefined && t <= toMs; t = s.next(t)) out.push(t);
  return out;
}

const specs: ScheduleSpec[] = [
  { startMs: 9.5 * H, endMs: 16 * H, periodMs: H, days: [2, 3, 4, 5, 6] }, // TorQ's example: 09:30-16:00 hourly, weekdays
  { startMs: 0, endMs: 24 * H, periodMs: 45 * 60_000, days: [0, 1, 2, 3, 4, 5, 6] }, // all day, a period that does not divide the hour
  { startMs: 10 * H, endMs: 10 * H + 60_000, periodMs: 60_000, days: [1] }, // TorQ's one-time query, Sundays only
  { startMs: 0.5 * H, endMs: 4 * H, periodMs: 20 * 60_000, days: [0, 1] }, // the small hours of the weekend, where DST changes
];

describe('reporter schedule', () => {
  for (const [label, clock] of [
    ['an injected clock', clockAt(Date.parse('2026-02-01T12:00:00Z'))],
    ['the system clock', clockAt(Date.now())],
  ] as const) {
    it(`reporter: fire times equal the calendar's across both DST changes after ${label}`, () => {
      const now = clock.now();
      for (const zone of zones) {
        const changes = [nextOffsetChange(now, zone, 1), nextOffsetChange(now, zone, -1)];
        // A zone without DST (Tokyo, UTC) still checks the week after now.
        const weeks = changes.every((c) => c === undefined) ? [now] : (changes.filter((c) => c !== undefined) as number[]);
        for (const change of weeks) {
          const from = change - 3 * 86_400_000;
          const to = change + 4 * 86_400_000;
          for (const spec of specs) {
            const got = fires(new ReportSchedule(spec, zone), from, to);
            expect(got.map((t) => new Date(t).toISOString()), `${zone} ${JSON.stringify(spec)}`).toEqual(oracle(spec, zone, from, to).map((t) => new Date(t).toISOString()));
          }
        }
      }
    });
  }

  it('reporter: a window spanning the fall-back hour keeps its period in elapsed time', () => {
    const zone = 'Europe/London';
    const change = nextOffsetChange(clockAt(Date.parse('2026-06-01T00:00:00Z')).now(), zone, -1)!;
    const day = zoneDate(change, zone);
    const s = new ReportSchedule({ startMs: 0, endMs: 4 * H, periodMs: H, days: [torqDay(day)] }, zone);
    const got = fires(s, change - 12 * H, change + 12 * H);
    // 00:00 to 04:00 wall time is five hours on that day: five runs an hour apart.
    expect(got).toHaveLength(5);
    expect(got.slice(1).map((t, i) => t - got[i]!)).toEqual([H, H, H, H]);
    expect(got[0]).toBe(wallToInstant(day, '00:00:00', zone));
  });

  it('reporter: a start inside the spring-forward gap runs once, when the gap ends', () => {
    const zone = 'America/New_York';
    const change = nextOffsetChange(clockAt(Date.parse('2026-01-15T00:00:00Z')).now(), zone, 1)!;
    const day = zoneDate(change, zone);
    // 02:30 does not exist that day; the run happens at 03:00 EDT, the instant the gap ends.
    const s = new ReportSchedule({ startMs: 2.5 * H, endMs: 2.5 * H + 60_000, periodMs: 60_000, days: [torqDay(day)] }, zone);
    expect(s.next(change - 6 * H)).toBe(change);
    expect(s.next(change)! - change).toBeGreaterThan(6 * 86_400_000); // next week
  });

  it('reporter: days of week are TorQ\'s (0 Saturday, 2 Monday) and map to cron\'s', () => {
    expect([0, 1, 2, 6].map(cronDay)).toEqual([6, 0, 1, 5]);
    const monday = '2026-11-23';
    expect(torqDay(monday)).toBe(2);
    const s = new ReportSchedule({ startMs: 12 * H, endMs: 13 * H, periodMs: H, days: [2] }, 'UTC');
    expect(new Date(s.next(Date.parse(`${addDays(monday, -2)}T00:00:00Z`))!).toISOString()).toBe(`${monday}T12:00:00.000Z`);
    expect(s.upcoming(Date.parse(`${monday}T12:00:00Z`), 2).map((t) => new Date(t).toISOString())).toEqual([`${addDays(monday, 7)}T12:00:00.000Z`, `${addDays(monday, 14)}T12:00:00.000Z`]);
  });
});
