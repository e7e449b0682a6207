// Tickerplant settings: typed defaults, one line each on what it does; every limit is named.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { defaultConsumerWatchSettings } from './consumers.ts';
import type { TablesConfig } from '../../storage/schema.ts';

export interface TickerplantSettings {
  /** Tickerplant name: the `<tp>` token in subjects and the stream TICK_<tp>. */
  name: string;
  /** Tables and their columns (time and sym first). */
  tables: TablesConfig;
  /**
   * 'immediate' appends each update as it comes; 'batch' coalesces per table, one log message per
   * table every pubFreqMs (or sooner at batchRowsMax/batchBytesMax); 'memorybatch' (KX/TorQ memory
   * batch) holds every table's rows until the timer and appends them as ONE multi-table message
   * per tick (sooner only at batchBytesMax/batchRowsMax). Feeds are acked when their rows are durable.
   */
  mode: 'immediate' | 'batch' | 'memorybatch';
  /** Batch and memorybatch modes: the longest an update waits before its batch is appended (KX pubFreq). */
  pubFreqMs: number;
  /** A pending batch (a table's, or memorybatch's whole tick) is appended as soon as it holds this many rows. */
  batchRowsMax: number;
  /** ... or this many (estimated) bytes; stays under the server's max_payload. */
  batchBytesMax: number;
  /** Largest feed message accepted (bytes); larger ones get MESSAGE_TOO_LARGE. */
  maxMessageBytes: number;
  /** Most rows one feed update may hold. */
  maxRowsPerUpdate: number;
  /** End-of-day wall time in eodZone (HH:MM). 00:00 ends each calendar day at midnight. */
  eodTime: string;
  /** IANA zone of eodTime and of the day label. */
  eodZone: string;
  /**
   * End of period (KX intradayFreq, TorQ's end-of-period): every this many ms from the day's
   * start a `tickbus.v1.eop` marker goes into the log after the period's last batch (and one
   * before each end-of-day marker); the period's sequence range goes into KV `stpmeta`.
   * 0 = off. At least 1000. Periods are elapsed time from the day's start (DST-correct).
   */
  intradayFreqMs: number;
  /** Shift of the period boundaries from the day's start, minutes; may be negative (KX eoiOffset). */
  eoiOffsetMin: number;
  /** Tables whose per-period counts ride on the marker and manifest; empty = every table. */
  intradayTables: string[];
  /** Demo only: roll the day every demoDayMs (labels advance a date per roll); 0 = real calendar. */
  demoDayMs: number;
  /** Log retention: how long the stream keeps messages. */
  logRetentionMs: number;
  /** Stream replicas (1 on one server, 3 on a cluster). */
  replicas: number;
  /** How long a feed message id is remembered for dedupe (also JetStream's duplicate window). */
  dedupeWindowMs: number;
  /** Most feed message ids remembered at once; the oldest go first. */
  dedupeIdsMax: number;
  /** Log appends in flight (unacked) before feeds get OVERLOADED. */
  appendsInflightMax: number;
  /** Rows waiting to be appended (all tables) before feeds get OVERLOADED. */
  pendingRowsMax: number;
  /** Deadline for one JetStream append ack. */
  appendTimeoutMs: number;
  /** After an append fails, retry in order for at most this long, then re-recover from the log. */
  appendRetryWindowMs: number;
  /** Pause between append retries. KX's `retryInterval` (ms) is accepted as `retryIntervalMs`, an alias. */
  appendRetryDelayMs: number;
  /** KX timeType: stamps are UTC ('gmt') or eodZone's wall time written as UTC ('local', kdb+'s .z.P). */
  timeType: 'gmt' | 'local';
  /** KX timeOffset: whole hours (-24..24) added to every stamp the tickerplant makes. */
  timeOffset: number;
  /** Custom stamping per table (TorQ seqnum-style): columns the tickerplant fills; the schema declares them. */
  stamp: Record<string, TableStamp>;
  /** KX bufferEnabled: ctl.<tp>.buffer.start / .end open and close buffer events (off: BAD_CONFIG). */
  bufferEnabled: boolean;
  /** KX bufferFunct: a hook of hooksModule deciding per update which rows are held; '' = holdAll (every row). */
  bufferFunct: string;
  /** KX bufferLimit: most MB one event's buffer log holds; past it feeds get BUFFER_FULL (nothing logged). */
  bufferLimitMb: number;
  /** End of a buffer event replays its rows into the live log unless the end request says replay: false. */
  bufferReplayOnEnd: boolean;
  /** Module exporting the tickerplant's hooks (bufferFunct), relative to the repository root. */
  hooksModule: string;
  /** Rejected messages kept in TICKERR_<tp> (count and age bounds). */
  rejectedMsgsMax: number;
  rejectedRetentionMs: number;
  /** Slow consumers (actors/tickerplant/consumers.ts): estimated bytes behind the log's end at which a subscriber's consumer raises a `slow-consumer` alert; 0 = never. */
  consumerAlertBytes: number;
  /** Bytes behind at which a subscriber's consumer is deleted (it re-joins and replays from the log; nothing is lost); 0 = never. */
  consumerDisconnectBytes: number;
  /** How often the consumers' lag is read (bounds how late an alert or a cut comes). */
  consumerCheckMs: number;
}

