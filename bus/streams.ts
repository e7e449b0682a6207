// Stream configs as data, and the few JetStream management calls the actors need.
import { jetstreamManager, type JetStreamManager, type StoredMsg, type StreamConfig } from '@nats-io/jetstream';
import { RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { streams, subjects } from './subjects.ts';

const NS_PER_MS = 1_000_000;

export interface LogStreamSettings {
  /** How long the log keeps messages (replay into the HDB needs at least a day or two). */
  retentionMs: number;
  /** JetStream's duplicate window for the TP's own batch ids. */
  duplicateWindowMs: number;
  /** Largest message the stream accepts. */
  maxMsgBytes: number;
  /** Number of replicas (1 on one server, 3 on a cluster). */
  replicas: number;
}

export function logStreamConfig(tp: string, s: LogStreamSettings): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.log(tp),
    // The log and the buffer events' logs (actors/tickerplant/buffer.ts): one order, one retention.
    subjects: [subjects.tickAll(tp), subjects.bufferAll(tp)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: s.retentionMs * NS_PER_MS,
    duplicate_window: s.duplicateWindowMs * NS_PER_MS,
    max_msg_size: s.maxMsgBytes,
    num_replicas: s.replicas,
    allow_direct: true,
  };
}

export function rejectedStreamConfig(tp: string, s: { retentionMs: number; maxMsgs: number; replicas: number }): Partial<StreamConfig> & { name: string } {
  return {
    name: streams.rejected(tp),
    subjects: [subjects.rejectedAll(tp)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: s.retentionMs * NS_PER_MS,
    max_msgs: s.maxMsgs,
    num_replicas: s.replicas,
  };
}

/** Creates the stream, or updates it to the given config when it exists. */
export async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const info = await jsm.streams.info(cfg.name);
    await jsm.streams.update(cfg.name, { ...info.config, ...cfg } as StreamConfig);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    await jsm.streams.add(cfg);
  }
}

export function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; code?: number | string; api_error?: { err_code?: number }; message?: string };
  const msg = String(err?.message ?? '');
  return (
    err?.name === 'StreamNotFoundError' ||
    err?.api_error?.err_code === 10059 ||
    err?.api_error?.err_code === 10037 ||
    /not found/i.test(msg) ||
    /no message found/i.test(msg)
  );
}

/** The last message on a subject, or undefined when there is none. */
export async function lastMessage(jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | undefined> {
  try {
    return (await jsm.streams.getMessage(stream, { last_by_subj: subject })) ?? undefined;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export async function manager(nc: NatsConnection, timeoutMs = 5_000): Promise<JetStreamManager> {
  return await jetstreamManager(nc, { timeout: timeoutMs });
}
