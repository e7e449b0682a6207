// The reporter (TorQ's reporter process): loads the report file, runs each report on its schedule
// (schedule.ts) in the configured zone, sends its query (runner.ts), hands the result to its
// handler (handlers.ts) and keeps the query log (query_log.ts), served as the named API
// `reportlog`; `reports` lists the reports with their next runs and `runNow` runs one at once.
// Bounds: at most `concurrentMax` runs at once and one run per report; a report due while its
// previous run is still going, or while all slots are busy, is skipped and logged (stage S), never
// queued. It has no control flow beyond timers, start and stop, so no machine (like the monitor).
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { Logger } from '../../bus/log.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import type { ApiTable } from '../common/runtime.ts';
import { createMailer, defaultSmtp, smtpForLog, type Mailer } from './email.ts';
import { dirResolver, type HandlerContext } from './handlers.ts';
import { QueryLog, Stage, type QueryLogRow } from './query_log.ts';
import { formatSpan, readReports, type ReportDef } from './report_csv.ts';
import { runReport, type RunOutcome } from './runner.ts';
import { ReportSchedule } from './schedule.ts';
import { checkReporterSettings, defaultReporterSettings, systemZone, type ReporterSettings } from './settings.ts';

const root = resolve(import.meta.dirname, '..', '..');
/** How long stop() waits for runs in flight before it closes their connections under them. */
const STOP_WAIT_MS = 5_000;
/** A timer firing this close before its time counts as on time (timers may fire a little early). */
const EARLY_MS = 5;

export interface ReporterOptions {
  apis?: ApiTable;
  clock?: Clock;
  /** Resolves a relative data path (registry's dataPath); default: inside ./data. */
  dataPath?: (p: string) => string;
}

