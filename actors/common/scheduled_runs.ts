// Runs of a daily job (housekeeping, compression): at each of `runtimes` in `zone` by the injected
// clock, at start with `runnow`, and on demand. One run at a time: a run asked for while one is
// going waits for it and then runs; at most one waits (another is OVERLOADED). The clock is
// re-checked at least every `scheduleCheckMs`, and a clock that jumped (a suspended machine, an
// injected clock) is caught up with one run, not many.
import type { Logger } from '../../bus/log.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { nextRunAt } from '../housekeeping/schedule.ts';
import type { Clock } from './clock.ts';

export interface ScheduledRuns<R> {
  run(opts?: { dryRun?: boolean }): Promise<R>;
  nextRunAt(): number;
  stop(): Promise<void>;
}

export function scheduledRuns<R>(
  s: { runtimes: string[]; zone: string; runnow: boolean; scheduleCheckMs: number },
  clock: Clock,
  logger: Logger,
  /** The job's name in log lines and errors. */
  what: string,
  job: (dryRun: boolean) => Promise<R>,
): ScheduledRuns<R> {
  let running: Promise<unknown> = Promise.resolve();
  /** Runs going or waiting: one going and at most one waiting behind it. */
  let pending = 0;
  let stopped = false;
  let timer: unknown;
  let next = nextRunAt(clock.now(), s.runtimes, s.zone);

  const run = (opts: { dryRun?: boolean } = {}): Promise<R> => {
    if (pending >= 2) return Promise.reject(new TickbusError(ErrorCode.OVERLOADED, `a ${what} run is going and another is waiting`, { pending }));
    pending++;
    const p = running.then(() => job(opts.dryRun === true)).finally(() => pending--);
    running = p.catch(() => {});
    return p;
  };

  const tick = () => {
    if (stopped) return;
    const now = clock.now();
    if (now >= next) {
      next = nextRunAt(now, s.runtimes, s.zone);
      void run().catch((e) => logger.error({ err: (e as Error).message }, `scheduled ${what} run failed`));
    }
    timer = clock.setTimeout(tick, Math.max(1, Math.min(s.scheduleCheckMs, next - now)));
  };
  tick();
  if (s.runnow) void run().catch((e) => logger.error({ err: (e as Error).message }, `${what} runnow failed`));

  return {
    run,
    nextRunAt: () => next,
    stop: async () => {
      stopped = true;
      clock.clearTimeout(timer);
      await running;
    },
  };
}
