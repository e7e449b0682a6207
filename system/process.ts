// One tickbus process driven from a script (PyKX's TICK, RTP, HDB, GATEWAY classes): start, stop
// (clean: flush, deregister), restart, kill (hard), named APIs and timers that survive a restart,
// libraries, process logs, and call(api, ...args). A process runs as a child OS process (`actors
// start <type>`, as `actors up` runs it: ops/cli/child_spec.ts under the supervisor) or inside
// this Node process (system/in_process.ts), for tests.
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { StdioOptions } from 'node:child_process';
import type { NatsConnection } from '@nats-io/nats-core';
import { systemClock, type Clock } from '../actors/common/clock.ts';
import { assertApiName, type ApiFn, type ProcessRuntime } from '../actors/common/runtime.ts';
import { userCodeLimits, type CodeRef, type UserCode } from '../actors/common/user_code.ts';
import { processType } from '../actors/registry.ts';
import { decode, encode } from '../bus/codec.ts';
import { connectBus } from '../bus/connection.ts';
import { CALL_TYPE } from '../bus/gateway_client.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from '../bus/errors.ts';
import { createLogger, silentLogger, type Logger } from '../bus/log.ts';
import { assertName, subjects } from '../bus/subjects.ts';
import { RestartPolicy } from '../ops/config.ts';
import { childSpec } from '../ops/cli/child_spec.ts';
import { Supervisor, SupState, supervisorSettings } from '../ops/cli/supervisor.ts';
import { startInProcess } from './in_process.ts';

/** Where a process's own output goes: the script's stdout/stderr (true), nowhere (false), or appended to a file. */
export type ProcessLogs = boolean | string;

/** A named API or timer body: a function, or a module export loaded in the process. */
export type ApiSpec = ApiFn | { module: string; export?: string };

export type Tables = Record<string, Record<string, string>>;

export interface ProcessOptions {
  /** The process name (procname); default the type's short name + 1 (tp1, rdb1, hdb1, gw1). */
  name?: string;
  /** The nats-server (or cluster, comma separated); a System sets it. */
  natsUrl?: string;
  /** The tables (name -> column -> type), as in ops/config.json. */
  tables?: Tables;
  /** The process type's settings (what `--set` gives `actors start`), e.g. {tp: 'tp1'}. */
  settings?: Record<string, unknown>;
  /** Named APIs given at construction (they survive restarts, like those registered later). */
  apis?: Record<string, ApiSpec>;
  /** alias -> module, imported in the process and in scope of every shipped function (PyKX `libraries`). */
  libraries?: Record<string, string>;
  /** Default true. false really silences the process (its stdio is /dev/null); a path appends to that file. */
  processLogs?: ProcessLogs;
  /** 'child' (default): an OS process of its own; 'inprocess': inside this Node process (tests). */
  mode?: 'child' | 'inprocess';
  /** Relative data paths (hdbDir) resolve here (TICKBUS_DATA); default ./data. */
  dataDir?: string;
  /** What happens when a child exits unasked (as in ops/process.csv); default never (PyKX's). */
  restartPolicy?: RestartPolicy;
  /** Bound on each step of a clean stop of a child (ctl stop, then SIGTERM) before SIGKILL; default 10000. */
  stopGraceMs?: number;
  /** Bound on the wait for the process to be ready after start; default 60000. */
  readyTimeoutMs?: number;
  /** Bound on each call(); default 30000. */
  callTimeoutMs?: number;
  /** In-process only: the clock the process runs on (tests inject one). */
  clock?: Clock;
}

/** Defaults of ProcessOptions (docs/api.md). */
export const processDefaults = { processLogs: true, mode: 'child', restartPolicy: RestartPolicy.never, stopGraceMs: 10_000, readyTimeoutMs: 60_000, callTimeoutMs: 30_000 } as const;

const SHORT: Record<string, string> = { tickerplant: 'tp', gateway: 'gw' };

