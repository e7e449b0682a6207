// Data access across processes (TorQ's .dataaccess.getdata at the gateway): a getdata request
// without a target is split by time range between the processes that hold its days (the HDB's
// past days, the RDB's today), each part asks for its own sub-range, and the parts are merged:
// raw rows concatenate in time order and are re-ordered and re-limited; aggregations ask each
// process for mergeable parts (`partial: true`: avg as sum and count, first/last with their time,
// dev/var as moments, ...) and merge them with the query engine's own mergePartials, so the
// gateway's answer is the one a single process holding all the days would give. Pure: the
// request and the live backends in, the parts, their merge and the plan out.
//
// A process advertises the days it holds in its registry attributes: `first` and `last` (a range,
// as the HDB reports; it wins when both are given) or `dates` (a list of YYYY-MM-DD, as the RDB
// reports), and `tables` (a list or a map).
// The RDB reports the last day it handed to the HDB as `handoff: <day>`; while no process holds
// that day (the HDB has not reloaded it yet) a query needing it is held (not sent) until one does,
// at most eodHoldMs, so a day is never returned twice or not at all.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { dateToDays, daysToDate } from '../../storage/batch.ts';
import { mergePartials } from '../../storage/query/finalize.ts';
import { GETDATA_TYPE, partsLayout, planQuery, type Plan } from '../../storage/query/request.ts';
import { sortIndex, takeRows, type QueryResult } from '../../storage/query/result.ts';
import type { Schema } from '../../storage/schema.ts';
import { addDays, endOfDayInstant, tradingDay } from '../common/clock.ts';
import { holds } from '../common/discovery.ts';
import { isQueryResult, razeResults, type JoinFn } from './joins.ts';
import { assignDay, isWindowed, newestListed, type DayMember } from './data_access_seq.ts';
import { isLive, type BackendView, type PartSpec } from './routing.ts';

export interface DataAccessContext {
  schema: Schema;
  /** The trading day's end (HH:MM) and zone: day boundaries are where one part stops and the next starts. */
  eodTime: string;
  eodZone: string;
  /** Process types that hold days, most preferred first when two hold the same day. */
  dataTypes: readonly string[];
  partsPerQueryMax: number;
}

export type DataAccessOutcome =
  | { kind: 'parts'; parts: PartSpec[]; merge: JoinFn; plan: Plan }
  | { kind: 'hold'; day: string; holder: string };

/** The split/merge plug-in point: the gateway calls it for every targetless getdata request. */
export type DataAccessPlanner = (request: unknown, backends: readonly BackendView[], ctx: DataAccessContext) => DataAccessOutcome;

/** Days a process holds: a list, or a first..last range (day numbers since 1970-01-01). */
export type Coverage = { kind: 'dates'; days: number[] } | { kind: 'range'; from: number; to: number };

export function coverageOf(attributes: Record<string, unknown>): Coverage | undefined {
  // A first..last range wins over a list: the HDB reports both, its `dates` being [first, last].
  const first = typeof attributes.first === 'string' ? dateToDays(attributes.first) : undefined;
  const last = typeof attributes.last === 'string' ? dateToDays(attributes.last) : undefined;
  if (first !== undefined && last !== undefined) return { kind: 'range', from: first, to: last };
  const dates = attributes.dates;
  if (Array.isArray(dates)) {
    const days = dates.map((d) => (typeof d === 'string' ? dateToDays(d) : undefined)).filter((d): d is number => d !== undefined);
    return { kind: 'dates', days: [...new Set(days)].sort((a, b) => a - b) };
  }
  const one = typeof attributes.date === 'string' ? dateToDays(attributes.date) : undefined;
  return one === undefined ? undefined : { kind: 'dates', days: [one] };
}

/** The held days within [from, to]. */
function daysWithin(c: Coverage, from: number, to: number): number[] {
  if (c.kind === 'dates') return c.days.filter((d) => d >= from && d <= to);
  const out: number[] = [];
  for (let d = Math.max(from, c.from); d <= Math.min(to, c.to); d++) out.push(d);
  return out;
}

