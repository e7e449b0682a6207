// Discovery: the KV bucket `proc` is the registry (TorQ's discovery service and .servers.SERVERS
// in one). Every process writes its entry there (actors/common/runtime.ts); this library reads it
// with a KV watch, so a watcher finds processes by type and attributes and is told when one of a
// type it watches registers, changes its attributes or goes away, with no discovery process to
// run or to lose. It also hears the heartbeats (`hb.<type>.<name>`) and classifies each process as
// ok, warning (more than warnAfterBeats periods without a beat) or error (more than
// errorAfterBeats): health is computed by whoever watches, from what it hears, not stored.
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { kv, parseHeartbeatSubject, subjects } from '../../bus/subjects.ts';
import { systemClock, type Clock } from './clock.ts';
import type { ProcessInfo } from './runtime.ts';

export const HealthState = {
  ok: 'ok',
  warning: 'warning',
  error: 'error',
} as const;
export type HealthState = (typeof HealthState)[keyof typeof HealthState];

export interface HealthSettings {
  /** A process more than this many heartbeat periods without a beat is in warning (TorQ warningtolerance). */
  warnAfterBeats: number;
  /** ... and in error beyond this many (TorQ errortolerance); the gateway stops using it. */
  errorAfterBeats: number;
}

export const defaultHealthSettings: HealthSettings = { warnAfterBeats: 2, errorAfterBeats: 3 };

/** Heartbeat period assumed for an entry that does not state one (the runtime's default). */
export const DEFAULT_HEARTBEAT_MS = 1_000;

/**
 * The health of a process from the time of its last beat (or, before any beat, the time this
 * watcher first saw it: a fresh registration gets the same grace as a beat).
 */
export function healthOf(sinceMs: number, nowMs: number, heartbeatMs: number, s: HealthSettings = defaultHealthSettings): HealthState {
  const missed = (nowMs - sinceMs) / Math.max(1, heartbeatMs);
  if (missed > s.errorAfterBeats) return HealthState.error;
  if (missed > s.warnAfterBeats) return HealthState.warning;
  return HealthState.ok;
}

/** One registered process as a watcher sees it. */
export interface ProcessView extends ProcessInfo {
  /** Registry key `<type>.<name>`. */
  key: string;
  /** KV revision of the entry. */
  revision: number;
  /** When this watcher first saw this registration (clock ms). */
  seenAtMs: number;
  /** When this watcher last heard a heartbeat from it (clock ms). */
  lastBeatMs?: number;
  /** The process's heartbeat counter at its last beat (TorQ's counter). */
  beats: number;
  health: HealthState;
}

export type DiscoveryEvent =
  | { type: 'proc.up'; proc: ProcessView }
  | { type: 'proc.changed'; proc: ProcessView; previous: ProcessView }
  | { type: 'proc.down'; proc: ProcessView }
  | { type: 'proc.health'; proc: ProcessView; previous: HealthState };

/** An attribute filter: every listed value of every key must be held (see `holds`). */
export type AttributeFilter = Record<string, unknown>;

export interface DiscoveryOptions {
  /** Watch only these process types; all when omitted. */
  types?: readonly string[];
  health?: Partial<HealthSettings>;
  clock?: Clock;
  /** How often health transitions are evaluated. */
  checkEveryMs?: number;
  /** Replicas of the registry bucket if this watcher has to create it (3 on a cluster). */
  replicas?: number;
  /** Bound on the initial load of the registry. */
  openTimeoutMs?: number;
  logger?: Logger;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'string' && String(a) === b) || (typeof a === 'string' && typeof b === 'number' && a === String(b));
}

/**
 * Whether attributes hold value `v` of key `k`: the attribute equals it, or is a list holding it,
 * or is a map with it as a key (the HDB reports `tables: {trade: {...}}`).
 */
export function holds(attributes: Record<string, unknown>, k: string, v: unknown): boolean {
  const a = attributes[k];
  if (a === undefined || a === null) return false;
  if (Array.isArray(a)) return a.some((x) => sameValue(x, v));
  if (typeof a === 'object') return typeof v === 'string' && Object.prototype.hasOwnProperty.call(a, v);
  return sameValue(a, v);
}

