// The housekeeping process (TorQ's housekeeping): reads the task table, runs it daily at
// `runtimes` in `zone` (and at start with `runnow`), and serves the named APIs `run` ({dryRun})
// returning the report, `tasks` and `lastReport`. One run at a time: a run asked for while one is
// going waits for it and then runs (at most one queued). No control flow beyond a timer, so no
// machine (like the monitor).
import { readFileSync } from 'node:fs';
import type { Logger } from '../../bus/log.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { loadHooks, type HookTable } from '../common/hooks.ts';
import type { ApiTable } from '../common/runtime.ts';
import { runHousekeeping, type HousekeepingReport } from './run.ts';
import { nextRunAt } from './schedule.ts';
import { housekeepingSettings, type HousekeepingSettings } from './settings.ts';
import { BUILT_IN_FUNCTIONS, parseHousekeepingCsv, type HousekeepingTask } from './tasks.ts';

export interface Housekeeping {
  settings: HousekeepingSettings;
  tasks: HousekeepingTask[];
  run(opts?: { dryRun?: boolean }): Promise<HousekeepingReport>;
  nextRunAt(): number;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

/** Loads the task table and the hooks: everything a run needs, validated (BAD_CONFIG otherwise). */
export async function loadHousekeeping(raw: Record<string, unknown> & { name: string }): Promise<{ settings: HousekeepingSettings; tasks: HousekeepingTask[]; hooks: HookTable }> {
  const settings = housekeepingSettings(raw);
  const hooks = await loadHooks(settings.hooksModule, BUILT_IN_FUNCTIONS);
  let text: string;
  try {
    text = readFileSync(settings.csv, 'utf8');
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read the housekeeping table ${settings.csv}: ${(e as Error).message}`, { file: settings.csv });
  }
  return { settings, tasks: parseHousekeepingCsv(text, settings.csv, settings.roots, Object.keys(hooks)), hooks };
}

export async function startHousekeeping(raw: Record<string, unknown> & { name: string }, logger: Logger, apis?: ApiTable, clock: Clock = systemClock): Promise<Housekeeping> {
  const { settings: s, tasks, hooks } = await loadHousekeeping(raw);
  let last: HousekeepingReport | undefined;
  let runs = 0;
  let running: Promise<unknown> = Promise.resolve();
  /** Runs going or waiting: one going and at most one waiting behind it. */
  let pending = 0;
  let stopped = false;
  let timer: unknown;
  let next = nextRunAt(clock.now(), s.runtimes, s.zone);

  const run = (opts: { dryRun?: boolean } = {}): Promise<HousekeepingReport> => {
    if (pending >= 2) return Promise.reject(new TickbusError(ErrorCode.OVERLOADED, 'a housekeeping run is going and another is waiting', { pending }));
    pending++;
    const p = running
      .then(async () => {
        const report = await runHousekeeping(tasks, { ...s, dryRun: opts.dryRun === true, nowMs: clock.now(), hooks, logger });
        if (!report.dryRun) {
          last = report;
          runs++;
        }
        logger.info({ dryRun: report.dryRun, actions: report.actions, errors: report.errors, truncated: report.truncated, ms: report.ms }, 'housekeeping run');
        return report;
      })
      .finally(() => pending--);
    running = p.catch(() => {});
    return p;
  };

  // Wake at least every scheduleCheckMs and run once the clock has passed the next runtime, so a
  // clock that jumps (a suspended machine, an injected clock) is caught up with one run, not many.
  const tick = () => {
    if (stopped) return;
    const now = clock.now();
    if (now >= next) {
      next = nextRunAt(now, s.runtimes, s.zone);
      void run().catch((e) => logger.error({ err: (e as Error).message }, 'scheduled housekeeping run failed'));
    }
    timer = clock.setTimeout(tick, Math.max(1, Math.min(s.scheduleCheckMs, next - now)));
  };
  tick();
  if (s.runnow) void run().catch((e) => logger.error({ err: (e as Error).message }, 'housekeeping runnow failed'));

  apis?.register('run', (o?: { dryRun?: boolean }) => run({ dryRun: o?.dryRun === true }), 'run the housekeeping tasks now ({dryRun: true} lists what would go): the report');
  apis?.register('tasks', () => tasks, 'the housekeeping task table as loaded');
  apis?.register('lastReport', () => last ?? null, 'the report of the last real run');
  return {
    settings: s,
    tasks,
    run,
    nextRunAt: () => next,
    ready: async () => {},
    stop: async () => {
      stopped = true;
      clock.clearTimeout(timer);
      await running;
    },
    status: () => ({ tasks: tasks.length, runs, nextRunAt: new Date(next).toISOString(), lastActions: last?.actions ?? 0, lastErrors: last?.errors ?? 0 }),
  };
}
