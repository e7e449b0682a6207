// Reading one period of one table (TorQ's tabperiod files, KX interval files) without scanning
// the day: the period manifest (KV `stpmeta`, written by the tickerplant when a period ends)
// gives the period's log sequence range; a consumer filtered to the table reads from the first
// sequence and stops at the last one. See docs/decisions.md 76 for the measured comparison.
import { DeliverPolicy, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Batch, Column } from '../storage/batch.ts';
import { periodInstant } from '../actors/common/clock.ts';
import { decode } from './codec.ts';
import { ErrorCode, TickbusError } from './errors.ts';
import { multiBodies } from './log_batch.ts';
import { lastMessage, manager } from './streams.ts';
import { kv, parseTickSubject, streams, subjects } from './subjects.ts';

/** One ended period in the manifest (key `<tp>.<start epoch ms>`). */
export interface PeriodRecord {
  tp: string;
  day: string;
  /** Label of the period (its start, wall time in the tickerplant's eodZone with the offset). */
  period: string;
  nextPeriod: string;
  /** [start, end), epoch ms. */
  start: number;
  end: number;
  /** Tables whose counts ride on the marker (intradayTables). */
  tables: string[];
  /** Log sequences: the period's first message and its end-of-period marker. */
  firstSeq: number;
  lastSeq: number;
  counts: Record<string, number>;
  /** Columns of those tables (as configured). */
  schema: Record<string, unknown>;
}

/** What an end-of-period marker (a tickerplant's or a chained tickerplant's) gives its manifest entry. */
export type PeriodMarker = Pick<PeriodRecord, 'day' | 'period' | 'nextPeriod' | 'start' | 'end' | 'tables' | 'counts' | 'firstSeq'>;

/** The manifest entry of the period whose marker is at log sequence `lastSeq`; `tables` gives each table's columns. */
export function periodRecord(tp: string, tables: Record<string, unknown>, e: PeriodMarker, lastSeq: number): PeriodRecord {
  return {
    tp,
    day: e.day,
    period: e.period,
    nextPeriod: e.nextPeriod,
    start: e.start,
    end: e.end,
    tables: e.tables,
    firstSeq: e.firstSeq,
    lastSeq,
    counts: e.counts,
    schema: Object.fromEntries(e.tables.map((t) => [t, tables[t]])),
  };
}

/** The manifest bucket for writing: the existing one (another writer may have made it), else a new one. */
export async function openPeriodsBucket(nc: NatsConnection, jsm: JetStreamManager, o: { replicas: number; ttlMs: number; timeoutMs: number }): Promise<KV> {
  const kvm = new Kvm(jetstream(nc, { timeout: o.timeoutMs }));
  try {
    await jsm.streams.info(`KV_${kv.periodsBucket}`);
    return await kvm.open(kv.periodsBucket);
  } catch {
    return await kvm.create(kv.periodsBucket, { history: 1, replicas: o.replicas, ttl: o.ttlMs });
  }
}

/** The manifest entry of a period, by label (`2026-12-03T10:00-05:00`) or start (epoch ms). */
export async function periodRange(nc: NatsConnection, tp: string, period: string | number, timeoutMs = 5_000): Promise<PeriodRecord> {
  const start = typeof period === 'number' ? period : periodInstant(period);
  const bucket = await new Kvm(jetstream(nc, { timeout: timeoutMs })).open(kv.periodsBucket);
  const e = await bucket.get(kv.periodKey(tp, start));
  if (!e || e.operation !== 'PUT') {
    throw new TickbusError(ErrorCode.BAD_QUERY, `no ended period ${JSON.stringify(period)} of tickerplant ${tp} in the manifest`, { tp, period, bucket: kv.periodsBucket });
  }
  return e.json<PeriodRecord>();
}

/**
 * The batches of one table in one period, in log order: a consumer filtered to the table from
 * the period's first sequence, stopped at its marker. Bounded by timeoutMs (TIMEOUT names what
 * was read). When the table's count rides on the marker, the rows read must equal it.
 */
export async function readPeriod(nc: NatsConnection, tp: string, period: string | number, table: string, timeoutMs = 30_000): Promise<{ record: PeriodRecord; batches: Batch[]; rows: number }> {
  const record = await periodRange(nc, tp, period);
  const batches: Batch[] = [];
  let rows = 0;
  const jsm = await manager(nc);
  // The table's rows are in its own batches and in multi-table messages (tick.<tp>._multi).
  const own = await lastMessage(jsm, streams.log(tp), subjects.tick(tp, table));
  const multi = await lastMessage(jsm, streams.log(tp), subjects.multi(tp));
  const lastSeq = Math.max(own?.seq ?? 0, multi?.seq ?? 0);
  if (lastSeq < record.firstSeq) return { record, batches, rows };
  const filter = multi && multi.seq >= record.firstSeq ? subjects.tickAll(tp) : subjects.tick(tp, table);
  const c = await jetstream(nc).consumers.get(streams.log(tp), {
    filter_subjects: filter,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: record.firstSeq,
  });
  const it = await c.consume({ max_bytes: 16 * 1024 * 1024 });
  const timer = setTimeout(() => void it.close(), timeoutMs);
  let done = false;
  try {
    for await (const m of it) {
      if (m.seq > record.lastSeq) {
        done = true;
        break;
      }
      const s = parseTickSubject(m.subject);
      const found = s?.kind === 'table' && s.table === table ? [decode<{ n: number; cols: Record<string, Column> }>(m.data)] : s?.kind === 'multi' ? multiBodies(decode(m.data)).filter((b) => b.table === table) : [];
      for (const b of found) {
        batches.push({ table, n: b.n, cols: b.cols });
        rows += b.n;
      }
      if (m.seq >= lastSeq || m.info.pending === 0) {
        done = true;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    await it.close().catch(() => {});
  }
  if (!done) throw new TickbusError(ErrorCode.TIMEOUT, `reading period ${record.period} of ${tp}.${table} took over ${timeoutMs} ms`, { tp, table, period: record.period, rows, timeoutMs });
  const want = record.counts[table];
  if (want !== undefined && want !== rows) {
    throw new TickbusError(ErrorCode.LOG_APPEND_FAILED, `period ${record.period} of ${tp}.${table} holds ${rows} rows but its marker counts ${want}`, { tp, table, rows, counted: want });
  }
  return { record, batches, rows };
}
