// Chained tickerplants' routes: how a subscriber of a chained tickerplant that keeps no log of its
// own (log mode `none` or `parent`) finds the log it reads. The chained tickerplant writes one
// record per name in KV bucket `chain`; subscribe({tp}) reads it only when stream TICK_<tp> does
// not exist, and then reads the parent's log with the chained tickerplant's filter (decision 98).
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from './codec.ts';
import { ErrorCode, TickbusError } from './errors.ts';
import { lastMessage, manager } from './streams.ts';
import { kv } from './subjects.ts';

export const CHAIN_TYPE = 'tickbus.v1.chain';

/** The log modes of a chained tickerplant (TorQ SCTP's loggingmode). */
export const LogModes = ['create', 'none', 'parent'] as const;
export type LogMode = (typeof LogModes)[number];

/** One chained tickerplant's route: `{type, name, parent, logMode, tables?, syms?}` (JSON). */
export interface ChainRoute {
  type: typeof CHAIN_TYPE;
  name: string;
  parent: string;
  logMode: LogMode;
  /** Tables forwarded; all when absent. */
  tables?: string[];
  /** Syms forwarded; all when absent. */
  syms?: string[];
}

/** Writes (or replaces) the route of a chained tickerplant. */
export async function putRoute(nc: NatsConnection, r: ChainRoute, replicas = 1): Promise<void> {
  const bucket = await new Kvm(nc).create(kv.chainBucket, { history: 1, replicas });
  await bucket.put(r.name, JSON.stringify(r));
}

/** The route of `name`, or undefined when there is none (no bucket, no key). */
export async function readRoute(nc: NatsConnection, name: string): Promise<ChainRoute | undefined> {
  const m = await lastMessage(await manager(nc), `KV_${kv.chainBucket}`, `$KV.${kv.chainBucket}.${name}`);
  if (!m || m.data.length === 0) return undefined; // absent, or deleted (an empty tombstone)
  let r: Partial<ChainRoute>;
  try {
    r = decode<Partial<ChainRoute>>(m.data, 'json');
  } catch {
    r = {};
  }
  if (r.type !== CHAIN_TYPE || typeof r.parent !== 'string' || !LogModes.includes(r.logMode as LogMode)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `the route of chained tickerplant ${name} in KV bucket ${kv.chainBucket} is unreadable`, { name, bucket: kv.chainBucket });
  }
  return r as ChainRoute;
}

/** The intersection of two optional filters (absent = everything). */
export function narrow(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  if (!a) return b ? [...b] : undefined;
  if (!b) return [...a];
  const keep = new Set(b);
  return a.filter((x) => keep.has(x));
}