const NS_PER_MS = 1_000_000n;
/** The `last` an RDB advertises: it holds every day from its first on (actors/rdb/effects.ts OPEN_END_DAY). */
const OPEN_END = dateToDays('9999-12-31')!;
/** Instants outside what Date can show are clamped (a request for "everything" is still a range). */
const MS_MIN = 0;
const MS_MAX = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

function msOf(ns: bigint): number {
  const ms = Number(ns / NS_PER_MS);
  return Math.min(MS_MAX, Math.max(MS_MIN, ms));
}

/** The trading day (day number) an instant belongs to. */
export function dayOf(ns: bigint, eodTime: string, eodZone: string): number {
  return dateToDays(tradingDay(msOf(ns), eodTime, eodZone))!;
}

/** [start, end) of a trading day in epoch nanoseconds. */
export function dayBoundsNs(day: number, eodTime: string, eodZone: string): [bigint, bigint] {
  const date = daysToDate(day);
  const start = endOfDayInstant(addDays(date, -1), eodTime, eodZone);
  const end = endOfDayInstant(date, eodTime, eodZone);
  return [BigInt(start) * NS_PER_MS, BigInt(end) * NS_PER_MS];
}

interface SourceGroup {
  proctype: string;
  names: string[];
  coverage: Coverage;
}

function tablesHeld(attributes: Record<string, unknown>, table: string): boolean {
  return attributes.tables === undefined || holds(attributes, 'tables', table);
}

/** Live backends of the data types that hold the table, grouped by identical coverage, most preferred first. */
export function sourceGroups(backends: readonly BackendView[], table: string, dataTypes: readonly string[]): SourceGroup[] {
  const groups = new Map<string, SourceGroup>();
  for (const b of backends) {
    if (!isLive(b) || !dataTypes.includes(b.proctype) || !tablesHeld(b.attributes, table)) continue;
    const coverage = coverageOf(b.attributes);
    if (!coverage) continue;
    const key = `${b.proctype}\u0000${JSON.stringify(coverage)}`;
    const g = groups.get(key);
    if (g) g.names.push(b.name);
    else groups.set(key, { proctype: b.proctype, names: [b.name], coverage });
  }
  return [...groups.values()].sort((a, b) => dataTypes.indexOf(a.proctype) - dataTypes.indexOf(b.proctype) || (a.names[0]! < b.names[0]! ? -1 : 1));
}

function summary(groups: readonly SourceGroup[]): string {
  return (
    groups
      .map((g) => {
        const c = g.coverage;
        const days = c.kind === 'range' ? `${daysToDate(c.from)}..${daysToDate(c.to)}` : c.days.length === 0 ? 'no days' : c.days.map(daysToDate).join(',');
        return `${g.names.join('/')} (${g.proctype}) ${days}`;
      })
      .join('; ') || 'none'
  );
}

/** Raw parts: concatenated in time order, then ordered and limited as one result would be. */
export function mergeRaw(plan: Plan, results: readonly QueryResult[]): QueryResult {
  let r = razeResults(results);
  if (plan.ordering.length > 0) {
    const cols = plan.ordering.map((o) => r.cols[plan.rename[o.column] ?? o.column]!);
    r = takeRows(
      r,
      sortIndex(
        cols,
        plan.ordering.map((o) => o.desc),
        r.n,
      ),
    );
  }
  if (plan.limit !== undefined && Math.abs(plan.limit) < r.n) {
    const from = plan.limit >= 0 ? 0 : r.n + plan.limit;
    const idx = Uint32Array.from({ length: Math.abs(plan.limit) }, (_, i) => from + i);
    r = takeRows(r, idx);
  }
  return r;
}

