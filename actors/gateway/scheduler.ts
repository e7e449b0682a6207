// The gateway's queue and dispatch decisions (TorQ's .gw.queryqueue, .gw.servers, runnextquery).
// Pure: no I/O and no Date.now; time comes from an injected Clock and every method returns the
// commands the effects carry out (dispatch a part to a backend, answer a query, fail a query).
//
//  - A query is admitted (bounded by queueMax; one more is OVERLOADED at once) and resolved into
//    parts: one per process type, replica group or time range. A target that cannot be served
//    fails at once (TYPE_NOT_AVAILABLE names the missing and the available types).
//  - Each part is small or heavy (lanes.ts: the client's hint, else its observed time). Parts wait
//    in one list per part key (a type, or a replica group) and cost, ordered by priority (higher
//    first) then arrival: FIFO by default. Each part runs as soon as a backend that can run it has
//    a slot for its cost: capacity backendConcurrency, of which heavy parts hold at most
//    backendHeavySlots (capacity 1 is TorQ's one query at a time per backend). The best waiting
//    part over all lists takes a free slot, so priorities hold across costs; a query across two
//    types takes the slower one's time, not the sum.
//  - Two override points, as TorQ's .gw.getnextqueryid and .gw.availableservers: `nextQuery`
//    chooses among the waiting queries that could run now, `availableServers` narrows the free,
//    live backends a query may use.
//  - A query fails on its first failing part (backend error, backend gone) or at its deadline; its
//    running parts keep their backend slots until they answer (a backend cannot be interrupted),
//    bounded by the request deadline the effects give them.
//  - A part whose dispatch found no responders never reached a backend: it waits again for another.
import { isStaleCut } from './data_access_seq.ts';
import type { TickbusError } from '../../bus/errors.ts';
import type { Clock } from '../common/clock.ts';
import type { HealthState } from '../common/discovery.ts';
import { CostModel, heavySlotsFor, kindOf, type Cost } from './lanes.ts';
import { isLive, type BackendView } from './routing.ts';
import { asError, backendGone, badPartCount, duplicateId, heldTooLong, overloaded, stranded, timedOut } from './scheduler_errors.ts';
import { eligible, type Backend, type Part, type Query } from './scheduler_pick.ts';
import { DeadlineWheel } from './scheduler_queues.ts';
import { Slots } from './scheduler_slots.ts';
import type { Command, NewQuery, PartOutcome, QueryView, Resolution, SchedulerHooks, SchedulerSettings } from './scheduler_types.ts';

export type { Command, NewQuery, PartOutcome, QueryView, Resolution, SchedulerHooks, SchedulerSettings } from './scheduler_types.ts';

export class Scheduler<M> {
  private readonly queries = new Map<string, Query<M>>();
  private readonly backends = new Map<string, Backend>();
  /** The waiting parts and the parts running on backend slots. */
  private readonly slots: Slots<M>;
  /** The backends as an array for resolvers, rebuilt when one registers or leaves. */
  private view: Backend[] | undefined;
  /** Observed part times by type and kind: what is small. */
  readonly costs: CostModel;
  private readonly deadlines: DeadlineWheel;
  private seq = 0;
  private epochs = 0;
  readonly stats = { submitted: 0, completed: 0, failed: 0, timedOut: 0, overloaded: 0, dispatched: 0, redispatched: 0 };

  constructor(
    private readonly s: SchedulerSettings,
    private readonly clock: Clock,
    private hooks: SchedulerHooks = {},
  ) {
    this.costs = new CostModel(s.cost ?? { smallMaxMs: 0, kindsMax: 0 });
    this.deadlines = new DeadlineWheel(s.deadlineSlotMs ?? 10);
    this.slots = new Slots<M>(this.backends, clock, s.nextQueryScanMax, this.stats);
  }

  setHooks(hooks: SchedulerHooks): void {
    this.hooks = hooks;
  }

  /** Queries admitted and not yet answered. */
  get size(): number {
    return this.queries.size;
  }

