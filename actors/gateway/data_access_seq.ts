// Today held by an RDB keeping a recent window (rdbWindowMs) and an IDB serving what a WDB wrote:
// neither holds the whole day, and the IDB's files grow under the gateway's feet. The day is
// split by log sequence, not time (rows of one instant may be on either side): the IDB answers
// the batches at or below S (`upToSeq: S`, S = the IDB's advertised last sequence written for the
// table that day) and the RDB those above it (`afterSeq: S`). Each file and each batch has one
// sequence, so no row is counted twice or missed, whatever the IDB has written since the
// gateway's view. The RDB advertises per day and table the first sequence it still holds
// (`heldFrom`); when its window no longer reaches S + 1 (the gateway's view of the IDB is older
// than the RDB's drop), the query is held until the views catch up (at most eodHoldMs), never
// answered with a gap.
import { ErrorCode, type TickbusError } from '../../bus/errors.ts';
import type { BackendView } from './routing.ts';

/** A part's error saying its route is stale: a sequence cut no longer holds, or an RDB let the routed day go (NOT_READY on afterSeq / upToSeq / fromDay): re-plan, do not fail. */
export function isStaleCut(e: TickbusError): boolean {
  const inner = (e.code === ErrorCode.BACKEND_ERROR ? (e.detail as { error?: { code?: unknown; detail?: { param?: unknown } } }).error : { code: e.code, detail: e.detail as { param?: unknown } }) ?? {};
  return inner.code === ErrorCode.NOT_READY && (inner.detail?.param === 'afterSeq' || inner.detail?.param === 'upToSeq' || inner.detail?.param === 'fromDay');
}

/** One process group's share of a day: all of it, or one side of a sequence cut. */
export interface DayMember {
  group: number;
  upToSeq?: number;
  afterSeq?: number;
}

export type DayAssignment = { kind: 'members'; members: DayMember[] } | { kind: 'hold'; holder: string };

interface GroupLike {
  proctype: string;
  names: string[];
}

function attributesOf(backends: readonly BackendView[], names: readonly string[]): Record<string, unknown>[] {
  return backends.filter((b) => names.includes(b.name)).map((b) => b.attributes);
}

function path(a: Record<string, unknown>, ...keys: string[]): unknown {
  let v: unknown = a;
  for (const k of keys) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** The first sequence of `table` on `date` every member of the group still holds (1: the whole day). */
export function heldFromOf(backends: readonly BackendView[], g: GroupLike, date: string, table: string): number {
  let hf = 1;
  for (const a of attributesOf(backends, g.names)) {
    const v = path(a, 'heldFrom', date, table);
    if (typeof v === 'number' && v > hf) hf = v;
  }
  return hf;
}

/** An IDB-like group: it advertises per-day written sequences (`days`). */
export function isIntraday(backends: readonly BackendView[], g: GroupLike): boolean {
  return attributesOf(backends, g.names).some((a) => typeof a.days === 'object' && a.days !== null);
}

/** The last sequence of `table` on `date` every member of an IDB group has written (0: none). */
export function writtenSeqOf(backends: readonly BackendView[], g: GroupLike, date: string, table: string): number {
  let s: number | undefined;
  for (const a of attributesOf(backends, g.names)) {
    const v = path(a, 'days', date, 'lastSeq', table);
    const n = typeof v === 'number' ? v : 0;
    s = s === undefined ? n : Math.min(s, n);
  }
  return s ?? 0;
}

/** A windowed RDB group: it advertises `heldFrom` (even empty), so its rows of a day may be partly dropped. */
export function isWindowed(backends: readonly BackendView[], g: GroupLike): boolean {
  return attributesOf(backends, g.names).some((a) => typeof a.heldFrom === 'object' && a.heldFrom !== null);
}

/** The newest day an RDB group lists in `dates` (it advertises an open-ended range beyond it). */
export function newestListed(backends: readonly BackendView[], g: GroupLike): string | undefined {
  let newest: string | undefined;
  for (const a of attributesOf(backends, g.names)) {
    if (Array.isArray(a.dates)) for (const d of a.dates) if (typeof d === 'string' && (newest === undefined || d > newest)) newest = d;
  }
  return newest;
}

/**
 * Who answers `date` for `table`, given its preferred owner. An owner without a window answers
 * alone. A windowed RDB that dropped part of the day gives way to a complete holder of another
 * kind (the HDB); else it shares the day with an IDB at S; else, holding all of it, it answers
 * with `afterSeq: 0` (so it refuses, rather than answering short, if it dropped rows since the
 * gateway's view); else the query is held. The RDB checks afterSeq against its window when it
 * runs the part, so a view older than its drops gives an error, never a gap.
 */
export function assignDay(
  backends: readonly BackendView[],
  groups: readonly GroupLike[],
  /** Whether group i holds a day (YYYY-MM-DD). */
  holds: (i: number, date: string) => boolean,
  owner: number,
  date: string,
  table: string,
): DayAssignment {
  const g = groups[owner]!;
  if (!isWindowed(backends, g)) return { kind: 'members', members: [{ group: owner }] };
  // Past the newest day it lists, rows can only come after everything it holds: that day's cut applies.
  const newest = newestListed(backends, g);
  const day = newest !== undefined && date > newest ? newest : date;
  const hf = heldFromOf(backends, g, day, table);
  const holding = groups.map((_, i) => i).filter((i) => i !== owner && holds(i, day));
  const complete = hf > 1 ? holding.find((i) => !isIntraday(backends, groups[i]!) && !isWindowed(backends, groups[i]!)) : undefined;
  if (complete !== undefined) return { kind: 'members', members: [{ group: complete }] };
  for (const i of holding) {
    if (!isIntraday(backends, groups[i]!)) continue;
    const s = writtenSeqOf(backends, groups[i]!, day, table);
    if (s + 1 >= hf) return { kind: 'members', members: [...(s > 0 ? [{ group: i, upToSeq: s }] : []), { group: owner, afterSeq: s }] };
  }
  if (hf <= 1) return { kind: 'members', members: [{ group: owner, afterSeq: 0 }] };
  return { kind: 'hold', holder: g.names[0]! };
}
