// TorQ's end-of-day reload sequence after the WDB's merge: `reloadstart` to gateways (they may
// hold HDB-bound queries for the day, at most holdMs: a gateway ends the hold itself, so a lost
// `reloadend` never leaves it stuck, TorQ bug #661), then the HDBs are told to reload (hdb.reload)
// and each process type of reloadOrder is waited for in turn, bounded: an HDB until it holds the
// day, any other type (an RDB in reload mode, an IDB) until it no longer advertises it; then
// `reloadend`, whatever happened.
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import { encode } from '../../bus/codec.ts';
import type { Logger } from '../../bus/log.ts';
import { kv, subjects } from '../../bus/subjects.ts';
import { announceReload } from '../rdb/write_down.ts';

export const RELOAD_START_TYPE = 'tickbus.v1.wdb.reloadstart';
export const RELOAD_END_TYPE = 'tickbus.v1.wdb.reloadend';

export interface ReloadStart {
  type: typeof RELOAD_START_TYPE;
  wdb: string;
  date: string;
  tables: string[];
  /** Bound on a gateway's hold for this reload: past it the gateway ends the hold by itself. */
  holdMs: number;
}
export interface ReloadEnd {
  type: typeof RELOAD_END_TYPE;
  wdb: string;
  date: string;
  /** Per type of reloadOrder: did it reach its state within reloadWaitMs. */
  steps: Array<{ proctype: string; ok: boolean; ms: number }>;
}

/** Whether registry attributes advertise `day` (`first`..`last`, else the ends of `dates`, as actors/rdb/write_down.ts waitForHdb reads them). */
export function advertises(a: Record<string, unknown>, day: string): boolean {
  const dates = Array.isArray(a.dates) ? (a.dates as string[]) : [];
  const first = typeof a.first === 'string' ? a.first : dates[0];
  const last = typeof a.last === 'string' ? a.last : dates[dates.length - 1];
  return (first !== undefined && last !== undefined && first <= day && day <= last) || dates.includes(day);
}

/**
 * Waits (polling the registry every 100 ms, at most timeoutMs) until every registered process of
 * `proctype` satisfies `ok` on its attributes; true at once when none is registered.
 */
export async function registryWait(nc: NatsConnection, proctype: string, ok: (a: Record<string, unknown>) => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let all = true;
    try {
      const bucket = await new Kvm(nc).open(kv.registryBucket);
      for await (const key of await bucket.keys(`${proctype}.*`)) {
        const e = await bucket.get(key);
        if (!e || e.operation !== 'PUT') continue;
        const a = (JSON.parse(e.string()) as { attributes?: Record<string, unknown> }).attributes ?? {};
        if (!ok(a)) all = false;
      }
    } catch {
      return false; // no registry: nothing to wait for
    }
    if (all) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function reloadSequence(
  nc: NatsConnection,
  o: { wdb: string; date: string; tables: string[]; rows: Record<string, number>; reloadOrder: readonly string[]; reloadWaitMs: number; reloadHoldMs: number },
  logger: Logger,
): Promise<ReloadEnd> {
  const publish = (subject: string, body: unknown) => {
    try {
      nc.publish(subject, encode(body));
    } catch {
      // disconnected: the gateway's hold ends by itself after holdMs
    }
  };
  const start: ReloadStart = { type: RELOAD_START_TYPE, wdb: o.wdb, date: o.date, tables: o.tables, holdMs: o.reloadHoldMs };
  publish(subjects.wdbReloadStart(o.wdb), start);
  const end: ReloadEnd = { type: RELOAD_END_TYPE, wdb: o.wdb, date: o.date, steps: [] };
  try {
    announceReload(nc, { date: o.date, tables: o.tables, rows: o.rows });
    for (const proctype of o.reloadOrder) {
      const t0 = Date.now();
      const ok = await registryWait(nc, proctype, (a) => (proctype === 'hdb' ? advertises(a, o.date) : !advertises(a, o.date)), o.reloadWaitMs);
      end.steps.push({ proctype, ok, ms: Date.now() - t0 });
      if (!ok) logger.warn({ date: o.date, proctype, waitedMs: Date.now() - t0 }, 'reload: a process type did not reach its state in time; going on');
    }
  } finally {
    publish(subjects.wdbReloadEnd(o.wdb), end);
  }
  logger.info({ date: o.date, steps: end.steps }, 'end-of-day reload sequence done');
  return end;
}
