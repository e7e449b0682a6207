// The monitor's page data: everything the page shows, gathered from the bus into bounded
// structures (actors/monitor/state.ts) and served as one snapshot. Sources: the registry with
// heartbeat health (Discovery), warn/error log lines (`log.>`), alerts (`alert.>`), the
// supervisor's KV bucket `sup` (watched once it exists; absent is normal), the tickerplants'
// heartbeats (their status carries the day's row count per table: rows/s from successive beats)
// and the consumer info of every log stream `TICK_<tp>` (subscriber lag, polled). Incoming
// payloads are untrusted: checked for shape, strings cut, so a bad publisher cannot grow memory.
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { Logger } from '../../bus/log.ts';
import { LOG_TYPE } from '../../bus/log_forward.ts';
import { logLag, type LagRow } from '../../bus/consumer_lag.ts';
import { manager, isNotFound } from '../../bus/streams.ts';
import { kv, parseHeartbeatSubject, subjects } from '../../bus/subjects.ts';
import type { Discovery, ProcessView } from '../common/discovery.ts';
import type { CheckRow } from './checks.ts';
import type { MonitorSettings } from './settings.ts';
import { MinuteCounts, RateTracker, Ring, type RateRow } from './state.ts';
import { ALERT_TYPE } from '../../bus/alerts.ts';

export { ALERT_TYPE } from '../../bus/alerts.ts';
export const SUP_TYPE = 'tickbus.v1.sup' as const;
export const PAGE_TYPE = 'tickbus.v1.monitor.page' as const;

/** Log lines and alerts shown on the page (the rings keep more, for the API). */
export const PAGE_LINES = 30;
const STR_MAX = 500;

/** A check-monitor row (actors/monitor/checks.ts); the page shows them when checks run. */
export type { CheckRow };

/** A source of check rows (the check monitor, `Checks`): the rows now, and a way to hear that they changed. */
export interface ChecksProvider {
  rows(): CheckRow[];
  onChange(fn: () => void): () => void;
}

export interface PageLog {
  at: string;
  level: 'warn' | 'error';
  proctype: string;
  name: string;
  msg: string;
  fields?: Record<string, unknown>;
}

export interface PageAlert {
  at: string;
  level: 'warning' | 'error';
  source: { proctype: string; name: string };
  kind: string;
  subject?: string;
  message: string;
}

export interface SupState {
  procname: string;
  proctype: string;
  state: string;
  restarts: number;
  pid?: number;
  startedAt?: string;
  lastExit?: { code: number | null; signal: string | null; at: string };
  nextStartAt?: string;
}

export interface ProcRow {
  name: string;
  proctype: string;
  host: string;
  pid: number | null;
  /** Heartbeat health; a supervised process that is not registered shows its supervisor state. */
  state: 'ok' | 'warning' | 'error';
  registered: boolean;
  lastSeen: string | null;
  ageMs: number;
  heartbeatMs: number;
  startedAt: string | null;
  attributes: string;
  sup?: SupState;
}

export type { LagRow };

export interface PageSnapshot {
  type: typeof PAGE_TYPE;
  now: string;
  monitor: string;
  health: { warnAfterBeats: number; errorAfterBeats: number };
  processes: ProcRow[];
  logs: PageLog[];
  alerts: PageAlert[];
  errorMinutes: Array<[number, number, number]>;
  lag: LagRow[];
  lagAt: string | null;
  rates: RateRow[];
  rateSeries: Record<string, Array<[number, number]>>;
  checks?: CheckRow[];
  dropped: { logLines: number; badMessages: number };
}

function str(v: unknown, max = STR_MAX): string {
  const s = typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function parse(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function boundedFields(v: unknown): Record<string, unknown> | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v).slice(0, 8)) out[str(k, 64)] = typeof x === 'number' || typeof x === 'boolean' ? x : str(typeof x === 'string' ? x : JSON.stringify(x), 200);
  return out;
}