function toRef(spec: ApiSpec, what: string): CodeRef {
  if (typeof spec === 'function') return { source: spec.toString() };
  if (spec && typeof spec === 'object' && typeof spec.module === 'string') return spec.export === undefined ? { module: spec.module } : { module: spec.module, export: spec.export };
  throw new TickbusError(ErrorCode.BAD_CONFIG, `${what}: give a function or {module, export}`, { what });
}

export class TickbusProcess {
  readonly name: string;
  /** Libraries (alias -> module) loaded in the process at its next start. */
  libraries: Record<string, string>;
  private readonly apis = new Map<string, { spec: ApiSpec; description: string }>();
  private readonly timers: Array<{ spec: ApiSpec; everyMs: number }> = [];
  private sup: Supervisor | undefined;
  private inproc: ProcessRuntime | undefined;
  /** The script's connection for call() and status (made on first use; concurrent first uses share it). */
  private nc: Promise<NatsConnection> | undefined;
  /** The same, once connected (the child spec's ready check reads it). */
  private ncNow: NatsConnection | undefined;
  private readonly logger: Logger;

  constructor(
    readonly proctype: string,
    private readonly o: ProcessOptions = {},
  ) {
    processType(proctype); // an unknown type is BAD_CONFIG now, not at start
    this.name = assertName('name', o.name ?? `${SHORT[proctype] ?? proctype}1`);
    this.libraries = { ...(o.libraries ?? {}) };
    for (const [n, spec] of Object.entries(o.apis ?? {})) this.registerApi(n, spec);
    // The script's side of the process (its supervisor, its connection) says only what goes wrong.
    this.logger = o.processLogs === false ? silentLogger : createLogger({ proctype: 'system', name: this.name }, process.env.LOG_LEVEL ?? 'warn');
  }

  /** The nats-server URL (a System sets it before starting its processes). */
  get natsUrl(): string {
    return this.o.natsUrl ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  }

  set natsUrl(url: string) {
    this.o.natsUrl = url;
  }

  get mode(): 'child' | 'inprocess' {
    return this.o.mode ?? processDefaults.mode;
  }

  get running(): boolean {
    return this.inproc !== undefined || (this.sup !== undefined && this.sup.record(this.name).state === SupState.running);
  }

  /**
   * Registers a named API (PyKX register_api), callable with call(name, ...args), through the
   * gateway, or as tickbus.v1.call on q.<type>.<name>. It is kept and given to every later start and
   * restart. In-process it is live at once; a running child gets it at its next start or restart.
   */
  registerApi(name: string, fn: ApiSpec, description = ''): this {
    assertApiName(name);
    toRef(fn, `API ${name}`);
    this.apis.set(name, { spec: fn, description });
    if (this.inproc && typeof fn === 'function') this.inproc.registerApi(name, fn, description);
    return this;
  }

  /** Runs fn in the process every everyMs once it is ready (from its next start); runs never overlap. */
  setTimer(everyMs: number, fn: ApiSpec): this {
    const { timerMinMs: lo, timerMaxMs: hi, timersMax } = userCodeLimits;
    if (!Number.isInteger(everyMs) || everyMs < lo || everyMs > hi) throw new TickbusError(ErrorCode.BAD_CONFIG, `timer: everyMs=${String(everyMs)} is not an integer in [${lo}, ${hi}]`, { everyMs, rule: `integer in [${lo}, ${hi}]` });
    if (this.timers.length >= timersMax) throw new TickbusError(ErrorCode.BAD_CONFIG, `at most ${timersMax} timers per process`, { timers: this.timers.length });
    toRef(fn, 'timer');
    this.timers.push({ spec: fn, everyMs });
    return this;
  }

  /** The user code as the process loads it (functions shipped as source for a child). */
  private userCode(forChild: boolean): UserCode {
    const apis: NonNullable<UserCode['apis']> = {};
    for (const [n, a] of this.apis) if (forChild || typeof a.spec !== 'function') apis[n] = { ...toRef(a.spec, `API ${n}`), description: a.description };
    return { libraries: this.libraries, apis, timers: this.timers.map((t) => ({ ...toRef(t.spec, 'timer'), everyMs: t.everyMs })), baseDir: process.cwd() };
  }

