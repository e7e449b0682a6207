// The scheduler's public shapes: the query and backend views its hooks see, its settings, what a
// query resolves to, and the commands it returns to the effects. Types only.
import type { TickbusError } from '../../bus/errors.ts';
import type { Cost, CostSettings } from './lanes.ts';
import type { GatewayRequest } from './request.ts';
import type { BackendView, PartSpec } from './routing.ts';

/** A query as the hooks see it. */
export interface QueryView {
  id: string;
  priority: number;
  /** Arrival order. */
  seq: number;
  submittedMs: number;
  deadlineMs: number;
  request: GatewayRequest;
}

export interface SchedulerHooks {
  /**
   * Which waiting query runs next on a free backend (TorQ .gw.getnextqueryid). `waiting` holds the
   * queries that could run on it now, best first by priority then arrival (at most
   * nextQueryScanMax); return one of them, or undefined to leave the backend idle for now.
   */
  nextQuery?: (waiting: readonly QueryView[], backend: BackendView) => QueryView | undefined;
  /**
   * Which backends a query may use (TorQ .gw.availableservers): given the free, live backends that
   * can run one of its parts, return those it may use (e.g. the same datacentre as the client).
   */
  availableServers?: (free: readonly BackendView[], query: QueryView) => readonly BackendView[];
}

export interface SchedulerSettings {
  queueMax: number;
  partsPerQueryMax: number;
  nextQueryScanMax: number;
  /** Parts one backend runs at once (its slots), by type, else the default. */
  capacityOf: (proctype: string) => number;
  /** Of those, the most heavy parts at once (clamped to capacity - 1 when capacity > 1); 1 when omitted. */
  heavySlotsOf?: (proctype: string) => number;
  /** Slot width of the deadline wheel (default 10 ms): a timeout fires within this plus the tick period. */
  deadlineSlotMs?: number;
  /** How parts are classed small or heavy (lanes.ts); every unhinted part is heavy until seen when omitted. */
  cost?: CostSettings;
}

/** What a query resolves to against the backends: parts, or held (the data-access end-of-day hold). */
export type Resolution<M> = { kind: 'parts'; parts: PartSpec[]; meta?: Partial<M> } | { kind: 'hold'; reason: string; detail: Record<string, unknown> };

export interface NewQuery<M> {
  id: string;
  request: GatewayRequest;
  /** Resolves the target against the backends; throws a TickbusError when it cannot be served. Called again for a held query when backends change. */
  resolve: (backends: readonly BackendView[]) => Resolution<M>;
  /** A held query fails with EOD_IN_PROGRESS after this long (capped by its deadline). */
  holdMaxMs: number;
  /** The effects' own data about the query (where to reply, how to join); carried back in commands. */
  meta: M;
}

export type Command<M> =
  | { type: 'dispatch'; run: number; queryId: string; part: number; backend: string; proctype: string; request: unknown; deadlineMs: number; cost: Cost; meta: M }
  | { type: 'complete'; queryId: string; results: unknown[]; parts: Array<{ name: string; proctype: string; ms: number }>; ms: number; meta: M }
  | { type: 'fail'; queryId: string; error: TickbusError; meta: M };

export type PartOutcome = { ok: true; value: unknown } | { ok: false; error: TickbusError } | { ok: false; noResponders: true };