function mergeFor(plan: Plan, single: boolean): JoinFn {
  // What each part must answer: the finished columns (renamed), or the parts layout when partial.
  const finished = plan.outColumns.map((c) => plan.rename[c] ?? c).join(',');
  const partial = partsLayout(plan).columns.join(',');
  return (results, ctx) => {
    results.forEach((r, i) => {
      const who = ctx.parts[i]?.name ?? 'a backend';
      if (!isQueryResult(r)) throw new Error(`${who} did not return a query result`);
      const want = !single && plan.kind === 'agg' ? partial : finished;
      // A process that does not speak getdata (it ran another query shape) must not pass for one that does.
      if (r.columns.join(',') !== want || (!single && plan.kind === 'agg' && r.partial !== true)) {
        throw new Error(`${who} did not answer the ${GETDATA_TYPE} request as asked (columns ${r.columns.join(',')}, expected ${want}); does it serve ${GETDATA_TYPE}?`);
      }
    });
    const rs = results as QueryResult[];
    if (single) return rs[0];
    if (plan.kind === 'raw') return mergeRaw(plan, rs);
    return mergePartials(plan, rs);
  };
}

/**
 * A getdata sent whole to several processes that hold disjoint data (one per attribute value, e.g.
 * shards by sym or region): each is asked for mergeable parts and the gateway merges them, so the
 * answer is the one a single process holding all of it gives. One part: sent unchanged.
 */
export function mergeAcrossParts(request: unknown, parts: PartSpec[], ctx: Pick<DataAccessContext, 'schema'>): { parts: PartSpec[]; merge?: JoinFn } {
  if (parts.length <= 1) return { parts };
  const plan = planQuery(
    request,
    (t) => ctx.schema.get(t),
    () => [...ctx.schema.keys()],
  );
  if (plan.partial) throw new TickbusError(ErrorCode.BAD_QUERY, 'partial: the gateway merges the parts itself; ask without partial', { param: 'partial' });
  const med = plan.aggs.find((a) => a.op === 'med');
  if (med) {
    throw new TickbusError(ErrorCode.BAD_QUERY, `aggregations: ${med.name} (med) cannot be merged across ${parts.length} processes; target one`, { param: 'aggregations', aggregation: med.name });
  }
  const asked = plan.kind === 'agg' ? parts.map((p) => ({ ...p, request: { ...(p.request as Record<string, unknown>), partial: true } })) : parts;
  return { parts: asked, merge: mergeFor(plan, false) };
}