  private dataDir(): string {
    return resolve(this.o.dataDir ?? 'data');
  }

  /** Settings with data paths made absolute (the in-process mode cannot rely on TICKBUS_DATA). */
  private settings(): Record<string, unknown> {
    const s = { ...(this.o.settings ?? {}) };
    if (typeof s.hdbDir === 'string' && !isAbsolute(s.hdbDir)) s.hdbDir = resolve(this.dataDir(), s.hdbDir);
    return s;
  }

  private connection(): Promise<NatsConnection> {
    this.nc ??= connectBus({ servers: this.natsUrl.split(','), name: `system.${this.name}`, logger: this.logger }).then((nc) => (this.ncNow = nc));
    return this.nc;
  }

  /** Starts the process and resolves once it is ready (answers its status); already running: nothing. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.mode === 'inprocess') return await this.startInProcess();
    await this.connection();
    if (!this.sup) {
      const dataDir = this.dataDir();
      const cfgPath = join(dataDir, '.system', `${this.name}.config.json`);
      const spec = childSpec({ proctype: this.proctype, procname: this.name, startwithall: true, restartpolicy: this.o.restartPolicy ?? processDefaults.restartPolicy }, { url: this.natsUrl, cfgPath, dataDir, nc: () => this.ncNow!, sec: undefined, stdio: () => this.stdio() });
      // The config is written at each launch, so APIs and timers registered since go with it.
      const launch = spec.launch;
      spec.launch = () => (this.writeConfig(cfgPath), launch());
      this.sup = this.freshSupervisor(spec);
    }
    await this.sup.start(this.name);
    await this.untilStarted();
  }

  private freshSupervisor(spec: ReturnType<typeof childSpec>): Supervisor {
    const sup = new Supervisor({
      launcher: `system-${this.name}`,
      clock: systemClock,
      settings: supervisorSettings({ stopGraceMs: this.o.stopGraceMs ?? processDefaults.stopGraceMs }),
      logger: this.logger,
      onRecord: () => {},
      onAlert: () => {},
    });
    sup.add(spec);
    return sup;
  }

  private writeConfig(cfgPath: string): void {
    mkdirSync(dirname(cfgPath), { recursive: true });
    const cfg = { tables: this.o.tables ?? {}, defaults: {}, processes: { [this.name]: { ...this.settings(), userCode: this.userCode(true) } } };
    writeFileSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
  }

  /** The child's stdio for processLogs: inherited, /dev/null, or a file opened for append at each launch. */
  private stdio(): StdioOptions {
    const logs = this.o.processLogs ?? processDefaults.processLogs;
    if (logs === true) return ['ignore', 'inherit', 'inherit'];
    if (logs === false) return 'ignore';
    mkdirSync(dirname(resolve(logs)), { recursive: true });
    const fd = openSync(resolve(logs), 'a');
    // The child holds its own copy once spawned (spawn is synchronous).
    setImmediate(() => closeSync(fd));
    return ['ignore', fd, fd];
  }