/** Values of a filter entry as a list (a scalar is a one-value list). */
export function filterValues(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

export function matchesAttributes(attributes: Record<string, unknown>, filter: AttributeFilter): boolean {
  for (const [k, v] of Object.entries(filter)) for (const x of filterValues(v)) if (!holds(attributes, k, x)) return false;
  return true;
}

export class Discovery {
  private readonly procs = new Map<string, ProcessView>();
  private readonly beatsByKey = new Map<string, { lastMs: number; seq: number }>();
  private readonly listeners = new Set<(e: DiscoveryEvent) => void>();
  private readonly clock: Clock;
  private readonly health: HealthSettings;
  private readonly types: Set<string> | undefined;
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private hbSubs: Subscription[] = [];
  private timer: unknown;
  private closed = false;
  private readonly startedMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: KV,
    private readonly o: DiscoveryOptions,
  ) {
    this.clock = o.clock ?? systemClock;
    this.health = { ...defaultHealthSettings, ...o.health };
    this.types = o.types ? new Set(o.types) : undefined;
    this.startedMs = this.clock.now();
  }

  /** Opens the registry (creating the bucket if needed), loads it and starts watching. */
  static async open(nc: NatsConnection, o: DiscoveryOptions = {}): Promise<Discovery> {
    const bucket = await new Kvm(nc).create(kv.registryBucket, { history: 1, replicas: o.replicas ?? 1 });
    const d = new Discovery(nc, bucket, o);
    await d.start(o.openTimeoutMs ?? 5_000);
    return d;
  }

  private async start(openTimeoutMs: number): Promise<void> {
    // Heartbeats first, so a beat that races the initial load is not lost.
    const hbSubjects = this.types ? [...this.types].map((t) => `hb.${t}.*`) : [subjects.heartbeatAll];
    this.hbSubs = hbSubjects.map((s) => this.nc.subscribe(s, { callback: (_e, m) => this.onBeat(m.subject, m.data) }));
    const empty = (await this.bucket.status()).values === 0;
    this.watcher = await this.bucket.watch({ key: '>' });
    let loaded!: () => void;
    const initial = new Promise<void>((r) => (loaded = r));
    if (empty) loaded();
    void (async () => {
      for await (const e of this.watcher!) {
        this.apply(e);
        // Entries of the initial load count `delta` (pending) down to 0; later ones are live.
        if ((e.delta ?? 0) === 0) loaded();
      }
    })().catch((err: Error) => this.o.logger?.warn({ err: err.message }, 'registry watch ended'));
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      initial,
      new Promise<void>((_, reject) => {
        t = setTimeout(() => reject(new TickbusError(ErrorCode.TIMEOUT, `registry not loaded within ${openTimeoutMs} ms`, { bucket: kv.registryBucket })), openTimeoutMs);
      }),
    ]).finally(() => clearTimeout(t));
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      this.check();
      this.schedule();
    }, this.o.checkEveryMs ?? 200);
    (this.timer as { unref?: () => void })?.unref?.();
  }

  private wanted(proctype: string): boolean {
    return !this.types || this.types.has(proctype);
  }

  private onBeat(subject: string, data: Uint8Array): void {
    const p = parseHeartbeatSubject(subject);
    if (!p || !this.wanted(p.proctype)) return;
    let seq = 0;
    try {
      seq = Number((JSON.parse(new TextDecoder().decode(data)) as { seq?: number }).seq ?? 0);
    } catch {
      // a beat that does not parse still says the process is alive
    }
    const key = kv.registryKey(p.proctype, p.name);
    const now = this.clock.now();
    this.beatsByKey.set(key, { lastMs: now, seq });
    const v = this.procs.get(key);
    if (!v) return;
    v.lastBeatMs = now;
    v.beats = seq;
    this.transition(v);
  }

  private apply(e: KvWatchEntry): void {
    const key = e.key;
    const old = this.procs.get(key);
    if (e.operation !== 'PUT') {
      if (!old) return;
      this.procs.delete(key);
      this.emit({ type: 'proc.down', proc: old });
      return;
    }
    let info: ProcessInfo;
    try {
      info = JSON.parse(e.string()) as ProcessInfo;
    } catch {
      this.o.logger?.warn({ key }, 'registry entry is not JSON; ignored');
      return;
    }
    if (typeof info.proctype !== 'string' || typeof info.name !== 'string' || !this.wanted(info.proctype)) return;
    const now = this.clock.now();
    const restarted = !old || old.pid !== info.pid || old.startedAt !== info.startedAt || old.host !== info.host;
    const beat = this.beatsByKey.get(key);
    const view: ProcessView = {
      ...info,
      attributes: info.attributes ?? {},
      subjects: info.subjects ?? [],
      key,
      revision: e.revision,
      seenAtMs: restarted ? now : old!.seenAtMs,
      lastBeatMs: restarted ? (beat && beat.lastMs >= now - this.periodOf(info) ? beat.lastMs : undefined) : old!.lastBeatMs,
      beats: restarted ? (beat?.seq ?? 0) : old!.beats,
      health: HealthState.ok,
    };
    view.health = this.healthNow(view, now);
    this.procs.set(key, view);
    if (restarted) {
      if (old) this.emit({ type: 'proc.down', proc: old });
      this.emit({ type: 'proc.up', proc: view });
    } else this.emit({ type: 'proc.changed', proc: view, previous: old! });
  }

  private periodOf(p: { heartbeatMs?: number }): number {
    return p.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  private healthNow(v: ProcessView, now: number): HealthState {
    return healthOf(v.lastBeatMs ?? v.seenAtMs, now, this.periodOf(v), this.health);
  }

  private transition(v: ProcessView): void {
    const h = this.healthNow(v, this.clock.now());
    if (h === v.health) return;
    const previous = v.health;
    v.health = h;
    this.emit({ type: 'proc.health', proc: v, previous });
  }

  /** Re-evaluates every process's health (the timer calls it; tests with a simulated clock too). */
  check(): void {
    for (const v of this.procs.values()) this.transition(v);
  }

  private emit(e: DiscoveryEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.o.logger?.error({ err: (err as Error).message, event: e.type }, 'discovery listener threw');
      }
    }
  }

  /** Calls `fn` on every registration, change, departure and health transition; returns the unsubscribe. */
  on(fn: (e: DiscoveryEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Registered processes, by type and attribute filter (TorQ .servers.getservers). */
  list(filter: { types?: readonly string[]; attributes?: AttributeFilter; health?: readonly HealthState[] } = {}): ProcessView[] {
    const out: ProcessView[] = [];
    for (const v of this.procs.values()) {
      if (filter.types && !filter.types.includes(v.proctype)) continue;
      if (filter.attributes && !matchesAttributes(v.attributes, filter.attributes)) continue;
      if (filter.health && !filter.health.includes(v.health)) continue;
      out.push(v);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Processes of one type that are not in error. */
  find(proctype: string): ProcessView[] {
    return this.list({ types: [proctype], health: [HealthState.ok, HealthState.warning] });
  }

  get(proctype: string, name: string): ProcessView | undefined {
    return this.procs.get(kv.registryKey(proctype, name));
  }

  /** Heartbeats heard from processes that are not (or not yet) registered: key -> last beat. */
  unregisteredBeats(): Array<{ key: string; lastMs: number; seq: number }> {
    return [...this.beatsByKey].filter(([k]) => !this.procs.has(k)).map(([key, b]) => ({ key, ...b }));
  }

  /** Milliseconds this watcher has been listening (a process not heard for longer than this may just be quiet). */
  listeningMs(): number {
    return this.clock.now() - this.startedMs;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    for (const s of this.hbSubs) s.unsubscribe();
    this.watcher?.stop();
    this.listeners.clear();
  }
}