/** The default planner: split by trading day between the processes holding each day, merge as above. */
export const splitByTime: DataAccessPlanner = (request, backends, ctx) => {
  const plan = planQuery(
    request,
    (t) => ctx.schema.get(t),
    () => [...ctx.schema.keys()],
  );
  if (plan.partial) throw new TickbusError(ErrorCode.BAD_QUERY, 'partial: the gateway merges the parts itself; ask without partial', { param: 'partial' });
  const firstDay = dayOf(plan.startNs, ctx.eodTime, ctx.eodZone);
  const lastDay = dayOf(plan.endNs, ctx.eodTime, ctx.eodZone);
  const groups = sourceGroups(backends, plan.table, ctx.dataTypes);
  // Each day goes to exactly one group (the most preferred holding it): never twice.
  const owner = new Map<number, number>();
  groups.forEach((g, gi) => {
    for (const d of daysWithin(g.coverage, firstDay, lastDay)) if (!owner.has(d)) owner.set(d, gi);
  });
  // A day handed off that nobody holds yet: hold the query rather than answer without it, when
  // there is somewhere for the day to go (a live data process of another type: the HDB).
  for (const b of backends) {
    if (!isLive(b) || !ctx.dataTypes.includes(b.proctype) || typeof b.attributes.handoff !== 'string') continue;
    const d = dateToDays(b.attributes.handoff);
    if (d === undefined || d < firstDay || d > lastDay || owner.has(d)) continue;
    const destination = backends.some((x) => isLive(x) && ctx.dataTypes.includes(x.proctype) && x.proctype !== b.proctype);
    if (destination) return { kind: 'hold', day: b.attributes.handoff, holder: b.name };
  }
  if (owner.size === 0) {
    throw new TickbusError(
      ErrorCode.NO_MATCHING_PROCESS,
      `no live process holds ${plan.table} between ${daysToDate(firstDay)} and ${daysToDate(lastDay)}; holders: ${summary(groups)}`,
      { table: plan.table, from: daysToDate(firstDay), to: daysToDate(lastDay), dataTypes: ctx.dataTypes },
    );
  }
  // Who answers each day: its owner, or (today, next to a windowed RDB) an IDB and the RDB split
  // by log sequence (data_access_seq.ts). Runs of consecutive days answered alike become one part
  // per member each, in time order.
  const days = [...owner.keys()].sort((a, b) => a - b);
  const runs: Array<{ key: string; members: DayMember[]; from: number; to: number }> = [];
  // Most days (the HDB's, an RDB without a window) need no look at sequences; a windowed RDB's
  // open-ended range is one assignment for every day past its newest listed day (memo).
  const windowed = groups.map((g) => isWindowed(backends, g));
  const newest = groups.map((g) => newestListed(backends, g));
  const plain = groups.map((_, gi) => ({ key: JSON.stringify([{ group: gi }]), members: [{ group: gi }] }));
  const holds = (i: number, date: string) => daysWithin(groups[i]!.coverage, dateToDays(date)!, dateToDays(date)!).length > 0;
  const memo = new Map<string, { key: string; members: DayMember[] } | { hold: string }>();
  for (const d of days) {
    const gi = owner.get(d)!;
    let a: { key: string; members: DayMember[] } | { hold: string };
    if (!windowed[gi]) a = plain[gi]!;
    else {
      const date = newest[gi] !== undefined && daysToDate(d) > newest[gi]! ? newest[gi]! : daysToDate(d);
      const k = `${gi}\u0000${date}`;
      let m = memo.get(k);
      if (!m) {
        const x = assignDay(backends, groups, holds, gi, date, plan.table);
        m = x.kind === 'hold' ? { hold: x.holder } : { key: JSON.stringify(x.members), members: x.members };
        memo.set(k, m);
      }
      a = m;
    }
    if ('hold' in a) return { kind: 'hold', day: daysToDate(d), holder: a.hold };
    const key = a.key;
    const last = runs[runs.length - 1];
    if (last && last.key === key) last.to = d;
    else runs.push({ key, members: a.members, from: d, to: d });
  }
  const partCount = runs.reduce((n, r) => n + r.members.length, 0);
  if (partCount > ctx.partsPerQueryMax) {
    throw new TickbusError(ErrorCode.BAD_QUERY, `start: the range spans ${partCount} process ranges; at most ${ctx.partsPerQueryMax}`, { param: 'start' });
  }
  const single = partCount === 1;
  if (!single) {
    const med = plan.aggs.find((a) => a.op === 'med');
    if (med) {
      throw new TickbusError(
        ErrorCode.BAD_QUERY,
        `aggregations: ${med.name} (med) cannot be merged across processes (${summary(groups)}); query a range one process holds, or one day at a time`,
        { param: 'aggregations', aggregation: med.name },
      );
    }
  }
  const parts: PartSpec[] = runs.flatMap((run) => {
    const [lo] = dayBoundsNs(run.from, ctx.eodTime, ctx.eodZone);
    const [, hi] = dayBoundsNs(run.to, ctx.eodTime, ctx.eodZone);
    const start = lo > plan.startNs ? lo : plan.startNs;
    const end = hi - 1n < plan.endNs ? hi - 1n : plan.endNs;
    return run.members.map((m) => {
      const g = groups[m.group]!;
      const sub: Record<string, unknown> = { ...(request as Record<string, unknown>), type: GETDATA_TYPE, start: start.toString(), end: end.toString() };
      if (m.upToSeq !== undefined) sub.upToSeq = m.upToSeq;
      if (m.afterSeq !== undefined) sub.afterSeq = m.afterSeq;
      // An in-memory holder (open-ended range: an RDB) lets days go at end of day: it is told the
      // first day this view routed to it, and refuses (a stale route, re-planned) if it no longer
      // holds it, rather than answering without that day's rows.
      if (g.coverage.kind === 'range' && g.coverage.to === OPEN_END) sub.fromDay = daysToDate(run.from);
      if (!single && plan.kind === 'agg') sub.partial = true;
      return { proctype: g.proctype, names: g.names, request: sub };
    });
  });
  return { kind: 'parts', parts, merge: mergeFor(plan, single), plan };
};