  private async untilStarted(): Promise<void> {
    const bound = this.o.readyTimeoutMs ?? processDefaults.readyTimeoutMs;
    const deadline = Date.now() + bound;
    for (;;) {
      const r = this.sup!.record(this.name);
      if (r.state === SupState.running) return;
      if (r.state !== SupState.starting || Date.now() > deadline) {
        const why = r.state === SupState.starting ? `not ready within ${bound} ms` : `${r.state}${r.lastExit ? ` (exit ${r.lastExit.signal ?? r.lastExit.code})` : ''}`;
        // Not left starting, nor restarting in the background (a restartPolicy other than never).
        if (r.state === SupState.starting || r.state === SupState.backoff) await this.sup!.stop(this.name, { force: true });
        throw new TickbusError(ErrorCode.NOT_READY, `${this.proctype} ${this.name} did not start: ${why}`, { name: this.name, proctype: this.proctype, state: r.state });
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  private async startInProcess(): Promise<void> {
    const apis: Record<string, { fn: ApiFn; description: string }> = {};
    for (const [n, a] of this.apis) if (typeof a.spec === 'function') apis[n] = { fn: a.spec, description: a.description };
    const logs = this.o.processLogs ?? processDefaults.processLogs;
    const logger = logs === false ? silentLogger : createLogger({ proctype: this.proctype, name: this.name });
    const { runtime } = await startInProcess(this.natsUrl.split(','), this.proctype, this.name, this.settings(), {
      tables: this.o.tables ?? {},
      attributes: { tables: Object.keys(this.o.tables ?? {}) },
      userCode: this.userCode(false),
      apis,
      logger,
      readyTimeoutMs: this.o.readyTimeoutMs ?? processDefaults.readyTimeoutMs,
      ...(this.o.clock ? { clock: this.o.clock } : {}),
    });
    this.inproc = runtime;
  }

  /** Clean stop: the process flushes, deregisters and exits (bounded: ctl stop, SIGTERM, SIGKILL). */
  async stop(): Promise<void> {
    if (this.inproc) {
      const rt = this.inproc;
      this.inproc = undefined;
      await rt.stop();
    } else if (this.sup) await this.sup.stop(this.name, { force: true });
    await this.closeConnection();
  }

  /** Hard stop: SIGKILL for a child (no flush, no deregistration); in-process, the connection is cut. */
  async kill(): Promise<void> {
    if (this.inproc) {
      const rt = this.inproc;
      this.inproc = undefined;
      await rt.kill();
    } else if (this.sup) await this.sup.kill(this.name);
    await this.closeConnection();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private async closeConnection(): Promise<void> {
    const nc = this.nc;
    this.nc = this.ncNow = undefined;
    await (await nc?.catch(() => undefined))?.close().catch(() => {});
  }

  /** Calls a named API on this process (tickbus.v1.call on q.<type>.<name>); its error comes back as a TickbusError. */
  async call<T = unknown>(api: string, ...args: unknown[]): Promise<T> {
    const nc = await this.connection();
    const timeout = this.o.callTimeoutMs ?? processDefaults.callTimeoutMs;
    let m;
    try {
      m = await nc.request(subjects.query(this.proctype, this.name), encode({ type: CALL_TYPE, api, args }), { timeout });
    } catch (e) {
      const msg = (e as Error).message;
      const code = /no responders/i.test(msg) ? ErrorCode.NO_RESPONDERS : ErrorCode.TIMEOUT;
      throw new TickbusError(code, `${this.proctype} ${this.name}: call ${api}: ${msg}`, { name: this.name, api, timeoutMs: timeout }, { cause: e });
    }
    const v = decode<T>(m.data);
    if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
    return v;
  }

  /** The process's status body (ctl.<name>.status), or undefined when it does not answer within 2 s. */
  async status(): Promise<Record<string, unknown> | undefined> {
    const nc = await this.connection();
    try {
      const m = await nc.request(subjects.ctl(this.name, 'status'), '', { timeout: 2_000 });
      return (JSON.parse(new TextDecoder().decode(m.data)) as { status: Record<string, unknown> }).status;
    } catch {
      return undefined;
    }
  }
}

/** The tickerplant (PyKX TICK). */
export class Tickerplant extends TickbusProcess {
  constructor(o: ProcessOptions = {}) {
    super('tickerplant', o);
  }
}

/** The real-time database (PyKX RTP in its RDB role): settings.tp names its tickerplant (default tp1). */
export class Rdb extends TickbusProcess {
  constructor(o: ProcessOptions = {}) {
    super('rdb', { ...o, settings: { tp: 'tp1', hdbDir: 'hdb', ...o.settings } });
  }
}

/** The historical database over the Parquet HDB (PyKX HDB): settings.hdbDir (default <dataDir>/hdb). */
export class Hdb extends TickbusProcess {
  constructor(o: ProcessOptions = {}) {
    super('hdb', { ...o, settings: { hdbDir: 'hdb', ...o.settings } });
  }
}

/** The gateway (PyKX GATEWAY). */
export class Gateway extends TickbusProcess {
  constructor(o: ProcessOptions = {}) {
    super('gateway', o);
  }
}
