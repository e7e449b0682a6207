// Which backends a query runs on (TorQ's gatewaylib.q getserverids). Pure: the target and the live
// backends in, the parts out, or a typed error naming what is missing.
//  - Types: one part per type, run by any live backend of that type (replicas share the load).
//  - Attributes: backends with identical attributes form a replica group; groups are chosen to cover
//    the filter, `cross` (every combination of the requested values must be held by one group) or
//    `independent` (each requested value by some group), best effort by default (cover what can be
//    covered; error only when nothing matches). One part per chosen group.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { filterValues, holds, type HealthState } from '../common/discovery.ts';
import type { Target } from './request.ts';

/** A backend as routing and the hooks see it. */
export interface BackendView {
  name: string;
  proctype: string;
  attributes: Record<string, unknown>;
  health: HealthState;
  /** Marked gone (deregistered, no responders, heartbeat lost) until it registers again. */
  gone: boolean;
  /** When it was marked gone (clock ms). */
  goneAtMs?: number;
  /** Parts running on it now, and how many it may run at once. */
  inflight: number;
  capacity: number;
  /** Heavy parts running on it now, and the most it may run at once (lanes.ts). */
  heavyInflight: number;
  heavySlots: number;
  /** Parts it has answered. */
  served: number;
}

/** One part of a query: what runs where. `names` narrows the part to a replica group. */
export interface PartSpec {
  proctype: string;
  names?: readonly string[];
  request: unknown;
}

export function isLive(b: BackendView): boolean {
  return !b.gone && b.health !== 'error';
}

function typesOf(backends: readonly BackendView[]): string[] {
  return [...new Set(backends.filter(isLive).map((b) => b.proctype))].sort();
}

function hasLive(backends: readonly BackendView[], proctype: string): boolean {
  for (const b of backends) if (b.proctype === proctype && isLive(b)) return true;
  return false;
}

/** One part per requested type, or TYPE_NOT_AVAILABLE at once naming the missing and the available types. */
export function partsForTypes(types: readonly string[], request: unknown, backends: readonly BackendView[]): PartSpec[] {
  if (types.length === 1 && hasLive(backends, types[0]!)) return [{ proctype: types[0]!, request }]; // the common case, nothing else built
  const available = typesOf(backends);
  const missing = types.filter((t) => !available.includes(t));
  if (missing.length > 0) {
    throw new TickbusError(
      ErrorCode.TYPE_NOT_AVAILABLE,
      `not all of the requested process types are available; missing: ${missing.join(', ')}; available: ${available.join(', ') || 'none'}`,
      { missing, available, requested: types },
    );
  }
  return types.map((proctype) => ({ proctype, request }));
}

interface Group {
  proctype: string;
  names: string[];
  attributes: Record<string, unknown>;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Live backends grouped by type and identical attributes (replicas of one dataset). */
export function replicaGroups(backends: readonly BackendView[], types?: readonly string[]): Group[] {
  const groups = new Map<string, Group>();
  for (const b of backends) {
    if (!isLive(b) || (types && !types.includes(b.proctype))) continue;
    const key = `${b.proctype}\u0000${stableJson(b.attributes)}`;
    const g = groups.get(key);
    if (g) g.names.push(b.name);
    else groups.set(key, { proctype: b.proctype, names: [b.name], attributes: b.attributes });
  }
  return [...groups.values()].map((g) => ({ ...g, names: g.names.sort() })).sort((a, b) => (a.names[0]! < b.names[0]! ? -1 : 1));
}

type Requirement = Array<[string, unknown]>;

/** Every combination of the requested values (cross), or each value on its own (independent). */
export function requirements(filter: Record<string, unknown>, match: 'cross' | 'independent', combosMax: number): Requirement[] {
  const entries = Object.entries(filter).map(([k, v]) => [k, filterValues(v)] as const);
  if (match === 'independent') return entries.flatMap(([k, vs]) => vs.map((v) => [[k, v]] as Requirement));
  let combos: Requirement[] = [[]];
  for (const [k, vs] of entries) {
    if (combos.length * vs.length > combosMax) {
      throw new TickbusError(ErrorCode.BAD_QUERY, `target.attributes: a cross match of these values has more than ${combosMax} combinations; use match "independent"`, {
        param: 'target.attributes',
        max: combosMax,
      });
    }
    combos = combos.flatMap((c) => vs.map((v) => [...c, [k, v]] as Requirement));
  }
  return combos;
}

function covers(g: Group, r: Requirement): boolean {
  return r.every(([k, v]) => holds(g.attributes, k, v));
}

function describe(r: Requirement): string {
  return r.map(([k, v]) => `${k}=${String(v)}`).join(' ');
}

/**
 * Replica groups covering an attribute filter, chosen greedily (the group covering most of what is
 * still uncovered first), and what stays uncovered.
 */
export function coverAttributes(
  groups: readonly Group[],
  filter: Record<string, unknown>,
  match: 'cross' | 'independent',
  combosMax: number,
): { chosen: Group[]; uncovered: Requirement[] } {
  let open = requirements(filter, match, combosMax);
  const chosen: Group[] = [];
  const pool = [...groups];
  while (open.length > 0) {
    let best = -1;
    let bestCount = 0;
    pool.forEach((g, i) => {
      const n = open.filter((r) => covers(g, r)).length;
      if (n > bestCount) {
        best = i;
        bestCount = n;
      }
    });
    if (best < 0) break;
    const g = pool.splice(best, 1)[0]!;
    chosen.push(g);
    open = open.filter((r) => !covers(g, r));
  }
  return { chosen, uncovered: open };
}

export function partsForAttributes(target: Extract<Target, { kind: 'attributes' }>, request: unknown, backends: readonly BackendView[], combosMax: number): PartSpec[] {
  const groups = replicaGroups(backends, target.types);
  const { chosen, uncovered } = coverAttributes(groups, target.attributes, target.match, combosMax);
  if (chosen.length === 0 || (!target.bestEffort && uncovered.length > 0)) {
    const what = uncovered.slice(0, 20).map(describe);
    throw new TickbusError(
      ErrorCode.NO_MATCHING_PROCESS,
      chosen.length === 0
        ? `no live process matches the requested attributes${target.types ? ` among types ${target.types.join(', ')}` : ''}`
        : `cannot satisfy the query: the ${target.match} match of the requested attributes is not covered: ${what.join('; ')}`,
      { unmatched: what, match: target.match, bestEffort: target.bestEffort, types: target.types ?? null },
    );
  }
  return chosen.map((g) => ({ proctype: g.proctype, names: g.names, request }));
}
