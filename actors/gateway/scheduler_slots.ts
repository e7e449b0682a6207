// The scheduler's slots: the waiting parts (one wait list per part key and cost) and the parts
// running on backends (one run per slot use, kept until the backend answers or the slot is
// reclaimed), and the placing of the best waiting part over all lists on a free slot. Pure; split
// from scheduler.ts, which decides what happens to the queries.
import type { Clock } from '../common/clock.ts';
import type { Cost } from './lanes.ts';
import { pickCandidate, type Backend, type Entry, type Part, type Query, type Run } from './scheduler_pick.ts';
import { before, WaitList } from './scheduler_queues.ts';
import type { Command, SchedulerHooks } from './scheduler_types.ts';

export class Slots<M> {
  /** Waiting parts by part key and cost: `${key}|${cost}`. */
  private readonly waiting = new Map<string, WaitList<Entry<M>>>();
  /** Parts running on backends by run id (the dispatch command's `run`). */
  readonly running = new Map<number, Run>();
  private runs = 0;
  /** pickCandidate()'s answer on the hot path, reused (read at once by pump). */
  private readonly scratch: { e?: Entry<M>; server?: Backend } = {};

  constructor(
    private readonly backends: Map<string, Backend>,
    private readonly clock: Clock,
    private readonly nextQueryScanMax: number,
    /** The scheduler's counters: `dispatched` counts placements. */
    private readonly stats: { dispatched: number },
  ) {}

  /** Puts a part (back) on its wait list. */
  enqueue(q: Query<M>, part: Part): void {
    part.state = 'waiting';
    let list = this.waiting.get(part.key);
    if (!list) this.waiting.set(part.key, (list = new WaitList<Entry<M>>()));
    list.insert({ q, part });
  }

  /** Frees a slot of `b` taken by a part of cost `cost`. */
  release(b: Backend, cost: Cost): void {
    b.inflight--;
    if (cost === 'heavy') b.heavyInflight--;
  }

  /** Takes the parts running on this incarnation of `b` off their slots: their runs. */
  takeRunsOn(b: Backend): Run[] {
    const out: Run[] = [];
    for (const [run, r] of this.running) {
      if (r.backend !== b.name || r.epoch !== b.epoch) continue;
      this.running.delete(run);
      this.release(b, r.cost);
      out.push(r);
    }
    return out;
  }

  /** The run of a part now on a slot, also of a query that already finished. */
  runOfFinished(queryId: string, part: number): number | undefined {
    for (const [id, r] of this.running) if (r.queryId === queryId && r.part === part) return id;
    return undefined;
  }

  /** Backends holding parts that have run for longer than `afterMs`. */
  longRunning(afterMs: number): string[] {
    const now = this.clock.now();
    const names = new Set<string>();
    for (const r of this.running.values()) if (now - r.since >= afterMs) names.add(r.backend);
    return [...names];
  }

  /** Places waiting parts on free slots, the best waiting part over all lists first, until none can be placed. */
  pump(hooks: SchedulerHooks, out: Command<M>[] = []): Command<M>[] {
    for (;;) {
      let bestE: Entry<M> | undefined;
      let bestServer: Backend | undefined;
      for (const [key, list] of this.waiting) {
        if (list.empty) {
          this.waiting.delete(key);
          continue;
        }
        const c = pickCandidate(list, this.backends, hooks, this.nextQueryScanMax, this.scratch);
        if (c && (!bestE || before(c.e.q.view, bestE.q.view))) {
          bestE = c.e;
          bestServer = c.server;
        }
      }
      if (!bestE) return out;
      out.push(this.place(bestE, bestServer!));
    }
  }

  private place(e: Entry<M>, b: Backend): Command<M> {
    const now = this.clock.now();
    const p = e.part;
    p.state = 'running';
    p.backend = b.name;
    p.startedMs = now;
    b.inflight++;
    if (p.cost === 'heavy') b.heavyInflight++;
    b.lastDispatchMs = now;
    const run = ++this.runs;
    p.run = run;
    this.running.set(run, { queryId: e.q.view.id, part: p.index, backend: b.name, epoch: b.epoch, since: now, cost: p.cost, proctype: b.proctype, kind: p.kind });
    this.stats.dispatched++;
    return { type: 'dispatch', run, queryId: e.q.view.id, part: p.index, backend: b.name, proctype: b.proctype, request: p.spec.request, deadlineMs: e.q.view.deadlineMs, cost: p.cost, meta: e.q.meta };
  }
}