/** Columns of one table the tickerplant fills (feeds leave them out); see stamping.ts. */
export interface TableStamp {
  /** A `long` column: the row's 1-based position in the table's day (continues from the log after a restart). */
  seq?: string;
  /** A `timestamp` column: the receive time, next to a feed-supplied `time`. */
  recvTime?: string;
}

export const defaultTickerplantSettings: Omit<TickerplantSettings, 'name' | 'tables'> = {
  mode: 'batch',
  pubFreqMs: 5,
  batchRowsMax: 20_000,
  batchBytesMax: 768 * 1024,
  maxMessageBytes: 900 * 1024,
  maxRowsPerUpdate: 100_000,
  eodTime: '00:00',
  eodZone: 'UTC',
  demoDayMs: 0,
  intradayFreqMs: 0,
  eoiOffsetMin: 0,
  intradayTables: [],
  logRetentionMs: 3 * 86_400_000,
  replicas: 1,
  dedupeWindowMs: 120_000,
  dedupeIdsMax: 1_000_000,
  appendsInflightMax: 256,
  pendingRowsMax: 2_000_000,
  appendTimeoutMs: 5_000,
  appendRetryWindowMs: 60_000,
  appendRetryDelayMs: 250,
  rejectedMsgsMax: 100_000,
  rejectedRetentionMs: 7 * 86_400_000,
  timeType: 'gmt',
  timeOffset: 0,
  stamp: {},
  bufferEnabled: false,
  bufferFunct: '',
  bufferLimitMb: 64,
  bufferReplayOnEnd: false,
  hooksModule: '',
  ...defaultConsumerWatchSettings,
};

/** Checks the stamping and mode settings: BAD_CONFIG naming the setting. */
export function checkTickerplantSettings(s: TickerplantSettings): void {
  const bad = (setting: string, why: string) => new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant setting ${setting}: ${why}`, { setting, value: (s as unknown as Record<string, unknown>)[setting] });
  if (!['immediate', 'batch', 'memorybatch'].includes(s.mode)) throw bad('mode', `${String(s.mode)} is not immediate, batch or memorybatch`);
  if (s.timeType !== 'gmt' && s.timeType !== 'local') throw bad('timeType', `${String(s.timeType)} is not gmt or local`);
  if (typeof s.timeOffset !== 'number' || !Number.isInteger(s.timeOffset) || Math.abs(s.timeOffset) > 24) throw bad('timeOffset', `${String(s.timeOffset)} is not a whole number of hours in [-24, 24]`);
  if (typeof s.bufferLimitMb !== 'number' || !(s.bufferLimitMb > 0) || s.bufferLimitMb > 65_536) throw bad('bufferLimitMb', `${String(s.bufferLimitMb)} is not a number of MB in (0, 65536]`);
  if (typeof s.stamp !== 'object' || s.stamp === null || Array.isArray(s.stamp)) throw bad('stamp', 'must be an object {<table>: {seq?, recvTime?}}');
}

/**
 * The settings as given, with KX's names mapped to ours: `retryIntervalMs` (the KX template's
 * retryInterval, "retry interval (ms) for failures writing to log file") is `appendRetryDelayMs`.
 * Giving both with different values, or a value that is not a positive integer, is BAD_CONFIG.
 */
export function withKxAliases<T extends Record<string, unknown>>(settings: T): T {
  const v = settings.retryIntervalMs;
  if (v === undefined) return settings;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 600_000) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant setting retryIntervalMs: ${String(v)} is not an integer in [1, 600000]`, { setting: 'retryIntervalMs', value: v });
  }
  if (settings.appendRetryDelayMs !== undefined && settings.appendRetryDelayMs !== v) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, 'tickerplant settings retryIntervalMs and appendRetryDelayMs are the same setting; give one', { setting: 'retryIntervalMs' });
  }
  const { retryIntervalMs: _, ...rest } = settings;
  return { ...rest, appendRetryDelayMs: v } as unknown as T;
}
