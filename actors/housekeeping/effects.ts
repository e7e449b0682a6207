// The housekeeping process (TorQ's housekeeping): reads the task table, runs it daily at
// `runtimes` in `zone` (and at start with `runnow`; common/scheduled_runs.ts: one run at a time, at
// most one queued), and serves the named APIs `run` ({dryRun}) returning the report, `tasks` and
// `lastReport`. No control flow beyond a timer, so no machine (like the monitor).
import { readFileSync } from 'node:fs';
import type { Logger } from '../../bus/log.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { loadHooks, type HookTable } from '../common/hooks.ts';
import type { ApiTable } from '../common/runtime.ts';
import { scheduledRuns } from '../common/scheduled_runs.ts';
import { runHousekeeping, type HousekeepingReport } from './run.ts';
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
  const sched = scheduledRuns(s, clock, logger, 'housekeeping', async (dryRun) => {
    const report = await runHousekeeping(tasks, { ...s, dryRun, nowMs: clock.now(), hooks, logger });
    if (!report.dryRun) {
      last = report;
      runs++;
    }
    logger.info({ dryRun: report.dryRun, actions: report.actions, errors: report.errors, truncated: report.truncated, ms: report.ms }, 'housekeeping run');
    return report;
  });
  const run = sched.run;

  apis?.register('run', (o?: { dryRun?: boolean }) => run({ dryRun: o?.dryRun === true }), 'run the housekeeping tasks now ({dryRun: true} lists what would go): the report');
  apis?.register('tasks', () => tasks, 'the housekeeping task table as loaded');
  apis?.register('lastReport', () => last ?? null, 'the report of the last real run');
  return {
    settings: s,
    tasks,
    run,
    nextRunAt: sched.nextRunAt,
    ready: async () => {},
    stop: sched.stop,
    status: () => ({ tasks: tasks.length, runs, nextRunAt: new Date(sched.nextRunAt()).toISOString(), lastActions: last?.actions ?? 0, lastErrors: last?.errors ?? 0 }),
  };
}
