// TorQ's sort process (`actors start sort`, or a wdb with mode sort): waits for a WDB in mode
// save to ask (sort.trigger, queue group `sort`: one sort process takes each day), merges the
// flushed day into the HDB with the WDB's own merge (storage/intraday/merge.ts), marks the
// manifest merged and replies per table. One day at a time; a day whose manifest is not flushed
// or not found is a typed error in the reply.
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { subjects } from '../../bus/subjects.ts';
import { readManifest } from '../../storage/intraday/manifest.ts';
import { defineSchema } from '../../storage/schema.ts';
import type { RunningProcess } from '../common/runtime.ts';
import { mergeFlushedDay, outcomes, SORT_DONE_TYPE, SORT_TYPE, type SortDone, type SortRequest } from './eod.ts';
import { wdbSettings, type WdbSettings } from './settings.ts';

export async function startSort(nc: NatsConnection, settings: Partial<WdbSettings> & Pick<WdbSettings, 'name' | 'tables'> & { tp?: string }, logger: Logger): Promise<RunningProcess> {
  const s = wdbSettings({ tp: '', ...settings, mode: 'sort' });
  const schema = defineSchema(s.tables);
  let chain: Promise<unknown> = Promise.resolve();
  const stats = { sorted: 0, failed: 0, last: undefined as SortDone | undefined };

  async function handle(m: Msg): Promise<void> {
    let body: unknown;
    try {
      const req = decode<SortRequest>(m.data);
      if (req?.type !== SORT_TYPE) throw new TickbusError(ErrorCode.BAD_TYPE, `sort.trigger takes ${SORT_TYPE}`, { type: (req as { type?: unknown })?.type });
      if (typeof req.day !== 'string' || typeof req.wdbDir !== 'string' || typeof req.hdbDir !== 'string') {
        throw new TickbusError(ErrorCode.BAD_QUERY, 'a sort request needs day, wdbDir and hdbDir', { param: 'day' });
      }
      const manifest = await readManifest(req.wdbDir, req.day);
      if (!manifest) throw new TickbusError(ErrorCode.BAD_QUERY, `no intraday manifest for ${req.day} in ${req.wdbDir}`, { param: 'day', day: req.day });
      if (manifest.eodSeq === undefined) throw new TickbusError(ErrorCode.BAD_QUERY, `intraday ${req.day} is not flushed yet (no end of day)`, { param: 'day', day: req.day });
      logger.info({ day: req.day, wdb: req.wdb }, 'sort: merging a flushed day');
      const rs = await mergeFlushedDay(s, schema, manifest, logger, req.wdbDir, req.hdbDir);
      const done: SortDone = { type: SORT_DONE_TYPE, day: req.day, by: s.name, tables: outcomes(rs) };
      stats.sorted++;
      stats.last = done;
      body = done;
    } catch (e) {
      stats.failed++;
      body = toTickbusError(e).toEnvelope();
    }
    if (m.reply) {
      try {
        m.respond(encode(body));
      } catch {
        // the asking WDB went away: it merges or retries on its restart
      }
    }
  }

  const serve = (m: Msg) => {
    chain = chain.then(() => handle(m));
  };
  const subs: Subscription[] = [
    nc.subscribe(subjects.sortTrigger, { queue: 'sort', callback: (_e, m) => serve(m) }),
    nc.subscribe(subjects.sortTriggerTo(s.name), { callback: (_e, m) => serve(m) }),
  ];
  return {
    ready: async () => {},
    async stop() {
      for (const x of subs) x.unsubscribe();
      await chain;
    },
    status: () => ({ ...stats }),
  };
}
