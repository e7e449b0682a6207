// The check scheduler: runs each check every `period` (fixed rate from its first run), at most
// `concurrentMax` at once (the rest wait in a queue that holds each check at most once), never a
// check twice at once (a run still going when the next is due skips that one), each bounded by its
// `runtime` (plus a grace for the transport's own answer). It keeps the status of each check and a
// bounded history, and says when a check goes from passing (or pending) to failing (the alert) and
// back (ok again). No I/O of its own: the query runner, the clock and the alert sink are injected,
// so it runs under a simulated clock in the unit tests.
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Clock } from '../common/clock.ts';
import { applyChecker } from './checks_checkers.ts';
import type { CheckSpec } from './checks_csv.ts';

export const CheckStatuses = ['ok', 'error', 'timeout', 'pending'] as const;
export type CheckStatus = (typeof CheckStatuses)[number];

/** One row of the status table (the `checks` API, and what the monitor page shows). */
export interface CheckRow {
  family: string;
  metric: string;
  process: string;
  status: CheckStatus;
  /** When the last run started (ISO), null before the first run finished. */
  lastRun: string | null;
  durationMs: number | null;
  /** A short description of the last result (null when the query failed). */
  lastResult: string | null;
  /** What the checker said, or the error. */
  message: string | null;
  resultchecker: CheckSpec['checker']['name'];
  periodMs: number;
  runtimeMs: number;
  /** Runs finished, and runs skipped because the previous one of this check was still going. */
  runs: number;
  skipped: number;
}

/** One past run (the `checkHistory` API). */
export interface CheckHistoryEntry {
  family: string;
  metric: string;
  time: string;
  status: Exclude<CheckStatus, 'pending'>;
  durationMs: number;
  message: string;
}

