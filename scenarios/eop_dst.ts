// Intraday periods across a DST change (issue 9 part 6): the tickerplant runs on simulated time
// (TICKBUS_SIM_CLOCK) from 90 minutes before New York's next spring-forward change, 12 simulated
// minutes per real second (the change 7.5 s in: time for the tickerplant to start), with hourly periods; it is SIGKILLed across a period boundary. Every
// period is a whole number of elapsed hours from the day's start (the lost wall-clock hour makes
// no empty or double period), the periods span both UTC offsets, every marker's counts equal its
// period's rows, and no acked row is lost or doubled. The change is found from the clock's year,
// never a literal date.
import { dayStartInstant, endOfDayInstant } from '../actors/common/clock.ts';
import { Invariants, type Scenario } from './types.ts';

const ZONE = 'America/New_York';
const HOUR = 3_600_000;

/** The instant of the zone's next change to a shorter day (spring forward), searched hour by hour in the next 400 days. */
function nextSpringForward(zone: string, fromMs: number): number {
  for (let d = fromMs - (fromMs % 86_400_000); d < fromMs + 400 * 86_400_000; d += 86_400_000) {
    const day = new Date(d).toISOString().slice(0, 10);
    const start = dayStartInstant(day, '00:00', zone);
    if (endOfDayInstant(day, '00:00', zone) - start === 23 * HOUR) {
      // The change is the first hour whose wall time jumps: find it from the day's start.
      const wall = (ms: number) => new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' }).format(ms);
      for (let t = start; t < start + 23 * HOUR; t += HOUR) if (Number(wall(t + HOUR)) - Number(wall(t)) === 2) return t + HOUR;
    }
  }
  throw new Error(`no spring-forward change in ${zone} within 400 days`);
}

const change = nextSpringForward(ZONE, Date.now());

export default {
  name: 'eop-dst',
  description: 'hourly periods on simulated time across New York spring-forward, tickerplant SIGKILLed across a boundary; periods elapsed-hour exact, counts exact',
  topology: { tp: { name: 'scdst', mode: 'batch', pubFreqMs: 5, intradayFreqMs: HOUR, eodZone: ZONE }, rdbs: [] },
  clock: { startMs: change - 90 * 60_000, speed: 720 },
  feed: { tables: ['trade', 'quote'], rowsPerUpdate: 10, updatesPerSec: 200, durationMs: 14_000, syms: 10 },
  // Down 3 s real = 36 simulated minutes, across the boundary an hour after the change (~12.5 s real).
  faults: [{ atMs: 7_000, target: 'tp', action: 'kill-restart', signal: 'SIGKILL', downMs: 3_000 }],
  invariants: [Invariants.ackedRowsInLogOnce, Invariants.logHasNoDuplicates, Invariants.countsMatchLog, Invariants.periodCountsMatchLog, Invariants.periodsElapsedAcrossDst],
  minEops: 2, // boundaries at the change (7.5 s real), +1 h (12.5 s, rolled by the restarted tickerplant), +2 h (17.5 s)
} satisfies Scenario;
