// TorQ's check monitor inside the monitor process: reads the check table (checks_csv.ts), runs each
// check on its schedule (checks_scheduler.ts) through the gateway, applies its result checker
// (checks_checkers.ts), publishes an alert on `alert.monitor.<name>` when a check starts failing,
// and serves the status table and history as the named APIs `checks` and `checkHistory`. The
// monitor page uses the in-process interface `Checks` (rows, history, onChange). docs/checks.md.
import { isAbsolute, resolve } from 'node:path';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { ContentType, decode, encode } from '../../bus/codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from '../../bus/errors.ts';
import { GatewayClient, type GatewayTarget } from '../../bus/gateway_client.ts';
import type { Logger } from '../../bus/log.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { Header, subjects } from '../../bus/subjects.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import type { Discovery } from '../common/discovery.ts';
import type { ApiTable } from '../common/runtime.ts';
import { checkLimits, readChecksFile, type CheckSpec } from './checks_csv.ts';
import { CheckScheduler, type CheckFailure, type CheckHistoryEntry, type CheckHistoryFilter, type CheckRow } from './checks_scheduler.ts';
import { ALERT_TYPE } from '../../bus/alerts.ts';

export type { CheckHistoryEntry, CheckHistoryFilter, CheckRow, CheckSpec };
export type { CheckStatus } from './checks_scheduler.ts';

export { ALERT_TYPE } from '../../bus/alerts.ts';

/** The alert a check publishes on its transition to failing (bus/SUBJECTS.md, "Alerts"). */
export interface CheckAlert {
  type: typeof ALERT_TYPE;
  at: string;
  level: 'error';
  source: { proctype: 'monitor'; name: string };
  kind: 'check';
  /** `<family>.<metric>`. */
  subject: string;
  message: string;
  details: Record<string, unknown>;
}

/** What the monitor page (and the monitor's own status) use. */
export interface Checks {
  /** The check table file in use. */
  readonly file: string;
  /** The status table, one row per check in file order. */
  rows(): CheckRow[];
  /** Past runs, newest first. */
  history(filter?: CheckHistoryFilter): CheckHistoryEntry[];
  /** `cb` runs after every finished check run; returns the unsubscribe. */
  onChange(cb: () => void): () => void;
  status(): { checks: number; ok: number; error: number; timeout: number; pending: number; runs: number; alerts: number; recovered: number; skipped: number };
  stop(): Promise<void>;
}

export interface ChecksOptions {
  /** The monitor's name (the alert subject and source). */
  name: string;
  file: string;
  /** A gateway's name; any gateway when absent. */
  gateway?: string;
  concurrentMax: number;
  historyMax: number;
  historyTotalMax: number;
  startDelayMs: number;
  discovery: Discovery;
  logger: Logger;
  apis?: ApiTable;
  clock?: Clock;
}

/** The checkout (where ops/monitor.csv lives): relative check table paths are taken from here. */
const checkoutRoot = resolve(import.meta.dirname, '..', '..');

export function checksFilePath(p: string): string {
  return isAbsolute(p) ? p : resolve(checkoutRoot, p);
}

/** Grace over a check's runtime before the scheduler stops waiting for the gateway's own answer. */
const GRACE_MS = 1_000;

/**
 * A check's query runs through the gateway on the process type in its row. A row naming a process
 * (not a type) is asked on that process's own query subject with the same timeout: the gateway
 * routes by type and attributes, and would answer from any replica of the type (docs/decisions.md 51).
 */
function runner(nc: NatsConnection, o: ChecksOptions, client: GatewayClient, direct: Pipeline) {
  return async (spec: CheckSpec, timeoutMs: number): Promise<unknown> => {
    if (spec.query.kind === 'gateway') {
      const r = spec.query.request;
      const target = (r.target ?? spec.process) as GatewayTarget;
      return (await client.sync(r.query, target, { timeoutMs, join: r.join, priority: r.priority, cost: r.cost })).result;
    }
    const procs = o.discovery.list();
    const named = procs.some((p) => p.proctype === spec.process) ? undefined : procs.find((p) => p.name === spec.process);
    if (!named) return (await client.sync(spec.query.request, spec.process, { timeoutMs })).result;
    const m = await direct.request(subjects.query(named.proctype, named.name), encode(spec.query.request), undefined, timeoutMs);
    const v = decode(m.data);
    if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
    return v;
  };
}

