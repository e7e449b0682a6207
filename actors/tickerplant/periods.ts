// End of period (KX intraday intervals, TorQ's end-of-period): the tickerplant's writer side.
// A period's marker `tickbus.v1.eop` goes into the log after the period's last batch, written
// from the acknowledged counts exactly like the end-of-day marker (Ingest quiesces the writer
// first); then the period's entry in the manifest bucket (KV `stpmeta`) records its sequence
// range, so a reader fetches one period of one table without scanning the day (bus/periods.ts).
// State (the day's counts at the period's start, the period's first sequence) is rebuilt from
// the log's last end-of-period marker on recovery.
import type { NatsConnection } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { openPeriodsBucket, periodRecord } from '../../bus/periods.ts';
import { lastMessage } from '../../bus/streams.ts';
import { Header, kv, streams, subjects } from '../../bus/subjects.ts';
import { periodLabel } from '../common/clock.ts';
import type { TickerplantSettings } from './settings.ts';

export const EOP_TYPE = 'tickbus.v1.eop';
/** Bound on one manifest write (the marker is the truth: a failed write is logged and redone on recovery). */
const manifestTimeoutMs = 5_000;

export interface EopMarker {
  type: typeof EOP_TYPE;
  /** The trading day the period belongs to. */
  day: string;
  /** The period's label (its start, wall time in eodZone with the offset) and the next one's. */
  period: string;
  nextPeriod: string;
  /** The period's bounds, epoch ms: [start, end). */
  start: number;
  end: number;
  /** The tables whose counts ride (intradayTables, or every table). */
  tables: string[];
  /** Rows of each of those tables in this period (what the log holds between the markers). */
  counts: Record<string, number>;
  /** Rows of every table of the day up to the period's end (recovery builds on them). */
  dayCounts: Record<string, number>;
  /** The first log sequence of the period (the marker's own sequence is its last). */
  firstSeq: number;
  /** The tickerplant's clock when it ended the period (epoch ns, the stamps' clock). */
  time: bigint;
  /** A manual roll (ctl.<tp>.eop): who asked, and why. */
  by?: string;
  reason?: string;
}

/** What the machine asks for: end the period [start, end) of `day` now. */
export interface EopRequest {
  day: string;
  start: number;
  end: number;
  by?: string;
  reason?: string;
}

/** Appends one control message and resolves with its sequence once acked. */
export type AppendMarker = (subject: string, data: Uint8Array, headers: Record<string, string>) => Promise<number>;

/** Validates the period settings; throws BAD_CONFIG naming the setting. */
export function checkPeriodSettings(s: TickerplantSettings, tables: string[]): void {
  if (typeof s.intradayFreqMs !== 'number' || !Number.isFinite(s.intradayFreqMs) || s.intradayFreqMs < 0 || (s.intradayFreqMs > 0 && s.intradayFreqMs < 1_000)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `intradayFreqMs must be 0 (off) or a number of ms of at least 1000, not ${JSON.stringify(s.intradayFreqMs)}`, { setting: 'intradayFreqMs', got: s.intradayFreqMs });
  }
  if (typeof s.eoiOffsetMin !== 'number' || !Number.isFinite(s.eoiOffsetMin)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `eoiOffsetMin must be a number of minutes (may be negative), not ${JSON.stringify(s.eoiOffsetMin)}`, { setting: 'eoiOffsetMin', got: s.eoiOffsetMin });
  }
  if (!Array.isArray(s.intradayTables) || s.intradayTables.some((t) => typeof t !== 'string')) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `intradayTables must be a JSON array of table names (e.g. --set 'intradayTables=["trade"]'), not ${JSON.stringify(s.intradayTables)}`, { setting: 'intradayTables', got: s.intradayTables });
  }
  for (const t of s.intradayTables) {
    if (!tables.includes(t)) throw new TickbusError(ErrorCode.BAD_CONFIG, `intradayTables names ${t}, which is not a table`, { setting: 'intradayTables', table: t, tables });
  }
}

