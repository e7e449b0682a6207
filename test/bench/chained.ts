// The chained tickerplant (issue 9 part 5): a tickerplant and a chained tp (log mode create, tick by
// tick) as OS processes on one nats-server. Throughput: the feed publishes `rows` rows; the
// parent's ingest rate (all rows in its log) and the chained tp's (all rows in its own log) are
// timed from the same start, so their ratio is what the hop costs (target >= 0.8). Hop latency:
// paced small updates, then each own log message's store time minus its parent message's store
// time (both the server's clock, Tb-Parent-Seq pairs them): p50 (target <= 0.5 ms). The same two
// figures for the alternative, a JetStream stream that *sources* the parent's log (no sym filter,
// no own batching, parent subjects: decision 98), measured in a second feed with the chained tp
// stopped. Run alone: BENCH_ONLY=chained npm run bench, or node --import tsx test/bench/chained.ts [rows].
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams } from '../../bus/subjects.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';
import { pump, SYMS } from './drive.ts';
import type { Metric } from './metric.ts';

const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
const BATCH_ROWS = 1_000;
const TP = 'chp';
const CTP = 'chpc';
const SOURCED = 'CTPSRC_chp';
/** Paced single updates for the hop latency, and the pause between them. */
const LAT_UPDATES = 1_000;
const LAT_GAP_MS = 2;

function cols(n: number): Record<string, unknown> {
  const codes = new Uint32Array(n);
  for (let i = 0; i < n; i++) codes[i] = i % SYMS.length;
  return { sym: { dict: SYMS, codes }, price: new Float64Array(n).fill(100.5), size: new BigInt64Array(n).fill(100n) };
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Store times (epoch ns, server clock) of the log messages from `from` to the stream's end, with a header's value. */
async function storeTimes(nc: NatsConnection, stream: string, from: number, header?: string): Promise<Array<{ seq: number; ns: number; h?: string }>> {
  const last = (await (await manager(nc)).streams.info(stream)).state.last_seq;
  const out: Array<{ seq: number; ns: number; h?: string }> = [];
  if (last < from) return out;
  const it = await (await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from })).consume();
  for await (const m of it) {
    out.push({ seq: m.seq, ns: m.info.timestampNanos, h: header ? m.headers?.get(header) : undefined });
    if (m.seq >= last) break;
  }
  await it.close();
  return out;
}

/**
 * Feeds `rows` rows in 1000-row updates; resolves with the seconds until `parentDone` and until
 * `copyDone` hold (copyS NaN when the copy is not done `copyBoundMs` after the parent).
 */
async function timedFeed(nc: NatsConnection, rows: number, parentDone: () => Promise<boolean>, copyDone: () => Promise<boolean>, copyBoundMs: number): Promise<{ parentS: number; copyS: number }> {
  const pub = new Publisher(nc, { tp: TP, inflightMax: 1024 });
  const c = cols(BATCH_ROWS);
  const t0 = performance.now();
  const sending = pump(rows / BATCH_ROWS, 48, () => pub.publish('trade', { cols: c }));
  let parentS = 0;
  let copyS = NaN;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (!parentS && (await parentDone())) parentS = (performance.now() - t0) / 1000;
    if (parentS && (await copyDone())) {
      copyS = (performance.now() - t0) / 1000;
      break;
    }
    if (parentS && performance.now() - t0 > parentS * 1000 + copyBoundMs) break;
    if (Date.now() > deadline) throw new Error('chained bench: the parent did not take the feed');
    await new Promise((r) => setTimeout(r, 5));
  }
  await sending;
  pub.close();
  return { parentS, copyS };
}

/** Paced small updates: the hop's added latency per message (copy store time - parent store time), p50 in ms. */
async function hop(nc: NatsConnection, copyStream: string, copyFrom: number, pairHeader: string, parentOf: (h: string) => number, copied: () => Promise<boolean>): Promise<number> {
  const jsm = await manager(nc);
  const parentFrom = (await jsm.streams.info(streams.log(TP))).state.last_seq + 1;
  const pub = new Publisher(nc, { tp: TP });
  for (let i = 0; i < LAT_UPDATES; i++) {
    await pub.publish('trade', { cols: cols(10) });
    await new Promise((r) => setTimeout(r, LAT_GAP_MS));
  }
  pub.close();
  const deadline = Date.now() + 60_000;
  while (!(await copied())) {
    if (Date.now() > deadline) throw new Error('chained bench: the copy did not catch up');
    await new Promise((r) => setTimeout(r, 20));
  }
  const parent = new Map((await storeTimes(nc, streams.log(TP), parentFrom)).map((m) => [m.seq, m.ns]));
  const legs: number[] = [];
  for (const m of await storeTimes(nc, copyStream, copyFrom, pairHeader)) {
    const at = m.h ? parent.get(parentOf(m.h)) : undefined;
    if (at !== undefined) legs.push((m.ns - at) / 1e6);
  }
  if (legs.length < LAT_UPDATES / 2) throw new Error(`chained bench: only ${legs.length} hop samples`);
  return p50(legs);
}

/**
 * The floor of one hop on this machine now: a bare nats.js ordered consumer in this process that
 * re-publishes each parent message to stream RELAY (header Tb-Parent-Seq), no tickbus code between.
 */
