// The daily schedule (TorQ runtimes): the next instant after `nowMs` at which one of the wall
// times happens in the zone. Pure; the clock is the caller's.
import { addDays, wallToInstant, zoneDate } from '../common/clock.ts';

export function nextRunAt(nowMs: number, runtimes: readonly string[], zone: string): number {
  const today = zoneDate(nowMs, zone);
  let best = Infinity;
  // Yesterday's date too: in a zone behind UTC the wall date can lag; two days ahead covers any gap.
  for (const d of [addDays(today, -1), today, addDays(today, 1), addDays(today, 2)]) {
    for (const t of runtimes) {
      const at = wallToInstant(d, t, zone);
      if (at > nowMs && at < best) best = at;
    }
  }
  return best;
}