  /** Entries on the deadline wheel: one per query admitted and not yet answered. */
  get deadlinesHeld(): number {
    return this.deadlines.size;
  }

  /** The backends themselves, read-only, for resolvers on the hot path (no copy per query). */
  private liveView(): readonly BackendView[] {
    return (this.view ??= [...this.backends.values()]);
  }

  /** Copies of the backends (for hooks, status and tests). */
  backendViews(): BackendView[] {
    return [...this.backends.values()].map((b) => ({ ...b }));
  }

  // ---- backends ------------------------------------------------------------------------------

  /** A backend registered, re-registered (restarted: a new process under the name) or changed its attributes. */
  upsertBackend(info: { name: string; proctype: string; attributes: Record<string, unknown>; health?: HealthState }, restarted: boolean): Command<M>[] {
    const out: Command<M>[] = [];
    const old = this.backends.get(info.name);
    if (old && restarted) out.push(...this.failRunningOn(old, `was replaced by a new ${info.proctype} process of the same name`));
    // A new incarnation starts with no parts (the old one's were failed above) and is not gone.
    const b: Backend =
      old && !restarted
        ? { ...old, attributes: info.attributes, health: info.health ?? old.health }
        : {
            name: info.name,
            proctype: info.proctype,
            attributes: info.attributes,
            health: info.health ?? 'ok',
            gone: false,
            inflight: 0,
            capacity: this.s.capacityOf(info.proctype),
            heavyInflight: 0,
            heavySlots: heavySlotsFor(this.s.capacityOf(info.proctype), this.s.heavySlotsOf?.(info.proctype) ?? 1),
            served: old?.served ?? 0,
            lastDispatchMs: 0,
            epoch: ++this.epochs,
          };
    this.backends.set(info.name, b);
    this.view = undefined;
    out.push(...this.replanHeld());
    out.push(...this.pump());
    return out;
  }

  /** A backend deregistered (gone for good until it registers again). */
  removeBackend(name: string, reason: string): Command<M>[] {
    const b = this.backends.get(name);
    if (!b) return [];
    const out = this.failRunningOn(b, reason);
    this.backends.delete(name);
    this.view = undefined;
    out.push(...this.failStranded());
    out.push(...this.replanHeld());
    out.push(...this.pump());
    return out;
  }

  /** A backend found gone (no responders) but still registered: unusable until it registers again or beats again. */
  markGone(name: string, reason: string): Command<M>[] {
    const b = this.backends.get(name);
    if (!b || b.gone) return [];
    const out = this.failRunningOn(b, reason);
    b.gone = true;
    b.goneAtMs = this.clock.now();
    out.push(...this.failStranded());
    out.push(...this.pump());
    return out;
  }

  /** A gone backend was heard again (a heartbeat after goneAtMs: it had only lost its connection). */
  revive(name: string): Command<M>[] {
    const b = this.backends.get(name);
    if (!b || !b.gone) return [];
    b.gone = false;
    b.goneAtMs = undefined;
    return [...this.replanHeld(), ...this.pump()];
  }

  /** Heartbeat health changed: a backend in error is not used and its running parts fail. */
  setHealth(name: string, health: HealthState): Command<M>[] {
    const b = this.backends.get(name);
    if (!b || b.health === health) return [];
    const out: Command<M>[] = [];
    if (health === 'error') out.push(...this.failRunningOn(b, 'lost its heartbeat'));
    b.health = health;
    if (health === 'error') out.push(...this.failStranded());
    else out.push(...this.replanHeld());
    out.push(...this.pump());
    return out;
  }

  /** Fails every query with a part running on `b` (BACKEND_GONE) and releases those slots. */
  private failRunningOn(b: Backend, reason: string): Command<M>[] {
    const out: Command<M>[] = [];
    for (const r of this.slots.takeRunsOn(b)) {
      const q = this.queries.get(r.queryId);
      if (q && q.state === 'active') out.push(this.finishFail(q, backendGone(b, q.view.id, reason)));
    }
    return out;
  }

  private canRunSomewhere(part: Part): boolean {
    for (const b of this.backends.values()) if (isLive(b) && eligible(part.spec, b)) return true;
    return false;
  }