export class Periods {
  /** The day's logged counts at the current period's start. */
  private readonly base = new Map<string, number>();
  /** The current period's first log sequence. */
  firstSeq = 1;
  /** Periods ended since start, and the last one (for status). */
  rolled = 0;
  last: string | undefined;
  private bucket: KV | undefined;
  /** Manifest writes, one at a time in marker order, off the roll's path (ingest resumes at once). */
  private recording: Promise<void> = Promise.resolve();
  private readonly tables: string[];

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly settings: TickerplantSettings,
    allTables: string[],
    private readonly logger: Logger,
    private readonly append: AppendMarker,
  ) {
    checkPeriodSettings(settings, allTables);
    this.tables = settings.intradayTables.length > 0 ? [...settings.intradayTables] : allTables;
  }

  get enabled(): boolean {
    return this.settings.intradayFreqMs > 0;
  }

  /**
   * Rebuilds the period state of `day` from the log: after the last end-of-period marker of the
   * day (if no end of day follows it) or from the day's start. Returns the current period's start
   * when the log names it, else undefined (the period starts with the day).
   */
  async recover(day: string, eodSeq: number, firstStreamSeq: number): Promise<number | undefined> {
    const m = await lastMessage(this.jsm, streams.log(this.settings.name), subjects.eop(this.settings.name));
    this.base.clear();
    if (m && m.seq > eodSeq) {
      const e = decode<EopMarker>(m.data);
      if (e.day === day) {
        for (const [t, n] of Object.entries(e.dayCounts)) this.base.set(t, n);
        this.firstSeq = m.seq + 1;
        await this.record(e, m.seq); // a crash between the marker and its manifest entry is mended here
        return e.end;
      }
    }
    this.firstSeq = Math.max(firstStreamSeq, eodSeq + 1);
    return undefined;
  }

  /** A new day starts at `firstSeq` (the message after the end-of-day marker). */
  newDay(firstSeq: number): void {
    this.base.clear();
    this.firstSeq = firstSeq;
  }

  /** Appends the period's marker from the log's counts, then its manifest entry. */
  async roll(r: EopRequest, dayCounts: Record<string, number>, time: bigint): Promise<EopMarker> {
    const zone = this.settings.eodZone;
    const counts: Record<string, number> = {};
    for (const t of this.tables) counts[t] = (dayCounts[t] ?? 0) - (this.base.get(t) ?? 0);
    const marker: EopMarker = {
      type: EOP_TYPE,
      day: r.day,
      period: periodLabel(r.start, zone),
      nextPeriod: periodLabel(r.end, zone),
      start: r.start,
      end: r.end,
      tables: this.tables,
      counts,
      dayCounts,
      firstSeq: this.firstSeq,
      time,
      ...(r.by !== undefined ? { by: r.by } : {}),
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
    };
    const seq = await this.append(subjects.eop(this.settings.name), encode(marker), { [Header.contentType]: 'application/cbor', [Header.day]: r.day });
    for (const [t, n] of Object.entries(dayCounts)) this.base.set(t, n);
    this.firstSeq = seq + 1;
    this.rolled++;
    this.last = marker.period;
    this.logger.info({ period: marker.period, nextPeriod: marker.nextPeriod, counts, by: r.by, reason: r.reason }, 'end of period');
    this.recording = this.recording.then(() => this.record(marker, seq));
    return marker;
  }

  /** Resolves when every manifest write queued so far is done (or failed and logged). */
  manifestWritten(): Promise<void> {
    return this.recording;
  }

  /** Writes the period's manifest entry; a failure is logged (recovery writes it again). */
  private async record(e: EopMarker, lastSeq: number): Promise<void> {
    const rec = periodRecord(this.settings.name, this.settings.tables, e, lastSeq);
    try {
      this.bucket ??= await openPeriodsBucket(this.nc, this.jsm, { replicas: this.settings.replicas, ttlMs: this.settings.logRetentionMs, timeoutMs: manifestTimeoutMs });
      await this.bucket.put(kv.periodKey(this.settings.name, e.start), JSON.stringify(rec));
    } catch (err) {
      this.logger.warn({ period: e.period, err: (err as Error).message }, 'cannot write the period manifest entry; recovery writes it again');
    }
  }
}
