// The supervisor's view of each process (KV bucket `sup`) as table cells, for `actors up`'s status
// table and `actors ps`: state, restarts, the last exit (code or signal) and uptime.
import type { NatsConnection } from '@nats-io/nats-core';
import { readSupRecords } from './sup_store.ts';
import { SupState, type SupRecord } from './supervisor.ts';

export const SUP_HEADERS = ['sup state', 'restarts', 'last exit', 'uptime'] as const;

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** [state, restarts, last exit, uptime] of one record at nowMs. */
export function supCells(r: SupRecord, nowMs: number): [string, string, string, string] {
  const exit = r.lastExit ? (r.lastExit.signal ?? `code ${r.lastExit.code}`) : '';
  const up = (r.state === SupState.running || r.state === SupState.starting) && r.startedAt ? duration(nowMs - Date.parse(r.startedAt)) : '';
  const state = r.state === SupState.backoff && r.nextStartAt ? `backoff (${duration(Date.parse(r.nextStartAt) - nowMs)})` : r.state;
  return [state, String(r.restarts), exit, up];
}

/**
 * For `actors ps`: the extra cells of a registered process (empty when no supervisor runs it), and
 * rows for supervised processes that are not registered (in backoff, failed, stopped).
 */
export async function supColumns(nc: NatsConnection, nowMs = Date.now()): Promise<{ headers: readonly string[]; cells(procname: string): string[]; record(procname: string): SupRecord | undefined; unregistered(registered: Set<string>): SupRecord[] }> {
  const records = await readSupRecords(nc).catch(() => new Map<string, SupRecord>());
  return {
    headers: SUP_HEADERS,
    cells: (name) => {
      const r = records.get(name);
      return r ? supCells(r, nowMs) : ['', '', '', ''];
    },
    record: (name) => records.get(name),
    unregistered: (registered) => [...records.values()].filter((r) => !registered.has(r.procname)),
  };
}