  /** Waiting parts no live backend can run any more: their queries fail (a replacement must register first). */
  private failStranded(): Command<M>[] {
    const out: Command<M>[] = [];
    for (const q of this.queries.values()) {
      if (q.state !== 'active') continue;
      const stuck = q.parts.find((p) => p.state === 'waiting' && !this.canRunSomewhere(p));
      if (!stuck) continue;
      out.push(this.finishFail(q, stranded(stuck.spec, q.view.id)));
    }
    return out;
  }

  // ---- queries -------------------------------------------------------------------------------

  submit(n: NewQuery<M>): Command<M>[] {
    const now = this.clock.now();
    const view: QueryView = { id: n.id, priority: n.request.priority, seq: ++this.seq, submittedMs: now, deadlineMs: now + n.request.timeoutMs, request: n.request };
    this.stats.submitted++;
    if (this.queries.size >= this.s.queueMax) {
      this.stats.overloaded++;
      this.stats.failed++;
      return [{ type: 'fail', queryId: n.id, meta: n.meta, error: overloaded(this.queries.size, n.id, this.s.queueMax) }];
    }
    if (this.queries.has(n.id)) {
      this.stats.failed++;
      return [{ type: 'fail', queryId: n.id, meta: n.meta, error: duplicateId(n.id) }];
    }
    const q: Query<M> = { view, state: 'held', parts: [], remaining: 0, meta: n.meta, resolve: n.resolve, holdUntilMs: Math.min(view.deadlineMs, now + n.holdMaxMs), wheelSlot: 0 };
    let r: Resolution<M>;
    try {
      r = n.resolve(this.liveView());
    } catch (e) {
      this.stats.failed++;
      return [{ type: 'fail', queryId: n.id, meta: n.meta, error: asError(e, n.id) }];
    }
    this.queries.set(n.id, q);
    if (r.kind === 'hold') {
      q.holdReason = { reason: r.reason, detail: r.detail };
      q.wheelSlot = this.deadlines.add(q.holdUntilMs, n.id);
      return [];
    }
    q.wheelSlot = this.deadlines.add(view.deadlineMs, n.id);
    const out = this.activate(q, r);
    this.pump(out);
    return out;
  }

  private activate(q: Query<M>, r: Extract<Resolution<M>, { kind: 'parts' }>): Command<M>[] {
    if (r.parts.length === 0 || r.parts.length > this.s.partsPerQueryMax) {
      return [this.finishFail(q, badPartCount(r.parts.length, q.view.id, this.s.partsPerQueryMax))];
    }
    if (r.meta) q.meta = { ...q.meta, ...r.meta };
    q.state = 'active';
    q.holdReason = undefined;
    q.parts = r.parts.map((spec, index) => {
      const kind = kindOf(spec.request);
      const cost = this.costs.classify(spec.proctype, kind, q.view.request.cost);
      return { index, spec, kind, cost, key: `${spec.names ? `n:${spec.proctype}:${spec.names.join(',')}` : `t:${spec.proctype}`}|${cost}`, state: 'waiting' as const };
    });
    q.remaining = q.parts.length;
    for (const part of q.parts) this.slots.enqueue(q, part);
    return [];
  }

  /** Held queries try again to resolve now (an outside hold ended: a WDB's reloadend). */
  replan(): Command<M>[] {
    return [...this.replanHeld(), ...this.pump()];
  }

  /** Held queries try again to resolve (a backend registered or changed its attributes). */
  private replanHeld(): Command<M>[] {
    const out: Command<M>[] = [];
    for (const q of this.queries.values()) {
      if (q.state !== 'held') continue;
      let r: Resolution<M>;
      try {
        r = q.resolve(this.liveView());
      } catch (e) {
        out.push(this.finishFail(q, asError(e, q.view.id)));
        continue;
      }
      if (r.kind === 'hold') q.holdReason = { reason: r.reason, detail: r.detail };
      else out.push(...this.activate(q, r));
    }
    return out;
  }

