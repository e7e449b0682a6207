// The IDB process (TorQ's idb): today's intraday files, written by a WDB, served through DuckDB
// with the HDB's query API (getdata, asof, sql, the simple query) on q.idb.<name> / q.idb. It is
// the HDB reader (storage/hdb/hdb.ts) pointed at the manifests' file lists instead of a directory
// scan, so a file the manifest does not list (a crashed write-down) is never read. It reloads
// after every WDB written notice (and on a timer as a fallback), advertises per day and table the
// last log sequence written, and drops a day once the manifest says it is merged into the HDB.
// A getdata may carry `upToSeq`: only the files at or below that sequence are read (the gateway's
// cut between the IDB and the RDB's recent window).
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { createActor, fromPromise, waitFor } from 'xstate';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { subjects } from '../../bus/subjects.ts';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { ASOF_TYPE, GETDATA_TYPE, SQL_TYPE, assertRequestType } from '../../storage/query/request.ts';
import { QUERY_TYPE } from '../../storage/query/simple.ts';
import type { RunningProcess } from '../common/runtime.ts';
import { hdbMachine } from '../hdb/machine.ts';
import { coverage, cutFilter, emptyView, readView, type IntradayView } from './coverage.ts';
import { defaultIdbSettings, type IdbSettings } from './settings.ts';

const IDB_TYPES = [GETDATA_TYPE, QUERY_TYPE, ASOF_TYPE, SQL_TYPE];

/** The notices an IDB reloads on: one WDB's (`wdb` set) or every WDB's. */
export function idbSubjects(wdb?: string): string[] {
  const w = wdb ?? '*';
  return [subjects.wdbWritten(w), subjects.wdbReloadStart(w), subjects.wdbReloadEnd(w)];
}

export interface IdbProcess extends RunningProcess {
  hdb(): Hdb;
  view(): IntradayView;
  reload(): void;
}

export async function startIdb(
  nc: NatsConnection,
  settings: Partial<IdbSettings> & Pick<IdbSettings, 'name' | 'wdbDir'>,
  logger: Logger,
  /** Called after each reload: the runtime re-registers the new coverage at once. */
  onReloaded: () => void = () => {},
): Promise<IdbProcess> {
  const s: IdbSettings = { ...defaultIdbSettings, ...settings };
  let hdb: Hdb | undefined;
  /** The view the Hdb's current snapshot was listed from (swapped in together with it). */
  let view = emptyView();
  let listed = view;
  /** The last day seen merged: advertised as `handoff` so a gateway holds a query needing it until the HDB has it. */
  let handoff: string | undefined;
  const listing = async () => {
    listed = await readView(s.wdbDir, s.tp);
    return listed.listing;
  };
  const machine = hdbMachine.provide({
    actors: {
      open: fromPromise(async () => {
        // The area is the WDB's: its staging is not ours to clean.
        hdb = await Hdb.open(s.wdbDir, { threads: s.threads, memoryLimit: s.memoryLimit, sqlTimeoutMs: s.sqlTimeoutMs, recoverOnOpen: false, listing });
        view = listed;
        handoff = view.merged[view.merged.length - 1];
        logger.info({ dir: s.wdbDir, days: [...view.manifests.keys()], files: view.files.size }, 'idb opened');
        onReloaded();
      }),
      reload: fromPromise(async () => {
        const r = await hdb!.reload();
        view = listed; // no await since the Hdb swapped its snapshot: queries see both or neither
        const merged = view.merged[view.merged.length - 1];
        if (merged && (!handoff || merged > handoff)) handoff = merged;
        if (r.problems.length) logger.warn({ problems: r.problems }, 'idb files left out: unreadable');
        logger.debug({ days: [...view.manifests.keys()], files: view.files.size }, 'idb reloaded');
        onReloaded();
      }),
    },
  });
  const actor = createActor(machine);
  actor.start();
  // A write-down (written) and the end-of-day reload sequence (reloadstart/reloadend: a merged day goes).
  const subs: Subscription[] = idbSubjects(s.wdb).map((subj) => nc.subscribe(subj, { callback: () => actor.send({ type: 'hdb.reload' }) }));
  const timer = s.rescanMs > 0 ? setInterval(() => actor.send({ type: 'hdb.reload' }), s.rescanMs) : undefined;
  timer?.unref();
  const ready = () => {
    if (!hdb || actor.getSnapshot().matches('opening')) throw new TickbusError(ErrorCode.NOT_READY, 'idb is opening', {});
    return hdb;
  };
  return {
    async ready(timeoutMs = 60_000) {
      const snap = await waitFor(actor, (x) => !x.matches('opening'), { timeout: timeoutMs });
      if (snap.matches('failed')) throw new Error(`idb failed to open: ${snap.context.lastError}`);
    },
    hdb: () => ready(),
    view: () => view,
    reload: () => actor.send({ type: 'hdb.reload' }),
    async query(request: unknown) {
      const h = ready();
      assertRequestType(request, IDB_TYPES, 'an idb');
      const type = (request as { type?: unknown })?.type;
      if (type === SQL_TYPE) return await h.sql((request as { sql?: unknown }).sql);
      if (type === ASOF_TYPE) return await h.asof(request);
      if (request === null || typeof request !== 'object') return await h.query(request);
      const { upToSeq, ...rest } = request as Record<string, unknown>;
      const table = typeof rest.table === 'string' ? rest.table : '';
      // An unreadable listed file leaves its (day, table) out of the reader: answering without it
      // would be short, so the table is refused (and not advertised) until the file reads again.
      const bad = h.problems().find((p) => p.table === table);
      if (bad) throw new TickbusError(ErrorCode.INTERNAL, `idb: ${bad.file} (${table}, ${bad.date}) cannot be read: ${bad.error}`, { table, date: bad.date, file: bad.file });
      return await h.query(rest, cutFilter(view, table, upToSeq));
    },
    attributes() {
      if (!hdb) return {};
      const days = coverage(view, new Set(hdb.problems().map((p) => `${p.date}/${p.table}`)));
      const dates = Object.keys(days).sort();
      const latest = dates.length ? days[dates[dates.length - 1]!]! : undefined;
      // `days` is what the gateway splits by; `day`, `lastSeq` and `maxTime` summarise the newest day for people.
      return {
        dir: s.wdbDir,
        dates,
        tables: hdb.tables(),
        days,
        ...(latest ? { day: dates[dates.length - 1], lastSeq: latest.lastSeq, ...(latest.maxTimeNs ? { maxTime: new Date(Number(BigInt(latest.maxTimeNs) / 1_000_000n)).toISOString() } : {}) } : {}),
        ...(handoff ? { handoff } : {}),
        problems: hdb.problems(),
      };
    },
    status() {
      const snap = actor.getSnapshot();
      return { state: snap.value, reloads: snap.context.reloads, days: [...view.manifests.keys()], files: view.files.size, tables: hdb?.tables() ?? [], problems: hdb?.problems().length ?? 0 };
    },
    async stop() {
      for (const sub of subs) sub.unsubscribe();
      if (timer) clearInterval(timer);
      actor.send({ type: 'hdb.stop' });
      hdb?.close();
    },
  };
}
