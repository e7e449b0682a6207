// A gateway request's target turned into the scheduler's resolver: which backends get which part.
// A targetless getdata is split by trading day (data_access.ts) and held while a day is handed
// over or reloaded (reload_hold.ts); a type or attribute target goes to those backends
// (routing.ts), a getdata across several of them split or merged so that it answers as one query.
// Split from effects.ts; pure apart from reading the reload holds.
import { GETDATA_TYPE } from '../../storage/query/request.ts';
import { mergeAcrossParts, type DataAccessContext, type DataAccessPlanner } from './data_access.ts';
import type { JoinFn } from './joins.ts';
import type { ReloadHolds } from './reload_hold.ts';
import type { GatewayRequest } from './request.ts';
import { partsForAttributes, partsForTypes, type BackendView } from './routing.ts';
import type { Resolution } from './scheduler.ts';
import type { GatewaySettings } from './settings.ts';

const isGetdata = (q: unknown) => typeof q === 'object' && q !== null && (q as { type?: unknown }).type === GETDATA_TYPE;

/** What a resolver adds to the gateway's own record of a query: the data-access merge. */
export type ResolvedMeta = { merge?: JoinFn };

export interface ResolveContext {
  planner: DataAccessPlanner;
  reloads: ReloadHolds;
  dataCtx: DataAccessContext;
  s: Pick<GatewaySettings, 'dataTypes' | 'attributeCombosMax'>;
}

export function resolverFor<M extends ResolvedMeta>(req: GatewayRequest, c: ResolveContext): (backends: readonly BackendView[]) => Resolution<M> {
  const { planner, reloads, dataCtx, s } = c;
  const t = req.target;
  const byTime = (ctx: DataAccessContext) => (backends: readonly BackendView[]): Resolution<M> => {
    const o = planner(req.query, backends, ctx);
    if (o.kind === 'hold') return { kind: 'hold', reason: `day ${o.day} is being handed over by ${o.holder}`, detail: { day: o.day, holder: o.holder } };
    const r = reloads.blocking(o.parts, ctx.eodTime, ctx.eodZone);
    if (r) return { kind: 'hold', reason: `day ${r.day} is being reloaded by ${r.wdb}`, detail: { day: r.day, holder: r.wdb } };
    return { kind: 'parts', parts: o.parts, meta: { merge: o.merge } as Partial<M> };
  };
  if (t.kind === 'types') {
    // A getdata sent to several types with the default join is split by time range among them
    // and merged like a targetless one: razing each backend's answer would give one aggregate
    // row per backend (counts side by side, averages not merged), a half-merged answer.
    if (t.types.length > 1 && isGetdata(req.query) && req.join === 'raze') {
      const order = [...s.dataTypes.filter((x) => t.types.includes(x)), ...t.types.filter((x) => !s.dataTypes.includes(x))];
      const plan = byTime({ ...dataCtx, dataTypes: order });
      return (backends) => {
        partsForTypes(t.types, req.query, backends); // TYPE_NOT_AVAILABLE when a named type is missing, as before
        return plan(backends);
      };
    }
    return (backends) => ({ kind: 'parts', parts: partsForTypes(t.types, req.query, backends) });
  }
  if (t.kind === 'attributes') {
    if (isGetdata(req.query) && req.join === 'raze') {
      return (backends) => {
        const m = mergeAcrossParts(req.query, partsForAttributes(t, req.query, backends, s.attributeCombosMax), dataCtx);
        return { kind: 'parts', parts: m.parts, ...(m.merge ? { meta: { merge: m.merge } as Partial<M> } : {}) };
      };
    }
    return (backends) => ({ kind: 'parts', parts: partsForAttributes(t, req.query, backends, s.attributeCombosMax) });
  }
  return byTime(dataCtx);
}