  /**
   * A part refused its route (its sequence cut: the RDB's window passed the IDB sequence the plan used; or its fromDay: the RDB let the day go; either way the
   * gateway's view was stale): the query is planned again from the current view, or, when that
   * gives the same parts, held until a backend's attributes change (at most until holdUntilMs).
   */
  private replanStale(q: Query<M>, error: TickbusError): Command<M>[] {
    const before = routeKey(q.parts.map((p) => p.spec));
    for (const p of q.parts) if (p.state === 'waiting') p.state = 'done'; // out of the wait lists
    q.state = 'held';
    q.parts = [];
    q.remaining = 0;
    q.holdReason = { reason: 'a route is stale (a sequence cut between the idb and the rdb, or a day the rdb let go); waiting for the registry update', detail: { error: error.message } };
    this.deadlines.remove(q.wheelSlot, q.view.id);
    q.wheelSlot = this.deadlines.add(q.holdUntilMs, q.view.id);
    let r: Resolution<M>;
    try {
      r = q.resolve(this.liveView());
    } catch (e) {
      return [this.finishFail(q, asError(e, q.view.id))];
    }
    if (r.kind === 'hold') return [];
    return routeKey(r.parts) === before ? [] : this.activate(q, r);
  }

  /** A backend answered a part (or the request failed); `runId` is the dispatch command's `run` (found from the part when omitted). */
  partDone(queryId: string, part: number, outcome: PartOutcome, runId = this.runOf(queryId, part)): Command<M>[] {
    const run = runId === undefined ? undefined : this.slots.running.get(runId);
    if (!run || run.queryId !== queryId || run.part !== part) return []; // the slot was already released (backend gone, replaced)
    this.slots.running.delete(runId!);
    const b = this.backends.get(run.backend);
    if (b && b.epoch === run.epoch) {
      this.slots.release(b, run.cost);
      b.served++;
    }
    // What the backend took, answer or error, teaches what is small ("no responders" never ran).
    const now = this.clock.now();
    if (outcome.ok || !('noResponders' in outcome)) this.costs.observe(run.proctype, run.kind, now - run.since);
    const out: Command<M>[] = [];
    const q = this.queries.get(queryId);
    // A part of a plan since replaced (a stale sequence cut re-planned) no longer counts.
    if (q && q.state === 'active' && q.parts[part]?.run === runId) {
      const p = q.parts[part]!;
      if (!outcome.ok && 'noResponders' in outcome) {
        // Nobody got the request: the backend is gone; the part waits for another one.
        this.stats.redispatched++;
        this.slots.enqueue(q, p);
        if (b) out.push(...this.markGone(b.name, 'did not answer (no responders)'));
        else out.push(...this.failStranded());
      } else if (!outcome.ok && isStaleCut(outcome.error) && now < q.holdUntilMs) {
        out.push(...this.replanStale(q, outcome.error));
      } else if (!outcome.ok) {
        out.push(this.finishFail(q, outcome.error));
      } else {
        p.state = 'done';
        p.result = outcome.value;
        p.ms = now - p.startedMs!;
        if (--q.remaining === 0) out.push(this.finishComplete(q));
      }
    } else if (!outcome.ok && 'noResponders' in outcome && b) {
      out.push(...this.markGone(b.name, 'did not answer (no responders)'));
    }
    this.pump(out);
    return out;
  }

  /** The run of a part now on a slot, also of a query that already finished. */
  private runOf(queryId: string, part: number): number | undefined {
    const q = this.queries.get(queryId);
    return q ? q.parts[part]?.run : this.slots.runOfFinished(queryId, part);
  }

