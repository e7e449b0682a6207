// Process types by name: how `actors start <type>` and `actors up` turn a process description
// (type, name, settings) into a running process.
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import type { Logger } from '../bus/log.ts';
import { subjects } from '../bus/subjects.ts';
import type { RunningProcess } from './common/runtime.ts';
import { startFeed } from './feed/effects.ts';
import { startRdb } from './rdb/effects.ts';
import { startTickerplant } from './tickerplant/effects.ts';

export interface ProcessType {
  /** Subjects the process serves, for the registry. */
  subjects(name: string, settings: Record<string, unknown>): string[];
  start(nc: NatsConnection, name: string, settings: Record<string, unknown>, logger: Logger): Promise<RunningProcess>;
}

type Settings = Record<string, unknown> & { tables: Record<string, Record<string, string>> };

export const processTypes: Record<string, ProcessType> = {
  tickerplant: {
    subjects: (name) => [subjects.updWildcard(name), subjects.updMulti(name), subjects.tickAll(name)],
    start: async (nc, name, settings, logger) => {
      const tp = await startTickerplant(nc, { ...(settings as Settings), name }, logger);
      return { ready: (t) => tp.ready(t), stop: () => tp.stop(), status: () => tp.status() };
    },
  },
  rdb: {
    subjects: (name) => [subjects.query('rdb', name), subjects.queryGroup('rdb')],
    start: async (nc, name, settings, logger) => {
      const rdb = await startRdb(nc, { ...(settings as Settings & { tp: string }), name }, logger);
      return { ready: (t) => rdb.ready(t), stop: () => rdb.stop(), status: () => rdb.status() };
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
