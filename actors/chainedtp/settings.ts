// Chained tickerplant settings: typed defaults, one line each; every bound named (TorQ's .ctp /
// .sctp settings, docs/chainedtp.md).
import { LogModes, type LogMode } from '../../bus/chain.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { TablesConfig } from '../../storage/schema.ts';

export interface ChainedTpSettings {
  /** Process name: the `<tp>` its subscribers name (stream TICK_<name> in log mode `create`). */
  name: string;
  /** The parent tickerplant (a tickerplant or another chained tickerplant) to subscribe to. */
  parent: string;
  /** Table schemas (the same config the parent uses). */
  tables: TablesConfig;
  /** Forward these tables only; all when omitted (TorQ subscribeto). */
  subscribeTables?: string[];
  /** Forward rows of these syms only; all when omitted (TorQ subscribesyms). */
  syms?: string[];
  /** `create`: own log TICK_<name>, republished; `none`/`parent`: no log, subscribers read the parent's through the route (decision 98). */
  logMode: LogMode;
  /** 0 = forward each parent batch as it comes; > 0 = coalesce per table, appended at most this long after the first row waits (TorQ pubinterval). */
  pubFreqMs: number;
  /** A coalesced batch is appended as soon as it holds this many rows. */
  batchRowsMax: number;
  /** ... or this many (estimated) bytes; stays under the server's max_payload. */
  batchBytesMax: number;
  /** Largest own log message (the stream's max_msg_size, at least 2 x batchBytesMax); a parent message bigger than this is rejected (TICKERR_<name>). */
  maxMessageBytes: number;
  /** Appends in flight before the chained tp stops reading the parent (backpressure). */
  appendsInflightMax: number;
  /** Deadline for one JetStream append ack. */
  appendTimeoutMs: number;
  /** After an append fails, retry in order for at most this long, then recover from its own log. */
  appendRetryWindowMs: number;
  /** Pause between append retries. */
  appendRetryDelayMs: number;
  /** Pause before recovering again after a failure (parent log gone, own log unwritable). */
  recoverRetryMs: number;
  /** Longest wait for a parent that does not exist (no log TICK_<parent>, no route), retried every recoverRetryMs; past it the chained tp is `failed` with NO_MATCHING_PROCESS (0 = fail at once). */
  parentWaitMs: number;
  /** Parent messages it cannot forward, kept in TICKERR_<name> (count and age bounds, as the tickerplant's). */
  rejectedMsgsMax: number;
  rejectedRetentionMs: number;
  /** Own log retention (mode `create`). */
  logRetentionMs: number;
  /** Own log replicas (mode `create`; 1 on one server, 3 on a cluster). */
  replicas: number;
  /** Bound on parent log bytes buffered ahead of the forwarder. */
  bufferBytes: number;
  /** Stall bound on the parent subscription (bus/subscriber.ts stallMs, >= 1 s). */
  logStallMs: number;
}

export const defaultChainedTpSettings: Omit<ChainedTpSettings, 'name' | 'parent' | 'tables'> = {
  logMode: 'create',
  pubFreqMs: 0,
  batchRowsMax: 20_000,
  batchBytesMax: 768 * 1024,
  maxMessageBytes: 2 * 1024 * 1024,
  appendsInflightMax: 256,
  appendTimeoutMs: 5_000,
  appendRetryWindowMs: 60_000,
  appendRetryDelayMs: 250,
  recoverRetryMs: 1_000,
  parentWaitMs: 600_000,
  rejectedMsgsMax: 100_000,
  rejectedRetentionMs: 7 * 86_400_000,
  logRetentionMs: 3 * 86_400_000,
  replicas: 1,
  bufferBytes: 16 * 1024 * 1024,
  logStallMs: 5_000,
};

/** Longest timer accepted for pubFreqMs (a chained tp that holds rows longer is misconfigured). */
export const PUB_FREQ_MS_MAX = 60_000;

/** Settings with defaults, every bad value a BAD_CONFIG naming the setting. */
export function chainedTpSettings(given: Partial<ChainedTpSettings> & Pick<ChainedTpSettings, 'name' | 'tables'>): ChainedTpSettings {
  const s = { ...defaultChainedTpSettings, ...given } as ChainedTpSettings;
  const bad = (setting: string, rule: string) =>
    new TickbusError(ErrorCode.BAD_CONFIG, `chainedtp ${s.name}: setting ${setting} ${rule} (got ${JSON.stringify((s as unknown as Record<string, unknown>)[setting])})`, { setting, rule });
  if (typeof s.parent !== 'string' || !s.parent) throw bad('parent', 'must name the parent tickerplant (--set parent=tp1)');
  if (s.parent === s.name) throw bad('parent', 'must not be the chained tickerplant itself');
  if (!LogModes.includes(s.logMode)) throw bad('logMode', `must be one of ${LogModes.join(', ')}`);
  const int = (k: keyof ChainedTpSettings, min: number, max: number) => {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(k, `must be an integer in [${min}, ${max}]`);
  };
  int('pubFreqMs', 0, PUB_FREQ_MS_MAX);
  int('batchRowsMax', 1, 10_000_000);
  int('batchBytesMax', 1_024, 64 * 1024 * 1024);
  int('maxMessageBytes', 16 * 1024, 64 * 1024 * 1024);
  int('appendsInflightMax', 1, 65_536);
  int('logStallMs', 1_000, 600_000);
  int('recoverRetryMs', 10, 600_000);
  int('parentWaitMs', 0, 7 * 86_400_000);
  int('rejectedMsgsMax', 1, 100_000_000);
  int('rejectedRetentionMs', 1_000, 365 * 86_400_000);
  for (const k of ['subscribeTables', 'syms'] as const) {
    const v = s[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) throw bad(k, 'must be a list of names');
  }
  const unknown = (s.subscribeTables ?? []).filter((t) => !(t in s.tables));
  if (unknown.length) throw bad('subscribeTables', `names tables not in the schema: ${unknown.join(', ')}`);
  return s;
}