  /** Deadlines that passed: QUERY_TIMEOUT, or EOD_IN_PROGRESS for a query still held. */
  tick(): Command<M>[] {
    const now = this.clock.now();
    const out: Command<M>[] = [];
    for (const id of this.deadlines.due(now)) {
      const q = this.queries.get(id);
      if (!q || q.state === 'finished') continue;
      if (q.state === 'held' && now >= q.holdUntilMs) {
        out.push(this.finishFail(q, heldTooLong(q.view.id, q.holdReason)));
      } else if (now >= q.view.deadlineMs) {
        this.stats.timedOut++;
        const running = q.parts.filter((p) => p.state === 'running').map((p) => p.backend);
        const waiting = q.parts.filter((p) => p.state === 'waiting').map((p) => p.spec.proctype);
        out.push(this.finishFail(q, timedOut(q.view.id, q.view.request.timeoutMs, running, waiting)));
      } else q.wheelSlot = this.deadlines.add(q.view.deadlineMs, id); // a hold that ended: its own deadline next
    }
    if (out.length > 0) this.pump(out);
    return out;
  }

  /** Backends holding parts that have run for longer than `afterMs` (candidates for a liveness probe). */
  longRunning(afterMs: number): string[] {
    return this.slots.longRunning(afterMs);
  }

  private finishFail(q: Query<M>, error: TickbusError): Command<M> {
    q.state = 'finished';
    this.queries.delete(q.view.id);
    this.deadlines.remove(q.wheelSlot, q.view.id);
    this.stats.failed++;
    return { type: 'fail', queryId: q.view.id, error, meta: q.meta };
  }

  private finishComplete(q: Query<M>): Command<M> {
    q.state = 'finished';
    this.queries.delete(q.view.id);
    this.deadlines.remove(q.wheelSlot, q.view.id);
    this.stats.completed++;
    return {
      type: 'complete',
      queryId: q.view.id,
      results: q.parts.map((p) => p.result),
      parts: q.parts.map((p) => ({ name: p.backend!, proctype: p.spec.proctype, ms: p.ms! })),
      ms: this.clock.now() - q.view.submittedMs,
      meta: q.meta,
    };
  }

  /** Places waiting parts on free slots (scheduler_slots.ts), the best waiting part over all lists first. */
  private pump(out: Command<M>[] = []): Command<M>[] {
    return this.slots.pump(this.hooks, out);
  }

  // ---- views ---------------------------------------------------------------------------------

  /** The queue as TorQ's .gw.getqueue shows it. */
  queue(): Array<{ id: string; priority: number; state: string; submittedMs: number; deadlineMs: number; parts: Array<{ proctype: string; state: string; cost: Cost; backend?: string }> }> {
    return [...this.queries.values()]
      .map((q) => ({
        id: q.view.id,
        priority: q.view.priority,
        state: q.state,
        submittedMs: q.view.submittedMs,
        deadlineMs: q.view.deadlineMs,
        parts: q.parts.map((p) => ({ proctype: p.spec.proctype, state: p.state, cost: p.cost, backend: p.backend })),
      }))
      .sort((a, b) => b.priority - a.priority || a.submittedMs - b.submittedMs);
  }

  /** Queries, parts running and waiting (for status). */
  counts(): { queries: number; held: number; running: number; waiting: number } {
    let held = 0;
    let waiting = 0;
    for (const q of this.queries.values()) {
      if (q.state === 'held') held++;
      for (const p of q.parts) if (p.state === 'waiting') waiting++;
    }
    return { queries: this.queries.size, held, running: this.slots.running.size, waiting };
  }

  /** Drops queries (their client is gone): each fails now; parts running on backends keep their slots until they answer. */
  drop(ids: Iterable<string>, error: (id: string) => TickbusError): Command<M>[] {
    const out: Command<M>[] = [];
    for (const id of ids) {
      const q = this.queries.get(id);
      if (q && q.state !== 'finished') out.push(this.finishFail(q, error(id)));
    }
    return out;
  }

  /** Fails every query (the gateway is stopping). */
  failAll(error: (id: string) => TickbusError): Command<M>[] {
    return [...this.queries.values()].map((q) => this.finishFail(q, error(q.view.id)));
  }
}

/** A plan's routes (replica names and requests) as a string: re-planning that gives the same is no change. */
function routeKey(parts: ReadonlyArray<{ names?: readonly string[]; request: unknown }>): string {
  return JSON.stringify(parts.map((p) => [p.names, p.request]), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}
