// Test support for end of period: reads the log's `tickbus.v1.eop` markers, and checks them
// against the log (the scenario invariant `period-counts-match-log` and test/integration/eop.test.ts).
import type { NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { decode } from '../../bus/codec.ts';
import { lastMessage, manager } from '../../bus/streams.ts';
import { streams, subjects } from '../../bus/subjects.ts';
import type { EopMarker } from '../../actors/tickerplant/periods.ts';
import type { LogContents } from './bus.ts';
import { dayStartInstant, endOfDayInstant, zoneOffsetMs } from '../../actors/common/clock.ts';

export type LogEop = EopMarker & { seq: number };

/** Every end-of-period marker in the log, in order. */
export async function readEops(nc: NatsConnection, tp: string): Promise<LogEop[]> {
  const jsm = await manager(nc);
  const last = await lastMessage(jsm, streams.log(tp), subjects.eop(tp));
  const out: LogEop[] = [];
  if (!last) return out;
  const c = await jetstream(nc).consumers.get(streams.log(tp), { filter_subjects: subjects.eop(tp), deliver_policy: DeliverPolicy.All });
  const it = await c.consume();
  for await (const m of it) {
    out.push({ ...decode<EopMarker>(m.data), seq: m.seq });
    if (m.seq >= last.seq) break;
  }
  await it.close();
  return out;
}

/**
 * The end-of-period markers against the log: each marker's counts equal the rows of its tables
 * since the previous marker (end of period or end of day), its firstSeq is the message after that
 * marker, no period of a day has two markers, and a day's periods follow each other (start =
 * previous end). Reports the first few differences.
 */
export function periodViolations(log: LogContents, eops: LogEop[], firstSeq: number): string[] {
  const out: string[] = [];
  const eodSeqs = log.eods.map((e) => e.seq);
  const seen = new Set<string>();
  let prev: LogEop | undefined;
  for (const e of eops) {
    const after = Math.max(firstSeq - 1, prev?.seq ?? 0, ...eodSeqs.filter((s) => s < e.seq));
    if (e.firstSeq !== after + 1) out.push(`period ${e.period} (seq ${e.seq}): firstSeq ${e.firstSeq} but the period starts at ${after + 1}`);
    for (const t of e.tables) {
      const n = log.batches.filter((b) => b.table === t && b.seq > after && b.seq < e.seq).reduce((a, b) => a + b.n, 0);
      if (e.counts[t] !== n) out.push(`period ${e.period} (seq ${e.seq}): counts.${t} ${e.counts[t]} but the log holds ${n} rows`);
    }
    const key = `${e.day}/${e.start}`;
    if (seen.has(key)) out.push(`period ${e.period} of ${e.day} has two markers`);
    seen.add(key);
    if (prev && prev.day === e.day && e.start !== prev.end) out.push(`period ${e.period} starts at ${e.start}, not where ${prev.period} ended (${prev.end})`);
    prev = e;
  }
  return out.length > 5 ? [...out.slice(0, 5), `... ${out.length - 5} more period violations`] : out;
}

/**
 * Periods across a DST change: every marker's start and end lie a whole number of `freqMs` from
 * the day's start (elapsed time; the day's end is the only other boundary), and the markers'
 * periods cover at least two UTC offsets of the zone (the scenario crossed the change).
 */
export function dstPeriodViolations(eops: LogEop[], freqMs: number, eodTime: string, zone: string): string[] {
  const out: string[] = [];
  const offsets = new Set<number>();
  for (const e of eops) {
    const dayStart = dayStartInstant(e.day, eodTime, zone);
    const dayEnd = endOfDayInstant(e.day, eodTime, zone);
    for (const [what, t] of [['start', e.start], ['end', e.end]] as const) {
      if (t !== dayEnd && (t - dayStart) % freqMs !== 0) out.push(`period ${e.period}: its ${what} is ${t - dayStart} ms after the day's start, not a multiple of ${freqMs}`);
    }
    if (e.end <= e.start) out.push(`period ${e.period}: ends at or before its start`);
    offsets.add(zoneOffsetMs(e.start, zone));
    offsets.add(zoneOffsetMs(e.end - 1, zone));
  }
  if (offsets.size < 2) out.push(`the periods (${eops.map((e) => e.period).join(', ')}) do not span a UTC-offset change of ${zone}`);
  return out;
}
