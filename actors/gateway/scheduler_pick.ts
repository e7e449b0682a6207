// Which waiting part runs where: the scheduler's internal records and its choice of the next part
// for a free slot (TorQ's .gw.getnextqueryid and .gw.availableservers as hooks). Pure.
import { hasSlot, type Cost } from './lanes.ts';
import { isLive, type BackendView, type PartSpec } from './routing.ts';
import type { WaitList } from './scheduler_queues.ts';
import type { NewQuery, QueryView, SchedulerHooks } from './scheduler_types.ts';

export interface Part {
  index: number;
  spec: PartSpec;
  key: string;
  /** The part's kind (lanes.ts kindOf) and its cost class, fixed when it is queued. */
  kind: string;
  cost: Cost;
  state: 'waiting' | 'running' | 'done';
  backend?: string;
  /** The run (slot use) of its current dispatch. */
  run?: number;
  startedMs?: number;
  ms?: number;
  result?: unknown;
}

export interface Query<M> {
  view: QueryView;
  state: 'held' | 'active' | 'finished';
  parts: Part[];
  remaining: number;
  meta: M;
  resolve: NewQuery<M>['resolve'];
  holdUntilMs: number;
  /** Its entry on the deadline wheel. */
  wheelSlot: number;
  holdReason?: { reason: string; detail: Record<string, unknown> };
}

export interface Backend extends BackendView {
  lastDispatchMs: number;
  /** Incarnation: a re-registration under the same name is a new process. */
  epoch: number;
}

/** A part on a backend slot, kept until the backend answers or the slot is reclaimed (also after its query finished). */
export interface Run {
  queryId: string;
  part: number;
  backend: string;
  /** The backend's incarnation the slot belongs to. */
  epoch: number;
  since: number;
  cost: Cost;
  proctype: string;
  kind: string;
}

export interface Entry<M> {
  q: Query<M>;
  part: Part;
}

/** Whether backend `b` may run a part of `spec` (its type, or one of its replica group). */
export function eligible(spec: PartSpec, b: Backend | BackendView): boolean {
  return spec.names ? spec.names.includes(b.name) : b.proctype === spec.proctype;
}

/** Live backends that can run `spec` with a free slot for its cost. */
function freeFor(backends: Map<string, Backend>, spec: PartSpec, cost: Cost): Backend[] {
  const out: Backend[] = [];
  for (const b of backends.values()) if (isLive(b) && hasSlot(b, cost) && eligible(spec, b)) out.push(b);
  return out;
}

/** True when a is the better server: fewer parts running, then the least recently used. */
function better(a: Backend, b: Backend | undefined): boolean {
  return !b || a.inflight < b.inflight || (a.inflight === b.inflight && a.lastDispatchMs < b.lastDispatchMs);
}

function pickServer(backends: Map<string, Backend>, servers: readonly BackendView[]): Backend {
  let best: Backend | undefined;
  for (const v of servers) {
    const b = backends.get(v.name)!;
    if (better(b, best)) best = b;
  }
  return best!;
}

/**
 * The best waiting entry of one list that can run now, with its server: the list's head on the
 * least loaded free backend, or what the hooks choose. `scratch` carries the answer on the hot path
 * (no hooks), read at once by the caller.
 */
export function pickCandidate<M>(
  list: WaitList<Entry<M>>,
  backends: Map<string, Backend>,
  hooks: SchedulerHooks,
  scanMax: number,
  scratch: { e?: Entry<M>; server?: Backend },
): { e: Entry<M>; server: Backend } | undefined {
  if (!hooks.nextQuery && !hooks.availableServers) {
    // The hot path: the head of the list on the best free server, nothing allocated but the answer.
    const e = list.first();
    if (!e) return undefined;
    let server: Backend | undefined;
    for (const b of backends.values()) if (isLive(b) && hasSlot(b, e.part.cost) && eligible(e.part.spec, b) && better(b, server)) server = b;
    if (!server) return undefined;
    const c = scratch; // reused: pump reads it at once
    c.e = e;
    c.server = server;
    return c as { e: Entry<M>; server: Backend };
  }
  const heads = list.peek(scanMax);
  if (heads.length === 0) return undefined;
  // Every entry of one list has the same key and cost, so the same eligible backends.
  const free = freeFor(backends, heads[0]!.part.spec, heads[0]!.part.cost);
  if (free.length === 0) return undefined;
  const views = hooks.availableServers ? free.map((b) => ({ ...b })) : free;
  const runnable: Array<{ e: Entry<M>; servers: readonly BackendView[] }> = [];
  for (const e of heads) {
    const servers = hooks.availableServers ? hooks.availableServers(views, e.q.view).filter((v) => free.some((b) => b.name === v.name)) : free;
    if (servers.length > 0) {
      runnable.push({ e, servers });
      if (!hooks.nextQuery) break;
    }
  }
  if (runnable.length === 0) return undefined;
  let chosen = runnable[0]!;
  if (hooks.nextQuery) {
    const first = pickServer(backends, runnable[0]!.servers);
    const pick = hooks.nextQuery(
      runnable.map((r) => r.e.q.view),
      { ...first },
    );
    if (!pick) return undefined;
    chosen = runnable.find((r) => r.e.q.view === pick) ?? runnable[0]!;
  }
  return { e: chosen.e, server: pickServer(backends, chosen.servers) };
}
