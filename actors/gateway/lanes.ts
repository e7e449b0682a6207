// Small and heavy queries (the gateway's concurrency rule; docs/gateway.md "Queue, priority,
// concurrency"). Pure: no I/O, no clock.
//
// A backend has `capacity` slots (backendConcurrency). A heavy part may use at most `heavySlots`
// of them (backendHeavySlots, at most capacity - 1 when capacity > 1), so small parts always have
// capacity - heavySlots slots no heavy part can take. capacity 1 is TorQ's rule: one query at a
// time, whatever its cost, and no reserved slot.
//
// What is small: a part whose kind (the named API it calls, else its request type) on its process
// type has been seen to answer within smallMaxMs (an exponentially weighted mean of the observed
// part times). A kind never seen is heavy until it has answered once, unless the client says
// `cost: "small"`; `cost: "heavy"` always makes it heavy, and a kind seen slow stays heavy whatever
// the client says. So unknown work gets TorQ's one-at-a-time until it proves cheap.
import type { BackendView } from './routing.ts';

export type Cost = 'small' | 'heavy';
export const Costs: readonly Cost[] = ['small', 'heavy'];

export interface CostSettings {
  /** A kind whose mean observed part time is at most this is small. */
  smallMaxMs: number;
  /** Kinds remembered (oldest forgotten first). */
  kindsMax: number;
}

/** Weight of the newest observation in the running mean. */
const ALPHA = 0.2;

/** The kind of a backend request: the named API it calls, else its type. */
export function kindOf(request: unknown): string {
  if (typeof request !== 'object' || request === null) return typeof request;
  const r = request as { type?: unknown; api?: unknown };
  if (r.type === 'tickbus.v1.call' && typeof r.api === 'string') return `call:${r.api}`;
  return typeof r.type === 'string' ? r.type : 'object';
}

/** Learned part times by process type and kind, bounded. */
export class CostModel {
  private readonly meanMs = new Map<string, number>();

  constructor(private readonly s: CostSettings) {}

  private static key(proctype: string, kind: string): string {
    return `${proctype}\u0000${kind}`;
  }

  /** The cost class of a part: the client's hint, then what was observed. */
  classify(proctype: string, kind: string, hint: Cost | undefined): Cost {
    if (hint === 'heavy') return 'heavy';
    const m = this.meanMs.get(CostModel.key(proctype, kind));
    if (m === undefined) return hint ?? 'heavy';
    return m <= this.s.smallMaxMs ? 'small' : 'heavy';
  }

  /** A part of this kind answered after `ms`. */
  observe(proctype: string, kind: string, ms: number): void {
    const k = CostModel.key(proctype, kind);
    const m = this.meanMs.get(k);
    if (m === undefined) {
      if (this.meanMs.size >= this.s.kindsMax) this.meanMs.delete(this.meanMs.keys().next().value!);
      this.meanMs.set(k, ms);
    } else this.meanMs.set(k, m + ALPHA * (ms - m));
  }

  /** Mean observed time of a kind (status, tests). */
  meanOf(proctype: string, kind: string): number | undefined {
    return this.meanMs.get(CostModel.key(proctype, kind));
  }

  get size(): number {
    return this.meanMs.size;
  }
}

/** Heavy slots of a backend with `capacity` slots, given the configured bound. */
export function heavySlotsFor(capacity: number, configured: number): number {
  return capacity <= 1 ? 1 : Math.max(1, Math.min(configured, capacity - 1));
}

/** Whether a backend has a slot for a part of this cost. */
export function hasSlot(b: Pick<BackendView, 'inflight' | 'capacity' | 'heavyInflight' | 'heavySlots'>, cost: Cost): boolean {
  return b.inflight < b.capacity && (cost === 'small' || b.heavyInflight < b.heavySlots);
}
