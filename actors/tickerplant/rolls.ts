// The tickerplant's markers: the end of day and the end of period. Each roll appends what arrived
// before it, pauses the feed side, waits until the log holds every append (its counts then equal
// the running counts, else LOG_APPEND_FAILED and the roll waits for recovery), and appends its
// marker; updates that arrive meanwhile wait in their pending batches and go out after the marker.
// Split from ingest.ts: the machine (machine.ts) decides when to roll, ingest.ts does the hot path.
import { encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { Header, subjects } from '../../bus/subjects.ts';
import { addDays } from '../common/clock.ts';
import type { EopMarker, EopRequest, Periods } from './periods.ts';

export const EOD_TYPE = 'tickbus.v1.eod';

export interface EodMarker {
  type: typeof EOD_TYPE;
  day: string;
  nextDay: string;
  counts: Record<string, number>;
  time: bigint;
}

/** What a roll needs of the tickerplant (ingest.ts). */
export interface RollHost {
  readonly name: string;
  /** Rows per table of the day so far, including appends in flight. */
  readonly counts: Map<string, number>;
  /** Rows per table of the day that the log holds. */
  readonly loggedCounts: Map<string, number>;
  readonly periods: Periods;
  readonly logger: Logger;
  /** Appends what arrived before the roll and pauses the feed side. */
  flushAndPause(): void;
  /** Resolves once every append in flight is acked. */
  drained(): Promise<void>;
  /** Appends a marker after every batch before it: its log sequence. */
  appendMarker(subject: string, data: Uint8Array, headers: Record<string, string>): Promise<number>;
  /** A marker's time, on the stamps' clock: every row before it was stamped before it. */
  markerTime(): bigint;
  /** Starts `day` (the stamps' demo offset follows it). */
  setDay(day: string): void;
}

export class Rolls {
  constructor(private readonly h: RollHost) {}

  /**
   * Ends `day`: appends what arrived before the end of day, waits until every append is acked,
   * appends the marker and waits for its ack, then starts the next day.
   */
  async eod(day: string, period?: EopRequest): Promise<string> {
    const h = this.h;
    const counts = await this.quiesce('day');
    // The day's last period ends with it (unless a marker before a crash ended it already).
    if (period && h.periods.enabled && period.start < period.end) await h.periods.roll(period, counts, h.markerTime());
    const nextDay = addDays(day, 1);
    const marker: EodMarker = { type: EOD_TYPE, day, nextDay, counts, time: h.markerTime() };
    const seq = await h.appendMarker(subjects.eod(h.name), encode(marker), { [Header.contentType]: 'application/cbor', [Header.day]: day });
    h.setDay(nextDay);
    for (const t of h.counts.keys()) {
      h.counts.set(t, 0);
      h.loggedCounts.set(t, 0);
    }
    h.periods.newDay(seq + 1);
    h.logger.info({ day, nextDay, counts }, 'end of day');
    return nextDay;
  }

  /** Ends the period r (scheduled or manual): the marker follows the period's last batch. */
  async eop(r: EopRequest): Promise<EopMarker> {
    const counts = await this.quiesce('period');
    return await this.h.periods.roll(r, counts, this.h.markerTime());
  }

  /**
   * Appends what arrived before the roll, pauses, waits until every append is acked, and returns
   * the counts the log holds. The counts equal the running counts unless an append failed, and
   * then the roll waits for recovery (which reads the counts back from the log).
   */
  private async quiesce(what: string): Promise<Record<string, number>> {
    this.h.flushAndPause();
    await this.h.drained();
    const counts = Object.fromEntries(this.h.loggedCounts);
    for (const [t, n] of this.h.counts) {
      if (counts[t] !== n) {
        throw new TickbusError(ErrorCode.LOG_APPEND_FAILED, `cannot end the ${what}: ${t} has ${n} rows counted but ${counts[t]} in the log`, { table: t, counted: n, logged: counts[t] });
      }
    }
    return counts;
  }
}
