// The supervisor behind `actors up`: it starts each process of the table, restarts one that exits
// (by its restart policy, after an exponential backoff), marks a process that crash-loops `failed`
// and leaves the others running; `start`, `stop` and `restart` bring one process up or down on
// request. Decisions are a pure function (decideExit); the class holds the per-process state and
// does its I/O only through what it is given (launch, ready, a Clock, record and alert sinks), so
// unit tests drive it with a simulated clock and fake children.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Clock } from '../../actors/common/clock.ts';
import { RestartPolicy } from '../config.ts';
import { ALERT_TYPE } from '../../bus/alerts.ts';

export interface SupervisorSettings {
  /** First restart delay; each further restart in a row doubles it. */
  backoffInitialMs: number;
  /** Cap on the restart delay. */
  backoffMaxMs: number;
  /** A process that ran this long before exiting starts again at backoffInitialMs. */
  stableAfterMs: number;
  /** More exits than this within crashLoopWindowMs is a crash loop: the process is marked failed. */
  crashLoopRestarts: number;
  crashLoopWindowMs: number;
  /** Bound on each stop step (ctl.<name>.stop, then SIGTERM) before the next; SIGKILL is last. */
  stopGraceMs: number;
}

export const defaultSupervisorSettings: SupervisorSettings = {
  backoffInitialMs: 500,
  backoffMaxMs: 30_000,
  stableAfterMs: 60_000,
  crashLoopRestarts: 5,
  crashLoopWindowMs: 60_000,
  stopGraceMs: 10_000,
};

/** Bounds of each setting (a value outside is a BAD_CONFIG). */
const bounds: Record<keyof SupervisorSettings, [number, number]> = {
  backoffInitialMs: [10, 60_000],
  backoffMaxMs: [10, 600_000],
  stableAfterMs: [100, 3_600_000],
  crashLoopRestarts: [1, 1_000],
  crashLoopWindowMs: [100, 3_600_000],
  stopGraceMs: [100, 300_000],
};

export function supervisorSettings(given: Partial<Record<keyof SupervisorSettings, unknown>>): SupervisorSettings {
  const s = { ...defaultSupervisorSettings };
  for (const [k, v] of Object.entries(given) as Array<[keyof SupervisorSettings, unknown]>) {
    if (v === undefined) continue;
    const n = Number(v);
    const [lo, hi] = bounds[k];
    if (!Number.isInteger(n) || n < lo || n > hi) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `supervisor setting ${k}=${String(v)} is not an integer in [${lo}, ${hi}]`, { setting: k, value: v, rule: `integer in [${lo}, ${hi}]` });
    }
    s[k] = n;
  }
  if (s.backoffMaxMs < s.backoffInitialMs) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `supervisor setting backoffMaxMs=${s.backoffMaxMs} is below backoffInitialMs=${s.backoffInitialMs}`, { setting: 'backoffMaxMs', rule: 'backoffMaxMs >= backoffInitialMs' });
  }
  return s;
}

export const SupState = {
  starting: 'starting',
  running: 'running',
  backoff: 'backoff',
  failed: 'failed',
  stopped: 'stopped',
} as const;
export type SupState = (typeof SupState)[keyof typeof SupState];

export const SUP_TYPE = 'tickbus.v1.sup' as const;
export { ALERT_TYPE } from '../../bus/alerts.ts';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** One process's supervision state: the value of key <procname> in KV bucket `sup`. */
export interface SupRecord {
  type: typeof SUP_TYPE;
  launcher: string;
  procname: string;
  proctype: string;
  policy: RestartPolicy;
  state: SupState;
  pid?: number;
  /** Restarts the supervisor made (not counting starts asked for by start/restart). */
  restarts: number;
  /** When the current (or last) run was launched, ISO. */
  startedAt?: string;
  lastExit?: ExitInfo & { at: string };
  /** In backoff: when the next start is due, ISO. */
  nextStartAt?: string;
  /** Why the process is failed or stopped, for people. */
  message?: string;
}

export interface Alert {
  type: typeof ALERT_TYPE;
  at: string;
  level: 'warning' | 'error';
  source: { proctype: string; name: string };
  kind: 'restart' | 'crash-loop' | 'exit';
  subject: string;
  message: string;
  details: Record<string, unknown>;
}

