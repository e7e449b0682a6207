// Why the scheduler fails a query: the typed errors it answers with, each naming the query (id)
// and what went wrong (the backend, the missing process, the bound passed). Pure; split from
// scheduler.ts so that its methods read as decisions.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { PartSpec } from './routing.ts';

/** A backend running a part of query `id` went away (deregistered, replaced, no responders, lost its heartbeat). */
export function backendGone(b: { name: string; proctype: string }, id: string, reason: string): TickbusError {
  return new TickbusError(ErrorCode.BACKEND_GONE, `backend ${b.proctype} ${b.name} handling query ${id} ${reason}`, { id, backend: b.name, proctype: b.proctype, reason });
}

/** A waiting part of query `id` that no live backend can run any more. */
export function stranded(spec: PartSpec, id: string): TickbusError {
  const who = spec.names ? `${spec.proctype} (${spec.names.join(', ')})` : spec.proctype;
  return new TickbusError(ErrorCode.BACKEND_GONE, `no live ${who} process is left to run a queued part of query ${id}`, { id, proctype: spec.proctype, names: spec.names ?? null });
}

/** The gateway holds queueMax queries already. */
export function overloaded(held: number, id: string, queueMax: number): TickbusError {
  return new TickbusError(ErrorCode.OVERLOADED, `the gateway holds ${held} queries (queueMax); retry later`, { id, queueMax });
}

/** A query id already admitted and not yet answered. */
export function duplicateId(id: string): TickbusError {
  return new TickbusError(ErrorCode.BAD_QUERY, `id: query ${id} is already running`, { param: 'id', id });
}

/** A resolution to no part, or to more than partsPerQueryMax. */
export function badPartCount(parts: number, id: string, partsPerQueryMax: number): TickbusError {
  return parts === 0
    ? new TickbusError(ErrorCode.NO_MATCHING_PROCESS, `query ${id} resolved to no backend`, { id })
    : new TickbusError(ErrorCode.BAD_QUERY, `target: the query needs ${parts} backends; at most ${partsPerQueryMax}`, { param: 'target', id });
}

/** A query held (end-of-day hand-off, reload) past its hold bound. */
export function heldTooLong(id: string, hold: { reason: string; detail: Record<string, unknown> } | undefined): TickbusError {
  return new TickbusError(ErrorCode.EOD_IN_PROGRESS, `query ${id} needs data in end-of-day hand-off: ${hold?.reason ?? 'held'}; retry shortly`, { id, ...hold?.detail });
}

/** A query past its deadline: the backends still running its parts, the types still waiting. */
export function timedOut(id: string, timeoutMs: number, running: unknown[], waiting: string[]): TickbusError {
  return new TickbusError(ErrorCode.QUERY_TIMEOUT, `query ${id} has exceeded its timeout of ${timeoutMs} ms`, { id, timeoutMs, running, waiting });
}

/** What a resolver threw, as a TickbusError naming the query. */
export function asError(e: unknown, id: string): TickbusError {
  if (e instanceof TickbusError) return new TickbusError(e.code, e.message, { ...e.detail, id }, { cause: e });
  return new TickbusError(ErrorCode.INTERNAL, e instanceof Error ? e.message : String(e), { id }, { cause: e });
}
