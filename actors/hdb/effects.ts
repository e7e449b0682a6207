// The HDB process: the Parquet HDB (storage/hdb) on the bus. Serves getdata, as-of joins,
// read-only SQL and the simple query on q.hdb.<name> / q.hdb (through the process runtime),
// reloads when an RDB or a replay announces a partition (hdb.reload) and on a timer, and reports
// its partitions, tables and problems (corrupt files) as registry attributes.
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { createActor, fromPromise, waitFor } from 'xstate';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { subjects } from '../../bus/subjects.ts';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { ASOF_TYPE, GETDATA_TYPE, SQL_TYPE, assertRequestType } from '../../storage/query/request.ts';
import { QUERY_TYPE } from '../../storage/query/simple.ts';

/** What q.hdb takes besides named-API calls (served by the runtime before this). */
const HDB_TYPES = [GETDATA_TYPE, QUERY_TYPE, ASOF_TYPE, SQL_TYPE];
import type { RunningProcess } from '../common/runtime.ts';
import { hdbMachine } from './machine.ts';
import { defaultHdbSettings, type HdbSettings } from './settings.ts';

export interface HdbProcess extends RunningProcess {
  hdb(): Hdb;
  reload(): void;
}

export async function startHdb(
  nc: NatsConnection,
  settings: Partial<HdbSettings> & Pick<HdbSettings, 'name' | 'hdbDir'>,
  logger: Logger,
  /** Called after each reload: the runtime re-registers the new dates at once (the RDB waits for them). */
  onReloaded: () => void = () => {},
): Promise<HdbProcess> {
  const s: HdbSettings = { ...defaultHdbSettings, ...settings };
  let hdb: Hdb | undefined;
  const machine = hdbMachine.provide({
    actors: {
      open: fromPromise(async () => {
        hdb = await Hdb.open(s.hdbDir, { threads: s.threads, memoryLimit: s.memoryLimit, sqlTimeoutMs: s.sqlTimeoutMs });
        logger.info({ dir: s.hdbDir, partitions: hdb.partitions().length, tables: hdb.tables(), problems: hdb.problems().length }, 'hdb opened');
      }),
      reload: fromPromise(async () => {
        const r = await hdb!.reload();
        if (r.problems.length) logger.warn({ problems: r.problems }, 'hdb partitions left out: unreadable files');
        logger.info({ partitions: r.partitions, tables: r.tables }, 'hdb reloaded');
        onReloaded();
      }),
    },
  });
  const actor = createActor(machine);
  actor.start();
  const sub: Subscription = nc.subscribe(subjects.hdbReload, { callback: () => actor.send({ type: 'hdb.reload' }) });
  const timer = s.rescanMs > 0 ? setInterval(() => actor.send({ type: 'hdb.reload' }), s.rescanMs) : undefined;
  timer?.unref();
  const ready = () => {
    const snap = actor.getSnapshot();
    if (!hdb || snap.matches('opening')) throw new TickbusError(ErrorCode.NOT_READY, 'hdb is opening', {});
    return hdb;
  };
  return {
    async ready(timeoutMs = 60_000) {
      const snap = await waitFor(actor, (x) => !x.matches('opening'), { timeout: timeoutMs });
      if (snap.matches('failed')) throw new Error(`hdb failed to open: ${snap.context.lastError}`);
    },
    hdb: () => ready(),
    reload: () => actor.send({ type: 'hdb.reload' }),
    async query(request: unknown) {
      const h = ready();
      assertRequestType(request, HDB_TYPES, 'an hdb');
      const type = (request as { type?: unknown })?.type;
      if (type === SQL_TYPE) return await h.sql((request as { sql?: unknown }).sql);
      if (type === ASOF_TYPE) return await h.asof(request);
      return await h.query(request);
    },
    attributes() {
      if (!hdb) return {};
      const info = hdb.info() as Record<string, unknown>;
      const dates = hdb.partitions();
      return { ...info, dates: dates.length ? [dates[0], dates[dates.length - 1]] : [], tables: hdb.tables() };
    },
    status() {
      const snap = actor.getSnapshot();
      return { state: snap.value, reloads: snap.context.reloads, partitions: hdb?.partitions().length ?? 0, tables: hdb?.tables() ?? [], problems: hdb?.problems().length ?? 0 };
    },
    async stop() {
      sub.unsubscribe();
      if (timer) clearInterval(timer);
      actor.send({ type: 'hdb.stop' });
      hdb?.close();
    },
  };
}