export interface CheckHistoryFilter {
  family?: string;
  metric?: string;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

/** What an alert on the transition to failing carries. */
export interface CheckFailure {
  spec: CheckSpec;
  row: CheckRow;
}

export interface CheckSchedulerOptions {
  /** Runs a check's query with its runtime as the timeout; resolves with the result. */
  run: (spec: CheckSpec, timeoutMs: number) => Promise<unknown>;
  clock: Clock;
  logger: Logger;
  /** Called on a check's transition from ok or pending to error or timeout (not on every failure). */
  onFailing?: (f: CheckFailure) => void;
  /** Checks running at once; others wait their turn. */
  concurrentMax: number;
  /** Past runs kept per check. */
  historyMax: number;
  /** Past runs kept over all checks: each check keeps min(historyMax, historyTotalMax / checks). */
  historyTotalMax: number;
  /** Delay before each check's first run (capped at its period). */
  startDelayMs: number;
  /** Added to a check's runtime before the scheduler gives up on the runner itself. */
  graceMs: number;
}

interface CheckState {
  spec: CheckSpec;
  row: CheckRow;
  history: CheckHistoryEntry[];
  timer: unknown;
  running: boolean;
  queued: boolean;
}

/** Listeners one scheduler keeps (the page, the API): a bound, not a queue. */
export const LISTENERS_MAX = 64;

export class CheckScheduler {
  private readonly states: CheckState[];
  private readonly waiting: CheckState[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly listeners = new Set<() => void>();
  private readonly historyCap: number;
  private active = 0;
  private stopped = true;
  readonly counts = { runs: 0, alerts: 0, recovered: 0, skipped: 0 };

  constructor(
    specs: readonly CheckSpec[],
    private readonly o: CheckSchedulerOptions,
  ) {
    if (!(o.concurrentMax >= 1)) throw new TickbusError(ErrorCode.BAD_CONFIG, 'checksConcurrentMax must be at least 1', { value: o.concurrentMax });
    this.historyCap = Math.max(1, Math.min(o.historyMax, Math.floor(o.historyTotalMax / Math.max(1, specs.length))));
    this.states = specs.map((spec) => ({
      spec,
      row: {
        family: spec.family,
        metric: spec.metric,
        process: spec.process,
        status: 'pending',
        lastRun: null,
        durationMs: null,
        lastResult: null,
        message: null,
        resultchecker: spec.checker.name,
        periodMs: spec.periodMs,
        runtimeMs: spec.runtimeMs,
        runs: 0,
        skipped: 0,
      },
      history: [],
      timer: undefined,
      running: false,
      queued: false,
    }));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (const s of this.states) this.schedule(s, Math.min(this.o.startDelayMs, s.spec.periodMs));
  }

  /** Stops the timers; resolves when the runs in flight have finished (each is bounded by its runtime plus the grace). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.states) {
      if (s.timer !== undefined) this.o.clock.clearTimeout(s.timer);
      s.timer = undefined;
      s.queued = false;
    }
    this.waiting.length = 0;
    await Promise.all([...this.inflight]);
  }

  rows(): CheckRow[] {
    return this.states.map((s) => ({ ...s.row }));
  }

  /** Past runs, newest first, optionally of one family and/or metric. */
  history(f: CheckHistoryFilter = {}): CheckHistoryEntry[] {
    const limit = Math.max(0, Math.min(f.limit ?? 100, this.o.historyTotalMax));
    const picked = this.states.filter((s) => (f.family === undefined || s.spec.family === f.family) && (f.metric === undefined || s.spec.metric === f.metric));
    const all = picked.flatMap((s) => s.history);
    // ISO times of one clock sort as strings; ties keep check order.
    all.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    return all.slice(0, limit).map((e) => ({ ...e }));
  }

  /** Calls `cb` after every finished run; returns the unsubscribe. */
  onChange(cb: () => void): () => void {
    if (this.listeners.size >= LISTENERS_MAX) throw new TickbusError(ErrorCode.OVERLOADED, `at most ${LISTENERS_MAX} check listeners`, {});
    this.listeners.add(cb);
    return () => void this.listeners.delete(cb);
  }

  private schedule(s: CheckState, delayMs: number): void {
    if (this.stopped) return;
    s.timer = this.o.clock.setTimeout(() => this.due(s), delayMs);
  }

  private due(s: CheckState): void {
    s.timer = undefined;
    if (this.stopped) return;
    this.schedule(s, s.spec.periodMs);
    if (s.running || s.queued) {
      s.row.skipped++;
      this.counts.skipped++;
      return;
    }
    if (this.active >= this.o.concurrentMax) {
      s.queued = true;
      this.waiting.push(s);
      return;
    }
    this.launch(s);
  }

  private launch(s: CheckState): void {
    s.running = true;
    this.active++;
    const p = this.runOne(s).finally(() => {
      this.inflight.delete(p);
      s.running = false;
      this.active--;
      while (!this.stopped && this.active < this.o.concurrentMax && this.waiting.length > 0) {
        const next = this.waiting.shift()!;
        next.queued = false;
        this.launch(next);
      }
      this.notify();
    });
    this.inflight.add(p);
  }

  private async runOne(s: CheckState): Promise<void> {
    const { spec } = s;
    const clock = this.o.clock;
    const startMs = clock.now();
    let guard: unknown;
    const limitMs = spec.runtimeMs + this.o.graceMs;
    const timedOut = new Promise<never>((_, reject) => {
      guard = clock.setTimeout(() => reject(new TickbusError(ErrorCode.TIMEOUT, `no answer within the runtime of ${spec.runtimeMs} ms`, { runtimeMs: spec.runtimeMs })), limitMs);
    });
    let status: CheckStatus;
    let message: string;
    let summary: string | null = null;
    try {
      const result = await Promise.race([Promise.resolve().then(() => this.o.run(spec, spec.runtimeMs)), timedOut]);
      const out = applyChecker(spec.checker, result);
      status = out.ok ? 'ok' : 'error';
      message = out.message;
      summary = out.summary;
    } catch (e) {
      const err = toTickbusError(e);
      status = err.code === ErrorCode.QUERY_TIMEOUT || err.code === ErrorCode.TIMEOUT ? 'timeout' : 'error';
      message = `${err.code}: ${err.message}`;
    } finally {
      clock.clearTimeout(guard);
    }
    this.record(s, startMs, clock.now() - startMs, status, message, summary);
  }

  private record(s: CheckState, startMs: number, durationMs: number, status: Exclude<CheckStatus, 'pending'>, message: string, summary: string | null): void {
    const previous = s.row.status;
    const time = new Date(startMs).toISOString();
    Object.assign(s.row, { status, lastRun: time, durationMs, lastResult: summary, message, runs: s.row.runs + 1 });
    s.history.push({ family: s.spec.family, metric: s.spec.metric, time, status, durationMs, message });
    if (s.history.length > this.historyCap) s.history.shift();
    this.counts.runs++;
    const failing = (x: CheckStatus) => x === 'error' || x === 'timeout';
    const bind = { family: s.spec.family, metric: s.spec.metric, process: s.spec.process, status, durationMs };
    if (failing(status) && !failing(previous)) {
      this.counts.alerts++;
      this.o.logger.error({ ...bind, from: previous, message }, 'check failing');
      try {
        this.o.onFailing?.({ spec: s.spec, row: { ...s.row } });
      } catch (e) {
        this.o.logger.warn({ ...bind, err: (e as Error).message }, 'check alert could not be sent');
      }
    } else if (status === 'ok' && failing(previous)) {
      this.counts.recovered++;
      this.o.logger.info({ ...bind, from: previous }, 'check ok again');
    }
  }

  private notify(): void {
    for (const cb of this.listeners) {
      try {
        cb();
      } catch (e) {
        this.o.logger.warn({ err: (e as Error).message }, 'check listener failed');
      }
    }
  }
}
