// Real-time processor settings: typed defaults, one line each, every bound named and checked.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { assertName } from '../../bus/subjects.ts';
import type { TablesConfig } from '../../storage/schema.ts';
import { defaultRdbSettings } from '../rdb/settings.ts';
import { bounded } from '../streams/settings.ts';

export interface RtpSettings {
  /** Process name: `q.rtp.<name>` is its query subject; derived ids start `rtp.<name>.`. */
  name: string;
  /** The tickerplant to follow. */
  tp: string;
  /** Table schemas (the same config the tickerplant uses). */
  tables: TablesConfig;
  /** Subscribe to these tables only; all when omitted. */
  subscribeTables?: string[];
  /** Keep these syms only; all when omitted. */
  syms?: string[];
  /** true: keep rows as the RDB does, no processor (PyKX's vanilla RTP); false: run `processor`. */
  vanilla: boolean;
  /** The processor module: a file path (relative to the checkout), `file#export`, or a package export `pkg#name`. */
  processor?: string;
  /** Free-form settings handed to the processor as ctx.config (JSON). */
  processorConfig?: Record<string, unknown>;
  /** The tickerplant derived rows are published to (default: `tp`). */
  publishTp?: string;
  /** Derived groups (one publish each) awaiting their ack at once (1..10 000): past it the log loop waits. */
  publishInflightMax: number;
  /** Deadline of one derived update's ack (100 ms..5 min); the publisher retries it with its id. */
  publishTimeoutMs: number;
  /** publish() calls one input batch may make (1..1 000). */
  publishesPerBatchMax: number;
  /** A derived group closes once it holds this many rows (1..1 000 000). */
  groupRowsMax: number;
  /** ... or this many bytes of columns (1 KiB..8 MiB, and at most half the server's max_payload). */
  groupBytesMax: number;
  /** ... or updates of this many input batches (1..100 000; 1: one publish per input batch). */
  groupInputsMax: number;
  /** ... or before an input logged more than this after the group's first (0..60 000 ms, log time); live, idle this long, it is sent. */
  groupMs: number;
  /** Derived ids of today the start-up scan of the log may hold (1..50 000 000); past it the RTP fails to start (raise it). */
  replayIdsMax: number;
  /** Bound on the start-up scan of today's log for derived ids (1 s..1 h). */
  replayScanTimeoutMs: number;
  /** Bound on log bytes buffered ahead of the RTP. */
  bufferBytes: number;
  /** Stall bound of the log consumer (>= 1 s), as the RDB's. */
  logStallMs: number;
}

export const defaultRtpSettings: Omit<RtpSettings, 'name' | 'tp' | 'tables'> = {
  vanilla: true,
  publishInflightMax: 32,
  publishTimeoutMs: 10_000,
  publishesPerBatchMax: 64,
  groupRowsMax: 10_000,
  groupBytesMax: 256 * 1024,
  groupInputsMax: 1_000,
  groupMs: 20,
  replayIdsMax: 5_000_000,
  replayScanTimeoutMs: 120_000,
  bufferBytes: defaultRdbSettings.bufferBytes,
  logStallMs: defaultRdbSettings.logStallMs,
};

/** Settings from the cascade, checked: a bad one is BAD_CONFIG naming it. */
export function rtpSettings(raw: Partial<RtpSettings> & Pick<RtpSettings, 'name' | 'tp' | 'tables'>): RtpSettings {
  const s = { ...defaultRtpSettings, ...raw };
  assertName('rtp', s.name);
  assertName('tickerplant', s.tp);
  if (s.publishTp !== undefined) assertName('tickerplant', s.publishTp);
  if (s.name.length > 64) throw new TickbusError(ErrorCode.BAD_CONFIG, `rtp name ${s.name} is longer than 64 characters (it prefixes derived ids)`, { setting: 'name', name: s.name });
  if (typeof s.vanilla !== 'boolean') throw new TickbusError(ErrorCode.BAD_CONFIG, `vanilla must be true or false, got ${JSON.stringify(s.vanilla)}`, { setting: 'vanilla', value: s.vanilla });
  if (s.processor !== undefined && (typeof s.processor !== 'string' || !s.processor)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `processor must be a module path or pkg#name, got ${JSON.stringify(s.processor)}`, { setting: 'processor', value: s.processor });
  }
  // PyKX: pre_processor()/post_processor() on a vanilla RTP is an error, not ignored.
  if (s.vanilla && s.processor) throw new TickbusError(ErrorCode.BAD_CONFIG, `rtp ${s.name}: a processor (${s.processor}) needs vanilla: false`, { setting: 'processor', vanilla: true });
  if (!s.vanilla && !s.processor) throw new TickbusError(ErrorCode.BAD_CONFIG, `rtp ${s.name}: vanilla: false needs a processor module`, { setting: 'processor', vanilla: false });
  if (s.processorConfig !== undefined && (typeof s.processorConfig !== 'object' || s.processorConfig === null || Array.isArray(s.processorConfig))) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, 'processorConfig must be an object', { setting: 'processorConfig' });
  }
  return {
    ...s,
    publishInflightMax: bounded('publishInflightMax', s.publishInflightMax, 1, 10_000),
    publishTimeoutMs: bounded('publishTimeoutMs', s.publishTimeoutMs, 100, 300_000),
    publishesPerBatchMax: bounded('publishesPerBatchMax', s.publishesPerBatchMax, 1, 1_000),
    groupRowsMax: bounded('groupRowsMax', s.groupRowsMax, 1, 1_000_000),
    groupBytesMax: bounded('groupBytesMax', s.groupBytesMax, 1024, 8 * 1024 * 1024),
    groupInputsMax: bounded('groupInputsMax', s.groupInputsMax, 1, 100_000),
    groupMs: bounded('groupMs', s.groupMs, 0, 60_000),
    replayIdsMax: bounded('replayIdsMax', s.replayIdsMax, 1, 50_000_000),
    replayScanTimeoutMs: bounded('replayScanTimeoutMs', s.replayScanTimeoutMs, 1_000, 3_600_000),
    logStallMs: Math.max(1_000, Number(s.logStallMs)),
  };
}
