// Injected time. Machines never read Date.now(): they get a Clock, so tests drive them with
// XState's SimulatedClock (which has the same now/setTimeout/clearTimeout shape).
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

export interface Clock {
  now(): number;
  /** Epoch nanoseconds for stamps; absent = the process's wall clock (nowNs below). */
  nowNs?(): bigint;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

// Align the monotonic clock with the wall clock on a millisecond edge, so stamps from different
// processes agree to microseconds rather than the ±1 ms a plain Date.now() base would leave. The
// edge lies between the last reading of the old millisecond and the first of the new one; of a few
// tries (each a busy wait under 1 ms) the tightest bracket wins, so a preemption mid-try is ignored.
const [wallBaseNs, hrBase] = (() => {
  let best: [bigint, bigint, bigint] | undefined; // [wall ns, hr mid, bracket width]
  for (let attempt = 0; attempt < 5; attempt++) {
    const start = Date.now();
    let before = process.hrtime.bigint();
    let now = Date.now();
    let after = process.hrtime.bigint();
    while (now === start) {
      before = after;
      now = Date.now();
      after = process.hrtime.bigint();
    }
    const width = after - before;
    if (!best || width < best[2]) best = [BigInt(now) * 1_000_000n, (before + after) / 2n, width];
    if (width < 2_000n) break;
  }
  return [best![0], best![1]] as const;
})();

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Wall-clock nanoseconds: the wall time at start plus a monotonic offset (never goes back). */
export function nowNs(): bigint {
  return wallBaseNs + (process.hrtime.bigint() - hrBase);
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
    } catch {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `unknown time zone ${JSON.stringify(zone)}`, { zone });
    }
    formatters.set(zone, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a zone. */
function wallParts(ms: number, zone: string): { y: number; m: number; d: number; hh: number; mm: number; ss: number } {
  const parts = formatter(zone).formatToParts(new Date(ms));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return { y: get('year'), m: get('month'), d: get('day'), hh: get('hour'), mm: get('minute'), ss: get('second') };
}

/** Offset of the zone from UTC at an instant, in ms (wall - utc). */
export function zoneOffsetMs(ms: number, zone: string): number {
  const p = wallParts(ms, zone);
  const wall = Date.UTC(p.y, p.m - 1, p.d, p.hh, p.mm, p.ss);
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The calendar date (YYYY-MM-DD) of an instant in a zone. */
export function zoneDate(ms: number, zone: string): string {
  const p = wallParts(ms, zone);
  return `${p.y}-${String(p.m).padStart(2, '0')}-${String(p.d).padStart(2, '0')}`;
}

export function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The instant when a wall-clock time happens on a date in a zone. A time that does not exist
 * (inside a spring-forward gap) maps to the instant just after the gap, shifted by the gap; a
 * time that happens twice (fall back) maps to its first occurrence.
 */
export function wallToInstant(date: string, time: string, zone: string): number {
  const [hh, mm, ss] = parseTime(time);
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const guess = Date.UTC(y, m - 1, d, hh, mm, ss);
  const off1 = zoneOffsetMs(guess - 0, zone);
  const t1 = guess - off1;
  const off2 = zoneOffsetMs(t1, zone);
  if (off1 === off2) {
    // Prefer the earlier occurrence when the wall time is ambiguous.
    const tEarly = guess - Math.max(off1, zoneOffsetMs(t1 - 3_600_000, zone));
    if (tEarly !== t1 && zoneOffsetMs(tEarly, zone) === guess - tEarly) return tEarly;
    return t1;
  }
  const t2 = guess - off2;
  if (zoneOffsetMs(t2, zone) === off2) return t2;
  return t1; // in a gap
}

export function parseTime(time: string): [number, number, number] {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(time);
  const hh = Number(m?.[1]);
  const mm = Number(m?.[2]);
  const ss = Number(m?.[3] ?? 0);
  if (!m || hh > 23 || mm > 59 || ss > 59) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `end-of-day time ${JSON.stringify(time)} is not HH:MM or HH:MM:SS`, { time });
  }
  return [hh, mm, ss];
}

/**
 * The instant day `day` ends. With eodTime 00:00 a day is its calendar date (it ends at the
 * next midnight); with any other time T the day ends at T on its own date, so the hours after T
 * belong to the next date (the FX convention: 17:00 New York closes the day).
 */
export function endOfDayInstant(day: string, eodTime: string, zone: string): number {
  const [hh, mm, ss] = parseTime(eodTime);
  if (hh === 0 && mm === 0 && ss === 0) return wallToInstant(addDays(day, 1), '00:00', zone);
  return wallToInstant(day, eodTime, zone);
}

/** The trading day an instant belongs to. */
export function tradingDay(ms: number, eodTime: string, zone: string): string {
  const local = zoneDate(ms, zone);
  return ms < endOfDayInstant(local, eodTime, zone) ? local : addDays(local, 1);
}

