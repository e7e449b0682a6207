// TorQ's reloadstart/reloadend at the gateway: between a WDB's `wdb.<name>.reloadstart` and
// `reloadend` for a day, a getdata part bound for an HDB that reads that day is held (the same
// hold as the RDB->HDB hand-over: the scheduler re-plans held queries, EOD_IN_PROGRESS after
// eodHoldMs). Every hold ends by itself after min(the notice's holdMs, eodHoldMs), so a lost
// reloadend never leaves the gateway stuck (TorQ bug #661).
import { dateToDays } from '../../storage/batch.ts';
import { dayBoundsNs } from './data_access.ts';
import type { PartSpec } from './routing.ts';

interface Hold {
  wdb: string;
  untilMs: number;
  timer: ReturnType<typeof setTimeout>;
}

export class ReloadHolds {
  private readonly days = new Map<string, Hold>();
  /** Holds started, ended by reloadend, ended by their own timeout. */
  readonly stats = { started: 0, ended: 0, expired: 0 };

  constructor(
    /** Called when a hold ends (the scheduler re-plans held queries). */
    private readonly onEnd: () => void,
    /** The gateway's bound on any hold (eodHoldMs). */
    private readonly maxMs: number,
    /** Process types whose parts are held (the HDB reloads; an RDB keeps answering). */
    private readonly heldTypes: readonly string[] = ['hdb'],
  ) {}

  /** A reloadstart notice; a bad one (no date, no wdb) is ignored and answered false. */
  start(n: unknown): boolean {
    const { wdb, date, holdMs } = (n ?? {}) as { wdb?: unknown; date?: unknown; holdMs?: unknown };
    if (typeof wdb !== 'string' || typeof date !== 'string' || dateToDays(date) === undefined) return false;
    const ms = Math.max(0, Math.min(typeof holdMs === 'number' && Number.isFinite(holdMs) ? holdMs : this.maxMs, this.maxMs));
    this.clear(date);
    const timer = setTimeout(() => {
      if (this.days.get(date)?.timer !== timer) return;
      this.days.delete(date);
      this.stats.expired++;
      this.onEnd();
    }, ms);
    timer.unref?.();
    this.days.set(date, { wdb, untilMs: Date.now() + ms, timer });
    this.stats.started++;
    return true;
  }

  /** A reloadend notice: the day's hold ends now. */
  end(n: unknown): void {
    const { date } = (n ?? {}) as { date?: unknown };
    if (typeof date !== 'string' || !this.days.has(date)) return;
    this.clear(date);
    this.stats.ended++;
    this.onEnd();
  }

  /** The day (and its WDB) an HDB-bound part of these would read while it reloads; undefined when none. */
  blocking(parts: readonly PartSpec[], eodTime: string, eodZone: string): { day: string; wdb: string } | undefined {
    if (this.days.size === 0) return undefined;
    for (const p of parts) {
      if (!this.heldTypes.includes(p.proctype)) continue;
      const r = p.request as { start?: unknown; end?: unknown };
      let start: bigint;
      let end: bigint;
      try {
        start = BigInt(r.start as string);
        end = BigInt(r.end as string);
      } catch {
        continue;
      }
      for (const [day, h] of this.days) {
        const [lo, hi] = dayBoundsNs(dateToDays(day)!, eodTime, eodZone);
        if (start < hi && end >= lo) return { day, wdb: h.wdb };
      }
    }
    return undefined;
  }

  held(): Array<{ day: string; wdb: string; untilMs: number }> {
    return [...this.days].map(([day, h]) => ({ day, wdb: h.wdb, untilMs: h.untilMs }));
  }

  close(): void {
    for (const day of [...this.days.keys()]) this.clear(day);
  }

  private clear(day: string): void {
    const h = this.days.get(day);
    if (h) clearTimeout(h.timer);
    this.days.delete(day);
  }
}