async function rawRelayHop(nc: NatsConnection, from: number): Promise<number> {
  const jsm = await manager(nc);
  await jsm.streams.add({ name: 'RELAY', subjects: ['relay.>'], storage: 'file' as never, max_msg_size: 4 * 1024 * 1024 });
  const js = jetstream(nc);
  const it = await (await js.consumers.get(streams.log(TP), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 })).consume();
  let relayed = 0;
  const relaying = (async () => {
    for await (const m of it) {
      const h = headers();
      h.set(Header.parentSeq, String(m.seq));
      void js.publish('relay.trade', m.data, { headers: h }).then(() => relayed++);
    }
  })();
  try {
    return await hop(nc, 'RELAY', 1, Header.parentSeq, Number, async () => relayed >= (await jsm.streams.info(streams.log(TP))).state.last_seq - from);
  } finally {
    await it.close();
    await relaying;
  }
}

export async function benchChained(rows = 2_000_000): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-chainedbench-'));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc = await connect({ servers: server.url });
  const procs: Proc[] = [];
  try {
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ tables, defaults: { tickerplant: { mode: 'batch', pubFreqMs: 5 }, chainedtp: { parent: TP, pubFreqMs: 0 } } }));
    procs.push(spawnProc('tickerplant', TP, cfg, server.url));
    await waitUp(nc, TP);
    const ctp = spawnProc('chainedtp', CTP, cfg, server.url);
    procs.push(ctp);
    await waitUp(nc, CTP);
    const jsm = await manager(nc);
    const count = async (name: string) => (await status<{ counts?: { trade?: number } }>(nc, name))?.counts?.trade ?? 0;
    rows = Math.max(BATCH_ROWS, Math.round(rows / BATCH_ROWS) * BATCH_ROWS);

    // The chained tp: throughput, then the hop.
    const a = await timedFeed(nc, rows, async () => (await count(TP)) >= rows, async () => (await count(CTP)) >= rows, 120_000);
    if (Number.isNaN(a.copyS)) throw new Error(`chained bench: the chained tp forwarded ${await count(CTP)} of ${rows} rows`);
    const parentLast = async () => (await jsm.streams.info(streams.log(TP))).state.last_seq;
    const watermark = async () => {
      const last = (await jsm.streams.info(streams.log(CTP))).state.last_seq;
      return Number((await jsm.streams.getMessage(streams.log(CTP), { seq: last }))?.header.get(Header.parentSeq));
    };
    const ctpFrom = (await jsm.streams.info(streams.log(CTP))).state.last_seq + 1;
    const ctpHop = await hop(nc, streams.log(CTP), ctpFrom, Header.parentSeq, Number, async () => (await watermark()) >= (await parentLast()));
    await stopProc(ctp);
    procs.splice(procs.indexOf(ctp), 1);
    const relayHop = await rawRelayHop(nc, await parentLast());

    // The alternative: a stream sourcing the parent's log from its current end.
    const base = await parentLast();
    const before = await count(TP);
    await jsm.streams.add({ name: SOURCED, sources: [{ name: streams.log(TP), opt_start_seq: base + 1 }], storage: 'file' as never, max_msg_size: 4 * 1024 * 1024 });
    const sourced = async () => (await jsm.streams.info(SOURCED)).state.messages;
    const b = await timedFeed(nc, rows, async () => (await count(TP)) >= before + rows, async () => (await sourced()) >= (await parentLast()) - base, 20_000);
    const parentRate = rows / a.parentS;
    const out: Metric[] = [
      { metric: 'chained_tp_parent_rows_per_s', value: parentRate, unit: 'rows/s', target: 'baseline (the parent tickerplant, same feed, same run)' },
      { metric: 'chained_tp_rows_per_s', value: rows / a.copyS, unit: 'rows/s', baseline: 'chained_tp_parent_rows_per_s', ratio: rows / a.copyS / parentRate },
      { metric: 'chained_tp_hop_p50_ms', value: ctpHop, unit: 'ms', baseline: 'chained_tp_raw_relay_hop_p50_ms', ratio: ctpHop / relayHop },
      { metric: 'chained_tp_raw_relay_hop_p50_ms', value: relayHop, unit: 'ms', target: 'baseline (a bare nats.js consumer re-publishing each message, same machine, same run)' },
    ];
    if (Number.isNaN(b.copyS)) {
      // nats-server 2.9 re-checks the parent's Nats-Expected-Last-Sequence header on each sourced
      // message, so the copy refuses them: report how much of the log it copied (decision 98).
      out.push({ metric: 'chained_tp_sourced_copied_fraction', value: (await sourced()) / ((await parentLast()) - base), unit: 'messages', target: 'info (a stream sourcing the parent log; 1 = all copied)' });
      return out;
    }
    const srcFrom = (await jsm.streams.info(SOURCED)).state.last_seq + 1;
    // Nats-Stream-Source: "<stream> <origin seq> ..." names the parent message a sourced one copies.
    const srcHop = await hop(nc, SOURCED, srcFrom, 'Nats-Stream-Source', (h) => Number(h.split(' ')[1]), async () => (await sourced()) >= (await parentLast()) - base);
    out.push(
      { metric: 'chained_tp_sourced_rows_per_s', value: rows / b.copyS, unit: 'rows/s', baseline: 'chained_tp_parent_rows_per_s', ratio: rows / b.copyS / (rows / b.parentS), target: 'info (a JetStream stream sourcing the parent log; no sym filter, no batching)' },
      { metric: 'chained_tp_sourced_hop_p50_ms', value: srcHop, unit: 'ms', target: 'info (the same alternative)' },
    );
    return out;
  } finally {
    for (const p of procs.reverse()) await stopProc(p);
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const m of await benchChained(Number(process.argv[2] ?? 2_000_000))) {
    process.stdout.write(`${m.metric} = ${m.value.toFixed(3)} ${m.unit}${m.ratio !== undefined ? ` (ratio ${m.ratio.toFixed(3)})` : ''}\n`);
  }
  process.exit(0);
}
