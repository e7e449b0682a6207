// When a report runs (TorQ's semantics): on each listed day of the week, at `start` in the
// reporter's zone, then every `period` until `end` (exclusive). croner turns the wall-clock times
// of the zone into instants (time zones, DST gaps and repeats, days of week); the period is elapsed
// time from that day's start, so a window that spans a DST change still fires every `period`.
// Pure: every answer is computed from the instant it is given, never from the wall clock.
import { Cron } from 'croner';
import type { ReportDef } from './report_csv.ts';

/** Windows looked at per question: a week has at most 7, plus the one still open from yesterday. */
const WINDOWS_MAX = 10;
/** The longest window: 24 h of wall clock plus a DST hour. */
const WINDOW_MAX_MS = 25 * 3_600_000;

/** TorQ's day numbers (0 Saturday ... 6 Friday) as cron's (0 Sunday ... 6 Saturday). */
export function cronDay(torqDay: number): number {
  return (torqDay + 6) % 7;
}

/** A six-field croner pattern (seconds first) for a time of day on some days. */
function pattern(msOfDay: number, dow: string): string {
  const s = Math.floor(msOfDay / 1000);
  return `${s % 60} ${Math.floor(s / 60) % 60} ${Math.floor(s / 3600) % 24} * * ${dow}`;
}

export type ScheduleSpec = Pick<ReportDef, 'startMs' | 'endMs' | 'periodMs' | 'days'>;

export class ReportSchedule {
  private readonly startCron: Cron;
  private readonly endCron: Cron;
  private readonly startFracMs: number;
  private readonly endFracMs: number;

  constructor(
    private readonly spec: ScheduleSpec,
    readonly zone: string,
  ) {
    const dows = [...new Set(spec.days.map(cronDay))].sort((a, b) => a - b).join(',');
    // No callback and paused: these Cron objects only compute, they never start a timer.
    this.startCron = new Cron(pattern(spec.startMs, dows), { timezone: zone, paused: true });
    this.endCron = new Cron(pattern(spec.endMs, '*'), { timezone: zone, paused: true });
    this.startFracMs = spec.startMs % 1000;
    this.endFracMs = spec.endMs === 86_400_000 ? 0 : spec.endMs % 1000;
  }

  /** The window [start, end) of the first listed day whose start is after `afterMs`. */
  private windowAfter(afterMs: number): { startMs: number; endMs: number } | undefined {
    const s = this.startCron.nextRun(new Date(afterMs - this.startFracMs));
    if (!s) return undefined;
    const startMs = s.getTime() + this.startFracMs;
    // The end is that day's (end > start on the wall clock, so the first end from just before the
    // start); 24:00 is the next midnight, strictly after. When start and end both fall in a DST
    // gap they both become the gap's end: the window collapses to the one run at its start.
    const e = this.spec.endMs === 86_400_000 ? this.endCron.nextRun(s) : this.endCron.nextRun(new Date(s.getTime() - 1));
    const endMs = e ? e.getTime() + this.endFracMs : startMs + 1;
    return { startMs, endMs: Math.max(endMs, startMs + 1) };
  }

  /** The first fire time strictly after `afterMs`, or undefined when there is none (no days). */
  next(afterMs: number): number | undefined {
    let from = afterMs - WINDOW_MAX_MS;
    for (let i = 0; i < WINDOWS_MAX; i++) {
      const w = this.windowAfter(from);
      if (!w) return undefined;
      if (w.endMs > afterMs) {
        const k = afterMs < w.startMs ? 0 : Math.floor((afterMs - w.startMs) / this.spec.periodMs) + 1;
        const fire = w.startMs + k * this.spec.periodMs;
        if (fire < w.endMs) return fire;
      }
      from = w.startMs;
    }
    return undefined;
  }

  /** The next `n` fire times after `afterMs` (for the `reports` API and tests). */
  upcoming(afterMs: number, n: number): number[] {
    const out: number[] = [];
    let t = afterMs;
    for (let i = 0; i < n; i++) {
      const f = this.next(t);
      if (f === undefined) break;
      out.push(f);
      t = f;
    }
    return out;
  }
}
