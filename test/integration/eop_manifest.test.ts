// Measures the per-period layout (docs/decisions.md 76): on a log of 100,000 batches in 10
// periods of two tables, one period of one table read through the manifest (KV `stpmeta`: a
// consumer filtered to the table from the period's first sequence, stopped at its marker)
// against the two ways without it: scanning every message from the day's start up to the
// period's marker, and scanning the table's subject from the day's start by time stamp.
// The log is written in the tickerplant's wire shape (subjects, CBOR batches, eop markers and
// manifest entries) directly, to build 100k messages in seconds. Asserts the three agree and
// prints the times (median of 3).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { readPeriod, type PeriodRecord } from '../../bus/periods.ts';
import { manager, logStreamConfig, ensureStream } from '../../bus/streams.ts';
import { kv, parseTickSubject, streams, subjects } from '../../bus/subjects.ts';
import { periodLabel } from '../../actors/common/clock.ts';
import { connectTo, startServer, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const TP = 'eopbench';
const PERIODS = 10;
const PER_PERIOD = 10_000; // batches per period, alternating trade and quote
const ROWS = 10;

function batch(table: string, fid0: number, startMs: number): Uint8Array {
  const fid = new BigInt64Array(ROWS);
  for (let i = 0; i < ROWS; i++) fid[i] = BigInt(fid0 + i);
  const time = new BigInt64Array(ROWS).fill(BigInt(startMs) * 1_000_000n);
  return encode({ type: 'tickbus.v1.batch', table, day: '2000-01-01', n: ROWS, cols: { time, sym: { dict: ['A'], codes: new Uint32Array(ROWS) }, px: new Float64Array(ROWS).fill(1), fid } });
}

/** Without a manifest, all from the day's start: every message, up to the period's marker. */
async function scanAll(period: string, table: string): Promise<{ fids: bigint[]; messages: number }> {
  const c = await jetstream(nc).consumers.get(streams.log(TP), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
  const it = await c.consume({ max_bytes: 16 * 1024 * 1024 });
  let fids: bigint[] = [];
  let messages = 0;
  for await (const m of it) {
    messages++;
    const s = parseTickSubject(m.subject)!;
    if (s.kind === 'eop') {
      if (decode<{ period: string }>(m.data).period === period) break;
      fids = [];
    } else if (s.kind === 'table' && s.table === table) fids.push(...decode<{ cols: { fid: BigInt64Array } }>(m.data).cols.fid);
  }
  await it.close();
  return { fids, messages };
}

/**
 * Without a manifest, the table's subject only (nats-server 2.9 has no multi-subject filter, so
 * the markers are not seen): rows kept by their time stamp in [start, end), read until a batch
 * stamped at or after the end.
 */
async function scanTable(start: number, end: number, table: string): Promise<{ fids: bigint[]; messages: number }> {
  const c = await jetstream(nc).consumers.get(streams.log(TP), { filter_subjects: subjects.tick(TP, table), deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
  const it = await c.consume({ max_bytes: 16 * 1024 * 1024 });
  const fids: bigint[] = [];
  let messages = 0;
  const [lo, hi] = [BigInt(start) * 1_000_000n, BigInt(end) * 1_000_000n];
  for await (const m of it) {
    messages++;
    const b = decode<{ cols: { fid: BigInt64Array; time: BigInt64Array } }>(m.data);
    if (b.cols.time[0]! >= hi) break;
    for (let i = 0; i < b.cols.time.length; i++) if (b.cols.time[i]! >= lo && b.cols.time[i]! < hi) fids.push(b.cols.fid[i]!);
    if (m.info.pending === 0) break;
  }
  await it.close();
  return { fids, messages };
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; r: T }> {
  const times: number[] = [];
  let r!: T;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    r = await f();
    times.push(performance.now() - t);
  }
  return { ms: times.sort((a, b) => a - b)[1]!, r };
}

describe('period layout', () => {
  it('eop: one period of one table through the manifest equals a scan and reads only that period (timed on 100k messages)', async () => {
    const jsm = await manager(nc);
    await ensureStream(jsm, logStreamConfig(TP, { retentionMs: 3_600_000, duplicateWindowMs: 60_000, maxMsgBytes: 1 << 20, replicas: 1 }));
    const bucket = await new Kvm(nc).create(kv.periodsBucket, { history: 1 });
    const day0 = Date.UTC(2000, 0, 1);
    let seq = 0;
    let fid = 0;
    const labels: string[] = [];
    for (let p = 0; p < PERIODS; p++) {
      const firstSeq = seq + 1;
      for (let i = 0; i < PER_PERIOD; i++) {
        const table = i % 2 === 0 ? 'trade' : 'quote';
        nc.publish(subjects.tick(TP, table), batch(table, fid, day0 + p * 3_600_000));
        fid += ROWS;
        seq++;
        if (seq % 5_000 === 0) await nc.flush();
      }
      const start = day0 + p * 3_600_000;
      const period = periodLabel(start, 'UTC');
      labels.push(period);
      const counts = { trade: (PER_PERIOD / 2) * ROWS, quote: (PER_PERIOD / 2) * ROWS };
      nc.publish(subjects.eop(TP), encode({ type: 'tickbus.v1.eop', day: '2000-01-01', period, nextPeriod: periodLabel(start + 3_600_000, 'UTC'), start, end: start + 3_600_000, tables: ['trade', 'quote'], counts, firstSeq }));
      seq++;
      const rec: PeriodRecord = { tp: TP, day: '2000-01-01', period, nextPeriod: periodLabel(start + 3_600_000, 'UTC'), start, end: start + 3_600_000, tables: ['trade', 'quote'], firstSeq, lastSeq: seq, counts, schema: {} };
      await bucket.put(kv.periodKey(TP, start), JSON.stringify(rec));
    }
    await nc.flush();
    await until(async () => (await jsm.streams.info(streams.log(TP))).state.messages === seq, 60_000, 100);
    const figures: Record<string, unknown> = { messages: seq };
    for (const p of [0, PERIODS - 2]) {
      const period = labels[p]!;
      const viaManifest = await timed(() => readPeriod(nc, TP, period, 'trade'));
      const all = await timed(() => scanAll(period, 'trade'));
      const start = day0 + p * 3_600_000;
      const filtered = await timed(() => scanTable(start, start + 3_600_000, 'trade'));
      const got = viaManifest.r.batches.flatMap((b) => [...(b.cols.fid as BigInt64Array)]);
      expect(got).toEqual(all.r.fids);
      expect(got).toEqual(filtered.r.fids);
      expect(viaManifest.r.rows).toBe((PER_PERIOD / 2) * ROWS);
      expect(viaManifest.r.batches.length).toBe(PER_PERIOD / 2); // the period's messages of the table, nothing else
      expect(all.r.messages).toBe((p + 1) * (PER_PERIOD + 1));
      figures[`period ${p + 1}`] = {
        manifestMs: Math.round(viaManifest.ms),
        manifestMessages: viaManifest.r.batches.length,
        scanAllMs: Math.round(all.ms),
        scanAllMessages: all.r.messages,
        scanTableMs: Math.round(filtered.ms),
        scanTableMessages: filtered.r.messages,
      };
    }
    process.stderr.write(`period layout figures: ${JSON.stringify(figures)}\n`);
  }, 180_000);
});
