// Stream manager settings: typed defaults, one line each, every limit named and bounded; the
// subjects, headers and JetStream stream config of a manager.
import { RetentionPolicy, StorageType, DiscardPolicy, type StreamConfig } from '@nats-io/jetstream';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { assertName, streams, subjects } from '../../bus/subjects.ts';
import type { Encoding } from '../../bus/codec.ts';

export interface StreamsSettings {
  /** The manager's name: its stream is STREAMS_<name> over st.<name>.>. */
  name: string;
  /** What the stream keeps locally: the tick-table inputs' positions (`<stream>.pos.json`). */
  dataDir: string;
  /** Stream files loaded at start (absent: streams are added with addStream only). */
  streamsDir?: string;
  /** The tickerplant of tick-table inputs that do not name one. */
  tp: string;
  /** Encoding of output messages and dead letters: cbor (keeps bigint, typed arrays) or json. */
  encoding: Encoding;
  /** JetStream's duplicate window on STREAMS_<name>: a crash re-publishes nothing within it (1 s..1 day). */
  duplicateWindowMs: number;
  /** How long STREAMS_<name> keeps messages (1 min..365 days). */
  maxAgeMs: number;
  /** Bytes STREAMS_<name> keeps; the oldest go first past it (1 MiB..1 TiB). */
  maxBytes: number;
  /** Output publications awaiting their acks at once, per stream (1..10 000). */
  publishInflightMax: number;
  /** Bound on one publication's ack (100 ms..5 min); a timeout leaves the input unacked, retried. */
  publishTimeoutMs: number;
  /** A subject input not acked within this is redelivered (1 s..1 h). */
  ackWaitMs: number;
  /** Deliveries of one subject-input message at most (1..10 000): past it the server skips it. */
  deliverMax: number;
  /** Subject-input messages delivered and not yet acked, per stream (1..10 000). */
  ackPendingMax: number;
}

export const defaultStreamsSettings: Omit<StreamsSettings, 'name' | 'dataDir' | 'streamsDir'> = {
  tp: 'tp1',
  encoding: 'cbor',
  duplicateWindowMs: 120_000,
  maxAgeMs: 7 * 86_400_000,
  maxBytes: 1024 ** 3,
  publishInflightMax: 256,
  publishTimeoutMs: 10_000,
  ackWaitMs: 30_000,
  deliverMax: 100,
  ackPendingMax: 256,
};

export function bounded(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TickbusError(ErrorCode.BAD_CONFIG, `${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`, { setting: name, value: v, min, max });
  return n;
}

/** Settings from a cascade or init options, checked. */
export function streamsSettings(raw: Partial<StreamsSettings> & { name: string; dataDir: string }): StreamsSettings {
  const s = { ...defaultStreamsSettings, ...raw };
  assertName('stream manager', s.name);
  assertName('tickerplant', s.tp);
  if (s.encoding !== 'cbor' && s.encoding !== 'json') throw new TickbusError(ErrorCode.BAD_CONFIG, `encoding must be cbor or json, got ${JSON.stringify(s.encoding)}`, { setting: 'encoding' });
  return {
    name: s.name,
    dataDir: s.dataDir,
    streamsDir: typeof s.streamsDir === 'string' && s.streamsDir ? s.streamsDir : undefined,
    tp: s.tp,
    encoding: s.encoding,
    duplicateWindowMs: bounded('duplicateWindowMs', s.duplicateWindowMs, 1_000, 86_400_000),
    maxAgeMs: bounded('maxAgeMs', s.maxAgeMs, 60_000, 365 * 86_400_000),
    maxBytes: bounded('maxBytes', s.maxBytes, 1024 ** 2, 1024 ** 4),
    publishInflightMax: bounded('publishInflightMax', s.publishInflightMax, 1, 10_000),
    publishTimeoutMs: bounded('publishTimeoutMs', s.publishTimeoutMs, 100, 300_000),
    ackWaitMs: bounded('ackWaitMs', s.ackWaitMs, 1_000, 3_600_000),
    deliverMax: bounded('deliverMax', s.deliverMax, 1, 10_000),
    ackPendingMax: bounded('ackPendingMax', s.ackPendingMax, 1, 10_000),
  };
}

/** The subjects of one manager (bus/SUBJECTS.md, "Stream processors"). */
export function streamSubjects(manager: string) {
  return {
    stream: streams.processors(manager),
    all: subjects.streamAll(manager),
    /** A stream's input or output subject token as a subject. */
    subject: (token: string) => subjects.stream(manager, token),
    /** Dead letters of one stream. */
    dead: (stream: string) => subjects.streamDead(manager, stream),
  };
}

/** Headers on stream outputs and dead letters. */
export const StreamHeader = {
  /** The input sequence the message was derived from (STREAMS_<name> or TICK_<tp> sequence). */
  inputSeq: 'Tb-Input-Seq',
  /** Tick-table inputs: the row of the input batch. */
  row: 'Tb-Row',
  /** Dead letters: why the message was dropped. */
  deadReason: 'Tb-Dead-Reason',
  /** Dead letters: `input` or the output's name. */
  deadStage: 'Tb-Dead-Stage',
} as const;

const NS_PER_MS = 1_000_000;

export function streamsStreamConfig(s: StreamsSettings): Partial<StreamConfig> & { name: string } {
  const subj = streamSubjects(s.name);
  return {
    name: subj.stream,
    subjects: [subj.all],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: s.maxAgeMs * NS_PER_MS,
    max_bytes: s.maxBytes,
    duplicate_window: s.duplicateWindowMs * NS_PER_MS,
  };
}
