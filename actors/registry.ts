// Process types by name: how `actors start <type>` and `actors up` turn a process description
// (type, name, settings) into a running process.
import { isAbsolute, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import type { Logger } from '../bus/log.ts';
import { subjects } from '../bus/subjects.ts';
import type { ProcessContext, RunningProcess } from './common/runtime.ts';
import { startChainedTp } from './chainedtp/effects.ts';
import { startCompression } from './compression/effects.ts';
import { startFeed } from './feed/effects.ts';
import { startFileAlerter } from './filealerter/effects.ts';
import { startHdb } from './hdb/effects.ts';
import { idbSubjects, startIdb } from './idb/effects.ts';
import { startHousekeeping } from './housekeeping/effects.ts';
import { startGateway } from './gateway/effects.ts';
import type { GatewaySettings } from './gateway/settings.ts';
import { startMonitor } from './monitor/effects.ts';
import { startRdb } from './rdb/effects.ts';
import { startReporter } from './reporter/effects.ts';
import { startRtp } from './rtp/effects.ts';
import type { RtpSettings } from './rtp/settings.ts';
import type { ReporterSettings } from './reporter/settings.ts';
import { startStreams } from './streams/effects.ts';
import { startTickerplant } from './tickerplant/effects.ts';
import { startWdb } from './wdb/effects.ts';
import { startSort } from './wdb/sort.ts';

export interface ProcessType {
  /** Subjects the process serves, for the registry. */
  subjects(name: string, settings: Record<string, unknown>): string[];
  /** `ctx` (from the process runtime) carries the process's named-API table. */
  start(nc: NatsConnection, name: string, settings: Record<string, unknown>, logger: Logger, ctx?: ProcessContext): Promise<RunningProcess>;
}

type Settings = Record<string, unknown> & { tables: Record<string, Record<string, string>> };

/** A relative data path (hdbDir) is taken inside $TICKBUS_DATA (set by `actors up --data`), else ./data. */
export function dataPath(p: string): string {
  return isAbsolute(p) ? p : resolve(process.env.TICKBUS_DATA ?? 'data', p);
}

function withDataPaths(settings: Record<string, unknown>): Record<string, unknown> {
  const out = typeof settings.hdbDir === 'string' ? { ...settings, hdbDir: dataPath(settings.hdbDir) } : settings;
  return typeof out.wdbDir === 'string' ? { ...out, wdbDir: dataPath(out.wdbDir) } : out;
}

export const processTypes: Record<string, ProcessType> = {
  tickerplant: {
    subjects: (name) => [subjects.updWildcard(name), subjects.updMulti(name), subjects.tickAll(name)],
    start: async (nc, name, settings, logger, ctx) => {
      const tp = await startTickerplant(nc, { ...(settings as Settings), name }, logger, ctx?.clock);
      return { ready: (t) => tp.ready(t), stop: () => tp.stop(), status: () => tp.status() };
    },
  },
  chainedtp: {
    // A chained tickerplant (TorQ's chainedtp / SCTP): follows `parent`, republishes to TICK_<name>
    // (log mode create) or routes its subscribers to the parent's log (none, parent); docs/chainedtp.md.
    subjects: (name, settings) => (settings.logMode === 'none' || settings.logMode === 'parent' ? [] : [subjects.tickAll(name)]),
    start: async (nc, name, settings, logger, ctx) => {
      const ctp = await startChainedTp(nc, { ...(settings as Settings), name }, logger, ctx?.clock);
      return { ready: (t) => ctp.ready(t), stop: () => ctp.stop(), status: () => ctp.status(), attributes: () => ctp.attributes() };
    },
  },
  rdb: {
    subjects: (name) => [subjects.query('rdb', name), subjects.queryGroup('rdb')],
    start: async (nc, name, settings, logger, ctx) => {
      // Attributes (tables, the days held, the day being handed to the HDB) are re-registered the
      // moment a day ends and again when an HDB holds it, not only on the next heartbeat.
      const rdb = await startRdb(nc, { ...(withDataPaths(settings) as Settings & { tp: string }), name }, logger, undefined, ctx?.apis, {}, {
        onAttributesChanged: () => ctx?.refreshAttributes(),
        usage: ctx?.usage,
      });
      const attributes = () => rdb.attributes();
      return { ready: (t) => rdb.ready(t), stop: () => rdb.stop(), status: () => rdb.status(), attributes, ownsQuerySubjects: true };
    },
  },
  rtp: {
    // The real-time processor (PyKX's RTP): the RDB's log loop and queries with a processor module
    // between the log and its tables; derived updates go to a tickerplant (docs/rtp.md).
    subjects: (name) => [subjects.query('rtp', name), subjects.queryGroup('rtp')],
    start: async (nc, name, settings, logger, ctx) =>
      await startRtp(nc, { ...(settings as Partial<RtpSettings> & Settings & { tp: string }), name }, logger, {
        apis: ctx?.apis,
        usage: ctx?.usage,
        onAttributesChanged: () => ctx?.refreshAttributes(),
      }),
  },
  wdb: {
    // The write database (actors/wdb): intraday write-downs, the end-of-day merge into the HDB;
    // `mode: sort` makes it a sort process (as the `sort` type).
    subjects: (name, settings) => (settings.mode === 'sort' ? [subjects.sortTrigger, subjects.sortTriggerTo(name)] : [subjects.wdbWritten(name), subjects.wdbReloadStart(name), subjects.wdbReloadEnd(name)]),
    start: async (nc, name, settings, logger, ctx) => {
      const all = { ...(withDataPaths({ wdbDir: 'wdb', hdbDir: 'hdb', ...settings }) as Settings & { tp: string }), name };
      if (settings.mode === 'sort') return await startSort(nc, all, logger);
      const w = await startWdb(nc, all, logger, { onAttributesChanged: () => ctx?.refreshAttributes() });
      return { ready: (t) => w.ready(t), stop: () => w.stop(), status: () => w.status(), attributes: () => w.attributes() };
    },
  },
  sort: {
    // TorQ's sort process: merges a flushed intraday day into the HDB when a WDB in mode save asks.
    subjects: (name) => [subjects.sortTrigger, subjects.sortTriggerTo(name)],
    start: async (nc, name, settings, logger) => await startSort(nc, { ...(withDataPaths({ wdbDir: 'wdb', hdbDir: 'hdb', ...settings }) as Settings & { tp: string }), name, mode: 'sort' }, logger),
  },
  gateway: {
    subjects: (name) => [subjects.gatewaySync(name), subjects.gatewayAsync(name), subjects.gatewaySyncAny, subjects.gatewayAsyncAny],
    start: async (nc, name, settings, logger, ctx) => {
      const gw = await startGateway(nc, { ...(settings as Partial<GatewaySettings> & Settings), name }, logger, { apis: ctx?.apis, usage: ctx?.usage });
      return { ready: (t) => gw.ready(t), stop: () => gw.stop(), status: () => gw.status(), attributes: () => gw.attributes() };
    },
  },
  hdb: {
    subjects: (name) => [subjects.query('hdb', name), subjects.queryGroup('hdb'), subjects.hdbReload],
    start: async (nc, name, settings, logger, ctx) =>
      await startHdb(nc, { ...(withDataPaths({ hdbDir: 'hdb', ...settings }) as { hdbDir: string }), name }, logger, () => ctx?.refreshAttributes()),
  },
  idb: {
    // Today's intraday files written by a WDB (the manifests under wdbDir), reloaded on its notices.
    subjects: (name, settings) => [subjects.query('idb', name), subjects.queryGroup('idb'), ...idbSubjects(typeof settings.wdb === 'string' ? settings.wdb : undefined)],
    start: async (nc, name, settings, logger, ctx) =>
      await startIdb(nc, { ...(withDataPaths({ wdbDir: 'wdb', ...settings }) as { wdbDir: string }), name }, logger, () => ctx?.refreshAttributes()),
  },
  monitor: {
    subjects: () => [subjects.heartbeatAll, subjects.logAll, subjects.alertAll],
    start: async (nc, name, settings, logger, ctx) => await startMonitor(nc, { ...settings, name }, logger, ctx?.apis),
  },
  reporter: {
    // The reporter serves its named APIs (reportlog, reports, runNow) on q.reporter.<name>; with the
    // publish handler it also publishes on report.<name>.<report>.
    subjects: (name) => [subjects.report(name, '*')],
    start: async (nc, name, settings, logger, ctx) => {
      const r = await startReporter(nc, { ...(settings as Partial<ReporterSettings>), name }, logger, { apis: ctx?.apis, clock: ctx?.clock, dataPath });
      return { ready: (t) => r.ready(t), stop: () => r.stop(), status: () => r.status() };
    },
  },
  housekeeping: {
    subjects: () => [],
    start: async (nc, name, settings, logger, ctx) => await startHousekeeping({ ...settings, name }, logger, ctx?.apis, ctx?.clock),
  },
  compression: {
    // TorQ's compression: rewrites old HDB partitions with the codecs of ops/compression.csv.
    subjects: () => [],
    start: async (nc, name, settings, logger, ctx) => await startCompression(nc, { ...withDataPaths({ hdbDir: 'hdb', ...settings }), name }, logger, ctx?.apis, ctx?.clock),
  },
  filealerter: {
    subjects: () => [],
    start: async (nc, name, settings, logger, ctx) => await startFileAlerter(nc, { ...settings, name }, logger, ctx?.apis, ctx?.clock),
  },
  streams: {
    // Stream processors (Kemux's Manager): STREAMS_<name> over st.<name>.> (docs/streams.md).
    subjects: (name) => [subjects.streamAll(name)],
    start: async (nc, name, settings, logger) => {
      const dataDir = dataPath(typeof settings.dataDir === 'string' ? settings.dataDir : `streams/${name}`);
      return await startStreams(nc, { ...settings, name, dataDir }, logger);
    },
  },
  feed: {
    subjects: () => [],
    start: async (nc, name, settings, logger) => await startFeed(nc, { ...(settings as { tp: string }), name }, logger),
  },
};

export function processType(type: string): ProcessType {
  const t = processTypes[type];
  if (!t) throw new TickbusError(ErrorCode.BAD_CONFIG, `unknown process type ${type}`, { type, known: Object.keys(processTypes) });
  return t;
}
