// Where the log stands when a tickerplant starts: the current day and each table's last count of
// it (the last batch of a table, or a later multi-table message, carries the day's count up to the
// end of the log: the log is in order, see log_writer.ts). The streams are created or updated first.
import type { JetStreamManager } from '@nats-io/jetstream';
import { decode } from '../../bus/codec.ts';
import { ensureStream, lastMessage, logStreamConfig, rejectedStreamConfig } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';
import type { Schema } from '../../storage/schema.ts';
import { tradingDay, type Clock } from '../common/clock.ts';
import { parseCounts } from './batching.ts';
import type { TickerplantSettings } from './settings.ts';

export interface LogPosition {
  day: string;
  /** Per table: the day and count of its last batch (own or in a multi-table message) and its sequence. */
  lastDays: Map<string, { day: string; count: number; seq: number }>;
  /** Sequence of the last end-of-day marker (0: none). */
  eodSeq: number;
}

export async function readLogPosition(jsm: JetStreamManager, s: TickerplantSettings, schema: Schema, clock: Clock): Promise<LogPosition> {
    await ensureStream(jsm, logStreamConfig(s.name, {
      retentionMs: s.logRetentionMs,
      duplicateWindowMs: s.dedupeWindowMs,
      maxMsgBytes: Math.max(s.maxMessageBytes, s.batchBytesMax) * 2,
      replicas: s.replicas,
    }));
    await ensureStream(jsm, rejectedStreamConfig(s.name, { retentionMs: s.rejectedRetentionMs, maxMsgs: s.rejectedMsgsMax, replicas: s.replicas }));
    const pos = await lastCounts(jsm, s.name, schema.keys());
    return { ...pos, day: pos.day || tradingDay(clock.now(), s.eodTime, s.eodZone) };
}

/**
 * The day a log (a tickerplant's or a chained tickerplant's) is in and each table's last count of
 * it, from the last messages alone: the last end-of-day marker's next day, each table's last batch
 * (Tb-Day, Tb-Count) and a later multi-table message (Tb-Counts). `day` is '' for an empty log.
 */
export async function lastCounts(jsm: JetStreamManager, tp: string, tables: Iterable<string>): Promise<LogPosition> {
  const stream = streams.log(tp);
  const eod = await lastMessage(jsm, stream, subjects.eod(tp));
  let day = eod ? decode<{ nextDay: string }>(eod.data).nextDay : '';
  const known = new Set(tables);
  const lastDays = new Map<string, { day: string; count: number; seq: number }>();
  for (const table of known) {
    const m = await lastMessage(jsm, stream, subjects.tick(tp, table));
    if (!m) continue;
    const d = m.header.get(Header.day);
    lastDays.set(table, { day: d, count: Number(m.header.get(Header.count) || 0), seq: m.seq });
    if (d > day) day = d;
  }
  // A multi-table message after a table's last own batch carries its count (Tb-Counts).
  const multi = await lastMessage(jsm, stream, subjects.multi(tp));
  if (multi) {
    const d = multi.header.get(Header.day);
    for (const [table, count] of parseCounts(multi.header.get(Header.counts))) {
      if (known.has(table) && multi.seq > (lastDays.get(table)?.seq ?? 0)) lastDays.set(table, { day: d, count, seq: multi.seq });
    }
    if (d > day) day = d;
  }
  return { day, lastDays, eodSeq: eod ? eod.seq : 0 };
}