/** The exits of one process the backoff and the crash-loop check look at. */
export interface ExitHistory {
  /** Clock ms of recent exits that counted towards restarts (within the crash-loop window). */
  exitsAtMs: number[];
  /** Restarts in a row without a stable run: the backoff exponent. */
  streak: number;
}

export type ExitDecision =
  | { kind: 'restart'; delayMs: number; history: ExitHistory }
  | { kind: 'failed'; reason: string; crashLoop: boolean; history: ExitHistory }
  | { kind: 'stopped'; reason: string; history: ExitHistory };

const failedExit = (e: ExitInfo) => e.signal !== null || (e.code ?? 1) !== 0;
export const exitText = (e: ExitInfo) => (e.signal ? `signal ${e.signal}` : `code ${e.code}`);

/** What to do after an exit the supervisor did not ask for. Pure: the caller keeps the history. */
export function decideExit(policy: RestartPolicy, exit: ExitInfo, ranMs: number, history: ExitHistory, nowMs: number, s: SupervisorSettings): ExitDecision {
  const failed = failedExit(exit);
  if (policy === RestartPolicy.never || (policy === RestartPolicy.onFailure && !failed)) {
    return failed
      ? { kind: 'failed', reason: `exited with ${exitText(exit)}; policy ${policy}`, crashLoop: false, history }
      : { kind: 'stopped', reason: `exited with ${exitText(exit)}; policy ${policy}`, history };
  }
  const exitsAtMs = [...history.exitsAtMs.filter((t) => nowMs - t < s.crashLoopWindowMs), nowMs];
  const streak = ranMs >= s.stableAfterMs ? 0 : history.streak;
  if (exitsAtMs.length > s.crashLoopRestarts) {
    return { kind: 'failed', reason: `crash loop: ${exitsAtMs.length} exits within ${s.crashLoopWindowMs} ms (last ${exitText(exit)})`, crashLoop: true, history: { exitsAtMs, streak } };
  }
  const delayMs = Math.min(s.backoffMaxMs, s.backoffInitialMs * 2 ** Math.min(streak, 30));
  return { kind: 'restart', delayMs, history: { exitsAtMs, streak: streak + 1 } };
}

/** A launched process as the supervisor sees it. */
export interface Launched {
  pid?: number;
  /** Resolves once, when the process has exited. */
  exited: Promise<ExitInfo>;
  kill(signal: NodeJS.Signals): void;
}

export interface ChildSpec {
  procname: string;
  proctype: string;
  policy: RestartPolicy;
  /** Starts the process; a rejection counts as an exit with code 1. */
  launch(): Promise<Launched> | Launched;
  /** Resolves true when the process answers (bounded by the implementation), false if it never did. */
  ready(l: Launched): Promise<boolean>;
  /** Why a stop request is refused (the embedded nats-server: stopping it would cut the launcher off); stop({force}) still stops it. */
  refuseStop?: string;
  /** Asks the process to stop cleanly (ctl.<name>.stop); true when it agreed. Bounded by the implementation. */
  askStop?(): Promise<boolean>;
}

export interface SupervisorDeps {
  launcher: string;
  clock: Clock;
  settings: SupervisorSettings;
  logger: Logger;
  onRecord(r: SupRecord): void;
  onAlert(a: Alert): void;
}

interface Child {
  spec: ChildSpec;
  record: SupRecord;
  history: ExitHistory;
  current?: Launched;
  startedAtMs: number;
  timer?: unknown;
  /** Set while a launch is in progress (a stop waits for it, so it has a process to stop). */
  launching?: Promise<void>;
  /** Set while a stop asked for is in progress: the exit is not a crash. */
  stopping?: Promise<void>;
}

export class Supervisor {
  private readonly children = new Map<string, Child>();
  private closed = false;

  constructor(private readonly d: SupervisorDeps) {}

  /** Adds a process (stopped until start()). */
  add(spec: ChildSpec): void {
    if (this.children.has(spec.procname)) throw new TickbusError(ErrorCode.BAD_CONFIG, `process ${spec.procname} is supervised twice`, { procname: spec.procname });
    const record: SupRecord = { type: SUP_TYPE, launcher: this.d.launcher, procname: spec.procname, proctype: spec.proctype, policy: spec.policy, state: SupState.stopped, restarts: 0 };
    this.children.set(spec.procname, { spec, record, history: { exitsAtMs: [], streak: 0 }, startedAtMs: 0 });
    this.d.onRecord({ ...record });
  }

  names(): string[] {
    return [...this.children.keys()];
  }