export class PageData {
  readonly logs: Ring<PageLog>;
  readonly alerts: Ring<PageAlert>;
  readonly errors: MinuteCounts;
  readonly rates: RateTracker;
  private readonly sup = new Map<string, SupState>();
  private lag: LagRow[] = [];
  private lagAt: string | null = null;
  private readonly dropped = { logLines: 0, badMessages: 0 };
  private subs: Subscription[] = [];
  private supWatch: QueuedIterator<KvWatchEntry> | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];
  private closed = false;
  private readonly listeners = new Set<() => void>();
  /** Log-line token bucket (logLinesPerSecMax). */
  private tokens: number;
  private refilledMs = Date.now();
  private checks: ChecksProvider | undefined;
  private unCheck: (() => void) | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly d: Discovery,
    private readonly s: MonitorSettings,
    private readonly logger: Logger,
  ) {
    this.logs = new Ring(s.logLinesMax);
    this.alerts = new Ring(s.alertsMax);
    this.errors = new MinuteCounts(s.errorMinutesMax);
    this.rates = new RateTracker(s.rateSamplesMax);
    this.tokens = s.logLinesPerSecMax;
  }

  /** Calls fn whenever something shown changed (the HTTP layer coalesces pushes). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Sets (or clears) the check monitor's rows (see ChecksProvider). */
  setChecks(p: ChecksProvider | undefined): void {
    this.unCheck?.();
    this.checks = p;
    this.unCheck = p?.onChange(() => this.changed());
    this.changed();
  }

  start(): void {
    this.subs = [
      this.nc.subscribe(subjects.logAll, { callback: (_e, m) => this.onLog(m.data) }),
      this.nc.subscribe(subjects.alertAll, { callback: (_e, m) => this.onAlert(m.data) }),
      this.nc.subscribe(subjects.heartbeat('tickerplant', '*'), { callback: (_e, m) => this.onTpBeat(m.subject, m.data) }),
    ];
    this.d.on(() => this.changed());
    void this.openSup();
    void this.pollLag();
    const t1 = setInterval(() => void this.pollLag(), this.s.lagPollMs);
    const t2 = setInterval(() => void (this.supWatch ? undefined : this.openSup()), Math.max(1_000, this.s.lagPollMs));
    for (const t of [t1, t2]) t.unref();
    this.timers = [t1, t2];
  }

  private takeToken(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.s.logLinesPerSecMax, this.tokens + ((now - this.refilledMs) / 1_000) * this.s.logLinesPerSecMax);
    this.refilledMs = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** A warn/error log line from any process (exported for tests that have no bus). */
  onLog(data: Uint8Array): void {
    if (!this.takeToken()) return void this.dropped.logLines++;
    const v = parse(data);
    if (!v || v.type !== LOG_TYPE || (v.level !== 'warn' && v.level !== 'error')) return void this.dropped.badMessages++;
    const line: PageLog = { at: str(v.at, 40), level: v.level, proctype: str(v.proctype, 64), name: str(v.name, 64), msg: str(v.msg) };
    const fields = boundedFields(v.fields);
    if (fields) line.fields = fields;
    if (typeof v.dropped === 'number' && v.dropped > 0) line.fields = { ...line.fields, dropped: v.dropped };
    this.logs.push(line);
    // Counted when heard (the monitor's clock), so a skewed process clock cannot move a bin.
    this.errors.add(Date.now(), line.level, Date.now());
    this.changed();
  }

  onAlert(data: Uint8Array): void {
    const v = parse(data);
    if (!v || v.type !== ALERT_TYPE || (v.level !== 'warning' && v.level !== 'error')) return void this.dropped.badMessages++;
    const src = (typeof v.source === 'object' && v.source !== null ? v.source : {}) as Record<string, unknown>;
    const a: PageAlert = { at: str(v.at, 40), level: v.level, source: { proctype: str(src.proctype, 64), name: str(src.name, 64) }, kind: str(v.kind, 64), message: str(v.message) };
    if (typeof v.subject === 'string') a.subject = str(v.subject, 200);
    this.alerts.push(a);
    this.changed();
  }

  private onTpBeat(subject: string, data: Uint8Array): void {
    const p = parseHeartbeatSubject(subject);
    const v = parse(data);
    const counts = (v?.status as { counts?: unknown } | undefined)?.counts;
    if (!p || typeof counts !== 'object' || counts === null) return;
    this.rates.sample(p.name, counts as Record<string, unknown>, Date.now());
    this.changed();
  }

  private async openSup(): Promise<void> {
    if (this.closed || this.supWatch) return;
    try {
      await (await manager(this.nc)).streams.info(`KV_${kv.supervisorBucket}`);
    } catch (e) {
      if (!isNotFound(e)) this.logger.warn({ err: (e as Error).message }, 'monitor: cannot look for the supervisor bucket');
      return; // no supervisor (a process started alone): tried again every poll
    }
    try {
      const bucket: KV = await new Kvm(this.nc).open(kv.supervisorBucket);
      const w = await bucket.watch({ key: '>' });
      if (this.closed) return void w.stop();
      this.supWatch = w;
      void (async () => {
        for await (const e of w) this.onSup(e);
      })()
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'monitor: supervisor watch ended'))
        .finally(() => (this.supWatch = undefined));
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'monitor: cannot watch the supervisor bucket');
    }
  }

  private onSup(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      this.sup.delete(e.key);
      return this.changed();
    }
    let v: Record<string, unknown> | undefined;
    try {
      v = JSON.parse(e.string()) as Record<string, unknown>;
    } catch {
      v = undefined;
    }
    if (!v || v.type !== SUP_TYPE) return void this.dropped.badMessages++;
    if (!this.sup.has(e.key) && this.sup.size >= this.s.processesMax) return;
    const exit = v.lastExit as Record<string, unknown> | undefined;
    const st: SupState = { procname: str(v.procname ?? e.key, 64), proctype: str(v.proctype, 64), state: str(v.state, 32), restarts: Number(v.restarts) || 0 };
    if (typeof v.pid === 'number') st.pid = v.pid;
    if (typeof v.startedAt === 'string') st.startedAt = str(v.startedAt, 40);
    if (typeof v.nextStartAt === 'string') st.nextStartAt = str(v.nextStartAt, 40);
    if (exit && typeof exit === 'object') st.lastExit = { code: typeof exit.code === 'number' ? exit.code : null, signal: typeof exit.signal === 'string' ? str(exit.signal, 16) : null, at: str(exit.at, 40) };
    this.sup.set(e.key, st);
    this.changed();
  }

  /** Reads the consumer info of every log stream: messages (and estimated bytes) behind per consumer. */
  private async pollLag(): Promise<void> {
    if (this.closed) return;
    try {
      this.lag = await logLag(await manager(this.nc), { consumersPerStreamMax: this.s.consumersPerStreamMax });
      this.lagAt = new Date().toISOString();
      this.changed();
    } catch (e) {
      if (!this.closed) this.logger.warn({ err: (e as Error).message }, 'monitor: reading subscriber lag failed');
    }
  }

  private procRows(nowMs: number, wallNowMs: number): ProcRow[] {
    const rows: ProcRow[] = [];
    const byName = new Map<string, SupState>([...this.sup.values()].map((x) => [x.procname, x]));
    const seen = new Set<string>();
    for (const p of this.d.list().slice(0, this.s.processesMax)) rows.push(this.procRow(p, nowMs, wallNowMs, byName.get(p.name), seen));
    // Supervised processes that are not registered (starting, backing off, failed, stopped).
    for (const sp of byName.values()) {
      if (seen.has(sp.procname) || rows.length >= this.s.processesMax) continue;
      rows.push({
        name: sp.procname,
        proctype: sp.proctype,
        host: '',
        pid: sp.pid ?? null,
        // The embedded nats-server never registers or beats: the supervisor's "running" is its health.
        state: sp.state === 'running' && sp.proctype === 'nats-server' ? 'ok' : sp.state === 'running' || sp.state === 'starting' || sp.state === 'stopped' ? 'warning' : 'error',
        registered: false,
        lastSeen: null,
        ageMs: 0,
        heartbeatMs: 0,
        startedAt: sp.startedAt ?? null,
        attributes: '',
        sup: sp,
      });
    }
    return rows;
  }

  private procRow(p: ProcessView, nowMs: number, wallNowMs: number, sup: SupState | undefined, seen: Set<string>): ProcRow {
    seen.add(p.name);
    const since = p.lastBeatMs ?? p.seenAtMs;
    const row: ProcRow = {
      name: p.name,
      proctype: p.proctype,
      host: str(p.host, 128),
      pid: p.pid ?? null,
      state: p.health,
      registered: true,
      lastSeen: p.lastBeatMs === undefined ? null : new Date(wallNowMs - (nowMs - p.lastBeatMs)).toISOString(),
      ageMs: nowMs - since,
      heartbeatMs: p.heartbeatMs ?? 1_000,
      startedAt: p.startedAt ?? null,
      attributes: str(JSON.stringify(p.attributes ?? {}), 300),
    };
    if (sup) row.sup = sup;
    return row;
  }

  snapshot(nowMs = Date.now(), wallNowMs = Date.now()): PageSnapshot {
    const snap: PageSnapshot = {
      type: PAGE_TYPE,
      now: new Date(wallNowMs).toISOString(),
      monitor: this.s.name,
      health: { warnAfterBeats: this.s.warnAfterBeats, errorAfterBeats: this.s.errorAfterBeats },
      processes: this.procRows(nowMs, wallNowMs),
      logs: this.logs.last(PAGE_LINES),
      alerts: this.alerts.last(PAGE_LINES),
      errorMinutes: this.errors.minutes(wallNowMs),
      lag: this.lag,
      lagAt: this.lagAt,
      rates: this.rates.table(),
      rateSeries: this.rates.chart(),
      dropped: { ...this.dropped },
    };
    if (this.checks) {
      try {
        snap.checks = this.checks.rows().slice(0, this.s.processesMax);
      } catch (e) {
        this.logger.warn({ err: (e as Error).message }, 'monitor: the checks provider failed');
      }
    }
    return snap;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    this.supWatch?.stop();
    this.unCheck?.();
    this.listeners.clear();
  }
}