function alertOf(name: string, f: CheckFailure, clock: Clock): CheckAlert {
  const { spec, row } = f;
  return {
    type: ALERT_TYPE,
    at: new Date(clock.now()).toISOString(),
    level: 'error',
    source: { proctype: 'monitor', name },
    kind: 'check',
    subject: `${spec.family}.${spec.metric}`,
    message: `check ${spec.family}.${spec.metric} on ${spec.process}: ${row.status}: ${row.message ?? ''}`,
    details: {
      family: spec.family,
      metric: spec.metric,
      process: spec.process,
      status: row.status,
      resultchecker: spec.checker.name,
      params: spec.paramsText,
      query: spec.queryText,
      durationMs: row.durationMs,
      lastResult: row.lastResult,
      lastRun: row.lastRun,
    },
  };
}

/** Reads the check table and starts the schedule. A bad table is a BAD_CONFIG naming the line. */
export function startChecks(nc: NatsConnection, o: ChecksOptions): Checks {
  const clock = o.clock ?? systemClock;
  const specs = readChecksFile(o.file);
  const client = new GatewayClient(nc, { gateway: o.gateway, timeoutMs: checkLimits.runtimeMaxMs, slackMs: GRACE_MS / 2, inflightMax: o.concurrentMax });
  const direct = new Pipeline(nc, { timeoutMs: checkLimits.runtimeMaxMs, maxInflight: o.concurrentMax });
  const alertSubject = subjects.alert('monitor', o.name);
  const scheduler = new CheckScheduler(specs, {
    run: runner(nc, o, client, direct),
    clock,
    logger: o.logger,
    concurrentMax: o.concurrentMax,
    historyMax: o.historyMax,
    historyTotalMax: o.historyTotalMax,
    startDelayMs: o.startDelayMs,
    graceMs: GRACE_MS,
    onFailing: (f) => {
      // JSON (with its Content-Type), like the other operational messages: readable from any client.
      const h = natsHeaders();
      h.set(Header.contentType, ContentType.json);
      nc.publish(alertSubject, encode(alertOf(o.name, f, clock), 'json'), { headers: h });
    },
  });
  o.apis?.register('checks', () => scheduler.rows(), 'the check status table: status, last run, duration, result, message (TorQ checkmonitor)');
  o.apis?.register('checkHistory', (filter?: CheckHistoryFilter) => scheduler.history(historyFilter(filter)), 'past check runs, newest first: {family?, metric?, limit?}');
  scheduler.start();
  o.logger.info({ file: o.file, checks: specs.length }, 'checks started');
  return {
    file: o.file,
    rows: () => scheduler.rows(),
    history: (f) => scheduler.history(f),
    onChange: (cb) => scheduler.onChange(cb),
    status() {
      const rows = scheduler.rows();
      const count = (st: string) => rows.filter((r) => r.status === st).length;
      return { checks: rows.length, ok: count('ok'), error: count('error'), timeout: count('timeout'), pending: count('pending'), ...scheduler.counts };
    },
    async stop() {
      await scheduler.stop();
      client.close();
      direct.close();
    },
  };
}

/** The checkHistory API's argument, checked (a call is untrusted input). */
export function historyFilter(v: unknown): CheckHistoryFilter {
  if (v === undefined || v === null) return {};
  const bad = (m: string) => new TickbusError(ErrorCode.BAD_QUERY, `checkHistory: ${m}`, { param: 'filter' });
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('the argument is {family?, metric?, limit?}');
  const f = v as Record<string, unknown>;
  for (const k of Object.keys(f)) if (!['family', 'metric', 'limit'].includes(k)) throw bad(`unknown field ${k}; known: family, metric, limit`);
  if (f.family !== undefined && typeof f.family !== 'string') throw bad('family must be a string');
  if (f.metric !== undefined && typeof f.metric !== 'string') throw bad('metric must be a string');
  if (f.limit !== undefined && (typeof f.limit !== 'number' || !Number.isInteger(f.limit) || f.limit < 0)) throw bad('limit must be a non-negative integer');
  return { family: f.family as string | undefined, metric: f.metric as string | undefined, limit: f.limit as number | undefined };
}