  record(name: string): SupRecord {
    return { ...this.child(name).record };
  }

  records(): SupRecord[] {
    return [...this.children.values()].map((c) => ({ ...c.record }));
  }

  private child(name: string): Child {
    const c = this.children.get(name);
    if (!c) throw new TickbusError(ErrorCode.BAD_QUERY, `no process ${JSON.stringify(name)} under launcher ${this.d.launcher} (it runs ${this.names().join(', ')})`, { name, known: this.names() });
    return c;
  }

  private emit(c: Child, patch: Partial<SupRecord>): void {
    const r: SupRecord = { ...c.record, ...patch };
    for (const k of Object.keys(patch) as Array<keyof SupRecord>) if (patch[k] === undefined) delete r[k];
    c.record = r;
    this.d.onRecord({ ...r });
  }

  private iso(ms = this.d.clock.now()): string {
    return new Date(ms).toISOString();
  }

  private alert(c: Child, level: Alert['level'], kind: Alert['kind'], message: string, details: Record<string, unknown>): void {
    const a: Alert = { type: ALERT_TYPE, at: this.iso(), level, source: { proctype: 'launcher', name: this.d.launcher }, kind, subject: c.spec.procname, message, details };
    this.d.logger[level === 'error' ? 'error' : 'warn']({ proc: c.spec.procname, kind, ...details }, message);
    this.d.onAlert(a);
  }

  /**
   * Starts a process that is stopped or failed (its crash history forgotten), or at once one in
   * backoff; a process starting or running is left as it is. Resolves when it is launched.
   */
  async start(name: string): Promise<SupRecord> {
    const c = this.child(name);
    if (c.stopping) await c.stopping;
    if (c.record.state === SupState.running || c.record.state === SupState.starting) return this.record(name);
    if (c.record.state !== SupState.backoff) c.history = { exitsAtMs: [], streak: 0 };
    await this.launch(c);
    return this.record(name);
  }

  private launch(c: Child): Promise<void> {
    c.launching ??= this.launchOnce(c).finally(() => (c.launching = undefined));
    return c.launching;
  }

  private async launchOnce(c: Child): Promise<void> {
    if (this.closed) return;
    if (c.timer !== undefined) this.d.clock.clearTimeout(c.timer);
    c.timer = undefined;
    c.startedAtMs = this.d.clock.now();
    this.emit(c, { state: SupState.starting, startedAt: this.iso(c.startedAtMs), nextStartAt: undefined, pid: undefined, message: undefined });
    let l: Launched;
    try {
      l = await c.spec.launch();
    } catch (e) {
      this.d.logger.error({ proc: c.spec.procname, err: (e as Error).message }, 'cannot launch');
      l = { exited: Promise.resolve({ code: 1, signal: null }), kill: () => {} };
    }
    c.current = l;
    this.emit(c, { pid: l.pid });
    void l.exited.then((e) => this.onExit(c, l, e));
    void c.spec.ready(l).then((ok) => {
      if (c.current !== l || c.record.state !== SupState.starting) return;
      if (ok) this.emit(c, { state: SupState.running });
      else {
        this.emit(c, { message: 'launched but not answering ctl status' });
        this.d.logger.warn({ proc: c.spec.procname }, 'launched but not answering ctl status');
      }
    });
  }

  private onExit(c: Child, l: Launched, e: ExitInfo): void {
    if (c.current !== l) return;
    c.current = undefined;
    const now = this.d.clock.now();
    const lastExit = { code: e.code, signal: e.signal, at: this.iso(now) };
    if (c.stopping || this.closed) {
      this.emit(c, { state: SupState.stopped, pid: undefined, lastExit, message: 'stopped on request' });
      return;
    }
    const d = decideExit(c.spec.policy, e, now - c.startedAtMs, c.history, now, this.d.settings);
    c.history = d.history;
    const details = { procname: c.spec.procname, proctype: c.spec.proctype, pid: l.pid, exit: e, ranMs: now - c.startedAtMs, restarts: c.record.restarts };
    if (d.kind === 'restart') {
      const at = now + d.delayMs;
      this.emit(c, { state: SupState.backoff, pid: undefined, lastExit, restarts: c.record.restarts + 1, nextStartAt: this.iso(at) });
      this.alert(c, 'warning', 'restart', `${c.spec.procname} exited with ${exitText(e)}; restarting in ${d.delayMs} ms`, { ...details, delayMs: d.delayMs });
      c.timer = this.d.clock.setTimeout(() => void this.launch(c), d.delayMs);
    } else if (d.kind === 'failed') {
      this.emit(c, { state: SupState.failed, pid: undefined, lastExit, message: d.reason });
      this.alert(c, 'error', d.crashLoop ? 'crash-loop' : 'exit', `${c.spec.procname} failed: ${d.reason}; the others keep running (actors start ${c.spec.procname} brings it back)`, { ...details, reason: d.reason });
    } else {
      this.emit(c, { state: SupState.stopped, pid: undefined, lastExit, message: d.reason });
      this.d.logger.info({ proc: c.spec.procname, exit: e }, d.reason);
    }
  }

