// A live backend as the gateway's planner sees it (actors/gateway/routing.ts BackendView), for
// planner tests and the 3-tier bench.
import type { BackendView } from '../../actors/gateway/routing.ts';

export function backendView(name: string, proctype: string, attributes: Record<string, unknown>): BackendView {
  return { name, proctype, attributes, health: 'ok', gone: false, inflight: 0, capacity: 1, heavyInflight: 0, heavySlots: 1, served: 0 };
}