export interface Reporter {
  reports: ReportDef[];
  log: QueryLog;
  /** Runs a report now; resolves with its run id and outcome once it has finished. */
  runNow(name: string): Promise<{ queryid: number; stage: RunOutcome; rows: QueryLogRow[] }>;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

type Input = Partial<ReporterSettings> & Pick<ReporterSettings, 'name'> & { tables?: Record<string, unknown> };

export async function startReporter(nc: NatsConnection, settings: Input, logger: Logger, o: ReporterOptions = {}): Promise<Reporter> {
  const clock = o.clock ?? systemClock;
  const s = checkReporterSettings({ ...defaultReporterSettings, zone: systemZone(), ...settings, smtp: settings.smtp && { ...defaultSmtp, ...settings.smtp } });
  const csvPath = resolve(root, s.reportsCsv);
  const tables = settings.tables ? new Set(Object.keys(settings.tables)) : undefined;
  const reports = readReports(csvPath, tables);
  const byName = new Map(reports.map((r) => [r.name, r]));
  const schedules = new Map(reports.map((r) => [r.name, new ReportSchedule(r, s.zone)]));
  const log = new QueryLog(s.logRowsMax, logger, () => clock.now());
  const mailer: Mailer | undefined = s.smtp && createMailer(s.smtp);
  const gateways = new Map<string, GatewayClient>();
  const gateway = (name: string | undefined) => {
    const key = name ?? '';
    let g = gateways.get(key);
    if (!g) gateways.set(key, (g = new GatewayClient(nc, { gateway: name })));
    return g;
  };
  const dataPath = o.dataPath ?? ((p: string) => resolve('data', p));
  const handlers: HandlerContext = {
    reporter: s.name,
    nc,
    zone: s.zone,
    now: () => clock.now(),
    dirFor: dirResolver(s.outputDir, dataPath),
    resultRowsMax: s.resultRowsMax,
    alertThrottleMs: s.alertThrottleMs,
    mailer,
    lastAlertMs: new Map(),
  };
  const deps = { nc, clock, log, handlers, gateway, reporter: s.name };

  let nextId = 0;
  let stopping = false;
  const running = new Map<string, { queryid: number; done: Promise<RunOutcome> }>();
  const timers = new Map<string, unknown>();
  const nextFire = new Map<string, number>();
  const counts = { runs: 0, complete: 0, error: 0, timeout: 0, skipped: 0 };

  /** Starts a run, or says why it cannot start. */
  function start(def: ReportDef): { queryid: number; done: Promise<RunOutcome> } | string {
    const busy = running.get(def.name);
    if (busy) return `report ${def.name} is still running (run ${busy.queryid})`;
    if (running.size >= s.concurrentMax) return `${running.size} reports are running (concurrentMax ${s.concurrentMax})`;
    const queryid = ++nextId;
    counts.runs++;
    const done = runReport(def, queryid, deps).then((stage) => {
      running.delete(def.name);
      counts[stage === Stage.complete ? 'complete' : stage === Stage.error ? 'error' : 'timeout']++;
      return stage;
    });
    const run = { queryid, done };
    running.set(def.name, run);
    return run;
  }

  function arm(def: ReportDef, afterMs: number): void {
    if (stopping) return;
    const at = schedules.get(def.name)!.next(afterMs);
    if (at === undefined) return;
    nextFire.set(def.name, at);
    const wait = Math.max(0, Math.min(at - clock.now(), s.timerMaxMs));
    timers.set(
      def.name,
      clock.setTimeout(() => {
        const now = clock.now();
        // A long wait is cut into timerMaxMs pieces; re-arm until the fire time is reached.
        if (now < at - EARLY_MS) return arm(def, afterMs);
        const run = start(def);
        if (typeof run === 'string') {
          counts.skipped++;
          log.add(0, def.name, Stage.system, `Skipped the run due at ${new Date(at).toISOString()}: ${run}`);
        }
        // Runs missed while the process was held up are not caught up: the next is after now.
        arm(def, Math.max(at, now));
      }, wait),
    );
  }

  async function runNow(name: string): Promise<{ queryid: number; stage: RunOutcome; rows: QueryLogRow[] }> {
    const def = byName.get(name);
    if (!def) throw new TickbusError(ErrorCode.BAD_QUERY, `no report ${JSON.stringify(name)} on ${s.name}`, { report: name, reports: [...byName.keys()] });
    if (stopping) throw new TickbusError(ErrorCode.NOT_READY, `reporter ${s.name} is stopping`, {});
    const run = start(def);
    if (typeof run === 'string') throw new TickbusError(ErrorCode.OVERLOADED, run, { report: name });
    const stage = await run.done;
    return { queryid: run.queryid, stage, rows: log.run(run.queryid) };
  }

  function describe(): Array<Record<string, unknown>> {
    return reports.map((r) => ({
      name: r.name,
      line: r.line,
      query: r.query,
      resulthandler: r.handler ?? null,
      gateway: r.viaGateway,
      join: r.join ?? null,
      proctype: r.proctypes,
      procname: r.procname ?? null,
      start: formatSpan(r.startMs),
      end: formatSpan(r.endMs),
      period: formatSpan(r.periodMs),
      timeoutinterval: formatSpan(r.timeoutMs),
      daysofweek: r.days,
      running: running.get(r.name)?.queryid ?? null,
      next: nextFire.has(r.name) ? new Date(nextFire.get(r.name)!).toISOString() : null,
    }));
  }

  o.apis?.register('reportlog', (name?: string, last?: number) => log.list(name || undefined, last), 'the query log (TorQ querylog): [name], [last n rows]');
  o.apis?.register('reports', () => describe(), 'the reports with their schedules and next runs');
  o.apis?.register('runNow', (name: string) => runNow(name), 'runs a report at once; answers with its run id, last stage and log rows');

  log.add(0, '', Stage.system, `Reporter ${s.name} loaded ${reports.length} reports from ${csvPath} (zone ${s.zone})`, 0, { smtp: smtpForLog(s.smtp) });
  for (const r of reports) arm(r, clock.now() - 1);

  return {
    reports,
    log,
    runNow,
    ready: async () => {},
    async stop() {
      stopping = true;
      for (const t of timers.values()) clock.clearTimeout(t);
      timers.clear();
      const inflight = [...running.values()].map((r) => r.done);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.allSettled(inflight), new Promise((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
      clearTimeout(timer);
      for (const g of gateways.values()) g.close();
      mailer?.close();
    },
    status: () => ({ reports: reports.length, running: running.size, zone: s.zone, ...counts, logRows: log.size, logDropped: log.dropped }),
  };
}