// ---------------------------------------------------------------- intraday periods (end of period)

/** The instant day `day` starts: the previous day's end of day (DST-correct, same rule). */
export function dayStartInstant(day: string, eodTime: string, zone: string): number {
  return endOfDayInstant(addDays(day, -1), eodTime, zone);
}

/**
 * Period boundaries of a trading day [dayStart, dayEnd): dayStart + offset + k * freq for every
 * integer k, kept strictly inside the day; the day's start and end are boundaries too. Periods
 * are elapsed time from the day's start, so a 23-hour DST day has 23 hourly periods and a
 * 25-hour one 25, and each period lasts freq (except those cut by the day's ends).
 */
export function periodStartOf(ms: number, dayStartMs: number, freqMs: number, offsetMs: number): number {
  const k = Math.floor((ms - dayStartMs - offsetMs) / freqMs);
  return Math.max(dayStartMs, dayStartMs + offsetMs + k * freqMs);
}

/** The first boundary after `ms` (the end of the period holding `ms`), at most dayEnd. */
export function nextPeriodBoundary(ms: number, dayStartMs: number, dayEndMs: number, freqMs: number, offsetMs: number): number {
  const k = Math.floor((ms - dayStartMs - offsetMs) / freqMs);
  return Math.min(dayEndMs, dayStartMs + offsetMs + (k + 1) * freqMs);
}

/**
 * A period's label: its start as wall time in the zone with the zone's UTC offset, e.g.
 * `2026-12-03T10:00-05:00` (seconds and milliseconds only when not zero, as after a manual roll).
 * The offset keeps the two periods of a repeated (fall-back) hour apart; Date.parse reads it back.
 */
export function periodLabel(ms: number, zone: string): string {
  const p = wallParts(ms, zone);
  const off = Math.round(zoneOffsetMs(ms, zone) / 60_000);
  const two = (n: number) => String(n).padStart(2, '0');
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const msPart = ms % 1000 === 0 ? '' : `.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}`;
  const secs = p.ss === 0 && msPart === '' ? '' : `:${two(p.ss)}${msPart}`;
  return `${p.y}-${two(p.m)}-${two(p.d)}T${two(p.hh)}:${two(p.mm)}${secs}${sign}${two(Math.floor(a / 60))}:${two(a % 60)}`;
}

/** The instant a period label names (inverse of periodLabel). */
export function periodInstant(label: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{3})?)?[+-]\d{2}:\d{2}$/.test(label) ? Date.parse(label) : NaN;
  if (!Number.isFinite(ms)) {
    throw new TickbusError(ErrorCode.BAD_QUERY, `period ${JSON.stringify(label)} is not a period label like 2026-12-03T10:00-05:00`, { period: label });
  }
  return ms;
}

/** The environment variable that puts a process on simulated time (scenarios and demos only). */
export const SIM_CLOCK_ENV = 'TICKBUS_SIM_CLOCK';

/**
 * A clock that starts at `startMs` when the real clock reads `anchorRealMs` and runs `speed` times
 * as fast: a scenario puts a tickerplant just before a DST change and lets hours pass in seconds.
 * Every process given the same three numbers (a restarted one too) shares one timeline.
 */
export function simulatedClock(startMs: number, anchorRealMs: number, speed: number): Clock {
  const elapsedReal = () => performance.timeOrigin + performance.now() - anchorRealMs;
  const startNs = BigInt(Math.round(startMs)) * 1_000_000n;
  return {
    now: () => Math.floor(startMs + elapsedReal() * speed),
    nowNs: () => startNs + BigInt(Math.round(elapsedReal() * speed * 1e6)),
    setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms / speed)),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  };
}

/**
 * `TICKBUS_SIM_CLOCK=<startMs>,<anchorRealMs>,<speed>` (epoch ms, epoch ms, a factor in [1, 100000]):
 * the process runs on simulatedClock; unset: undefined (the system clock). A malformed value is
 * BAD_CONFIG naming the variable.
 */
export function clockFromEnv(env: Record<string, string | undefined> = process.env): Clock | undefined {
  const v = env[SIM_CLOCK_ENV];
  if (v === undefined || v === '') return undefined;
  const parts = v.split(',').map(Number);
  const [startMs, anchor, speed] = parts;
  if (parts.length !== 3 || !parts.every(Number.isFinite) || speed! < 1 || speed! > 100_000 || startMs! < 0 || anchor! < 0) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${SIM_CLOCK_ENV}=${v}: expected <startMs>,<anchorRealMs>,<speed> with speed in [1, 100000]`, { variable: SIM_CLOCK_ENV });
  }
  return simulatedClock(startMs!, anchor!, speed!);
}