  /**
   * Stops a process and keeps it stopped whatever its policy: ctl.<name>.stop (if given), then
   * SIGTERM, then SIGKILL, each after stopGraceMs. A process in backoff or failed just becomes
   * stopped. Resolves when it has exited.
   */
  async stop(name: string, opts: { force?: boolean } = {}): Promise<SupRecord> {
    const c = this.child(name);
    if (c.spec.refuseStop && !opts.force) throw new TickbusError(ErrorCode.BAD_QUERY, `${name} cannot be stopped on request: ${c.spec.refuseStop}`, { name });
    c.stopping ??= this.stopOnce(c).finally(() => (c.stopping = undefined));
    await c.stopping;
    return this.record(name);
  }

  private async stopOnce(c: Child): Promise<void> {
    if (c.launching) await c.launching;
    if (c.timer !== undefined) this.d.clock.clearTimeout(c.timer);
    c.timer = undefined;
    const l = c.current;
    if (!l) {
      if (c.record.state !== SupState.stopped) this.emit(c, { state: SupState.stopped, nextStartAt: undefined, message: 'stopped on request' });
      return;
    }
    const g = this.d.settings.stopGraceMs;
    const exitedWithin = (ms: number) =>
      new Promise<boolean>((resolve) => {
        const t = this.d.clock.setTimeout(() => resolve(false), ms);
        void l.exited.then(() => (this.d.clock.clearTimeout(t), resolve(true)));
      });
    // A process that does not answer ctl stop (still starting, or hung) goes straight to SIGTERM.
    if (c.spec.askStop && (await c.spec.askStop().catch(() => false))) {
      if (await exitedWithin(g)) return await this.settled(l);
      this.d.logger.warn({ proc: c.spec.procname, waitedMs: g }, 'no exit after ctl stop; SIGTERM');
    }
    l.kill('SIGTERM');
    if (await exitedWithin(g)) return await this.settled(l);
    this.d.logger.warn({ proc: c.spec.procname, waitedMs: g }, 'no exit after SIGTERM; SIGKILL');
    l.kill('SIGKILL');
    await this.settled(l);
  }

  /** Waits for the exit and for onExit to have recorded it (it runs in the exit's own then). */
  private async settled(l: Launched): Promise<void> {
    await l.exited;
    await Promise.resolve();
  }

  /**
   * Kills a process at once (SIGKILL: no clean stop, no flush) and keeps it stopped whatever its
   * policy; a stop in progress is cut short. Resolves when it has exited.
   */
  async kill(name: string): Promise<SupRecord> {
    const c = this.child(name);
    if (c.launching) await c.launching;
    if (c.timer !== undefined) this.d.clock.clearTimeout(c.timer);
    c.timer = undefined;
    const l = c.current;
    if (!l) {
      if (c.record.state !== SupState.stopped) this.emit(c, { state: SupState.stopped, nextStartAt: undefined, message: 'killed on request' });
      return this.record(name);
    }
    const killed = this.settled(l);
    c.stopping ??= killed.finally(() => (c.stopping = undefined));
    l.kill('SIGKILL');
    await killed;
    return this.record(name);
  }

  async restart(name: string): Promise<SupRecord> {
    await this.stop(name, { force: true });
    const c = this.child(name);
    c.history = { exitsAtMs: [], streak: 0 };
    await this.launch(c);
    return this.record(name);
  }

  /** Stops every process in reverse order of addition; no restart happens after this. */
  /** From now on nothing is launched or restarted (the launcher is stopping); stop() still works. */
  close(): void {
    this.closed = true;
  }

  async stopAll(): Promise<void> {
    this.close();
    for (const name of [...this.children.keys()].reverse()) await this.stop(name, { force: true });
  }
}
