// The compression process (TorQ's compression): reads the compression table, runs daily at
// `runtimes` in `zone` (and at start with `runnow`), rewrites the partitions due (run.ts) and tells
// the HDBs to reload each one (the RDB's reload notice). Named APIs: `run` ({dryRun}) returning
// the report, `plan` (a dry run), `rules`, `lastReport`. Runs as housekeeping's do
// (common/scheduled_runs.ts: one at a time, at most one queued). No control flow beyond a timer,
// so no machine (like housekeeping).
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../bus/log.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { systemClock, zoneDate, type Clock } from '../common/clock.ts';
import type { ApiTable } from '../common/runtime.ts';
import { scheduledRuns } from '../common/scheduled_runs.ts';
import { announceReload } from '../rdb/write_down.ts';
import type { CompressHooks } from '../../storage/hdb/compress.ts';
import { parseCompressionCsv, type CompressionRule } from './config.ts';
import { runCompression, type CompressionReport } from './run.ts';
import { compressionSettings, type CompressionSettings } from './settings.ts';

export interface Compression {
  settings: CompressionSettings;
  rules: CompressionRule[];
  run(opts?: { dryRun?: boolean }): Promise<CompressionReport>;
  nextRunAt(): number;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

/** Settings and the compression table, validated (BAD_CONFIG listing every bad row otherwise). */
export function loadCompression(raw: Record<string, unknown> & { name: string }): { settings: CompressionSettings; rules: CompressionRule[] } {
  const settings = compressionSettings(raw);
  let text: string;
  try {
    text = readFileSync(settings.csv, 'utf8');
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read the compression table ${settings.csv}: ${(e as Error).message}`, { file: settings.csv });
  }
  return { settings, rules: parseCompressionCsv(text, settings.csv) };
}

export async function startCompression(
  nc: NatsConnection | undefined,
  raw: Record<string, unknown> & { name: string },
  logger: Logger,
  apis?: ApiTable,
  clock: Clock = systemClock,
  hooks?: CompressHooks,
): Promise<Compression> {
  const { settings: s, rules } = loadCompression(raw);
  let last: CompressionReport | undefined;
  let runs = 0;
  const sched = scheduledRuns(s, clock, logger, 'compression', async (dryRun) => {
    const report = await runCompression({
      ...s,
      rules,
      today: zoneDate(clock.now(), s.zone),
      dryRun,
      logger,
      hooks,
      announce: nc ? (date, table, n) => announceReload(nc, { date, tables: [table], rows: { [table]: n } }) : undefined,
    });
    if (!report.dryRun) {
      last = report;
      runs++;
    }
    logger.info({ dryRun: report.dryRun, compressed: report.compressed, failed: report.failed, bytesBefore: report.bytesBefore, bytesAfter: report.bytesAfter, ms: report.ms }, 'compression run');
    return report;
  });
  const run = sched.run;

  apis?.register('run', (o?: { dryRun?: boolean }) => run({ dryRun: o?.dryRun === true }), 'compress the partitions due now ({dryRun: true}: the plan, sizes estimated): the report');
  apis?.register('plan', () => run({ dryRun: true }), 'the partitions a run would compress, current vs planned codec and size');
  apis?.register('rules', () => rules, 'the compression table as loaded');
  apis?.register('lastReport', () => last ?? null, 'the report of the last real run');
  return {
    settings: s,
    rules,
    run,
    nextRunAt: sched.nextRunAt,
    ready: async () => {},
    stop: sched.stop,
    status: () => ({ rules: rules.length, runs, nextRunAt: new Date(sched.nextRunAt()).toISOString(), lastCompressed: last?.compressed ?? 0, lastFailed: last?.failed ?? 0 }),
  };
}
