// Test support: a real nats-server per suite (random port, temp store dir), connections, and
// readers that turn the log stream back into rows so invariants can be checked against it.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from '../../bus/codec.ts';
import { type LogBatchBody, multiBodies } from '../../bus/log_batch.ts';
import { parseCounts } from '../../actors/tickerplant/batching.ts';
import { silentLogger } from '../../bus/log.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { manager } from '../../bus/streams.ts';
import { Header, parseTickSubject, streams } from '../../bus/subjects.ts';
import type { Column, SymColumn } from '../../storage/batch.ts';

export { silentLogger };

export async function startServer(): Promise<NatsServer> {
  return await NatsServer.start();
}

export async function connectTo(server: NatsServer, name = 'test'): Promise<NatsConnection> {
  return await connect({ servers: server.url, name, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}

export interface LogBatch {
  seq: number;
  table: string;
  day: string;
  n: number;
  count: number;
  ids: string[];
  cols: Record<string, Column>;
  /** Part of a multi-table message (tick.<tp>._multi). */
  multi?: boolean;
}
export interface LogEod {
  seq: number;
  day: string;
  nextDay: string;
  counts: Record<string, number>;
}
export interface LogContents {
  batches: LogBatch[];
  eods: LogEod[];
  /** Every log message in order, as 'batch' or 'eod'. */
  order: Array<LogBatch | LogEod>;
  lastSeq: number;
}

/** Reads the whole log stream (from `fromSeq`) into memory. */
export async function readLog(nc: NatsConnection, tp: string, fromSeq = 1): Promise<LogContents> {
  const jsm = await manager(nc);
  const info = await jsm.streams.info(streams.log(tp));
  const out: LogContents = { batches: [], eods: [], order: [], lastSeq: info.state.last_seq };
  if (info.state.last_seq < fromSeq) return out;
  const c = await jetstream(nc).consumers.get(streams.log(tp), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq });
  const it = await c.consume();
  for await (const m of it) {
    // Buffer logs (tickbuf.<tp>.<id>) share the stream: not log batches.
    const s = parseTickSubject(m.subject) ?? { kind: 'other' as const, tp, rest: m.subject };
    if (s.kind === 'eod') {
      const e = decode<LogEod>(m.data);
      const ev = { seq: m.seq, day: e.day, nextDay: e.nextDay, counts: e.counts };
      out.eods.push(ev);
      out.order.push(ev);
    } else if (s.kind === 'multi') {
      // One atomic message, several tables: one LogBatch per table, same seq, the ids on the first.
      let bodies: LogBatchBody[];
      try {
        bodies = multiBodies(decode(m.data));
      } catch {
        if (m.seq >= info.state.last_seq) break;
        continue;
      }
      const counts = parseCounts(m.headers?.get(Header.counts));
      bodies.forEach((b, i) => {
        const ev: LogBatch = {
          seq: m.seq,
          table: b.table,
          day: b.day,
          n: b.n,
          count: counts.get(b.table) ?? 0,
          ids: i === 0 ? (m.headers?.get(Header.ids)?.split(',').filter(Boolean) ?? []) : [],
          cols: b.cols,
          multi: true,
        };
        out.batches.push(ev);
        out.order.push(ev);
      });
    } else if (s.kind === 'table') {
      let b: { table: string; day: string; n: number; cols: Record<string, Column> };
      try {
        b = decode(m.data);
      } catch {
        if (m.seq >= info.state.last_seq) break;
        continue; // a corrupt message (tests put some there on purpose)
      }
      const ev: LogBatch = {
        seq: m.seq,
        table: b.table,
        day: b.day,
        n: b.n,
        count: Number(m.headers?.get(Header.count) ?? 0),
        ids: m.headers?.get(Header.ids)?.split(',').filter(Boolean) ?? [],
        cols: b.cols,
      };
      out.batches.push(ev);
      out.order.push(ev);
    }
    if (m.seq >= info.state.last_seq) break;
  }
  await it.close();
  return out;
}

/** All values of a bigint column over batches (e.g. a unique row id `fid`). */
export function column(batches: LogBatch[], name: string, table?: string): bigint[] {
  const out: bigint[] = [];
  for (const b of batches) {
    if (table && b.table !== table) continue;
    for (const v of b.cols[name] as BigInt64Array) out.push(v);
  }
  return out;
}

/** The `fid`s (unique row ids) of one table's rows over batches, in order, keeping rows of `keep` syms only (all when absent). */
export function tableFids(batches: LogBatch[], table: string, keep?: ReadonlySet<string>): bigint[] {
  const out: bigint[] = [];
  for (const b of batches) {
    if (b.table !== table) continue;
    const f = b.cols.fid as BigInt64Array;
    const s = b.cols.sym as SymColumn;
    for (let i = 0; i < b.n; i++) if (!keep || keep.has(s.dict[s.codes[i]!]!)) out.push(f[i]!);
  }
  return out;
}

export function syms(c: Column): string[] {
  const s = c as SymColumn;
  return Array.from(s.codes, (x) => s.dict[x]!);
}

/** The least any wait gets: a slow or shared machine (CI on 2 cores) must not fail a test that is only late. */
const UNTIL_FLOOR_MS = 15_000;

/** Polls `cond` every stepMs until it holds; throws past max(timeoutMs, 15 s). Waits for something to happen, never proves it did not. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 20): Promise<void> {
  timeoutMs = Math.max(timeoutMs, UNTIL_FLOOR_MS);
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const testTables = {
  trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', fid: 'long' },
  quote: { time: 'timestamp', sym: 'symbol', bid: 'float', ask: 'float', fid: 'long' },
};

export function dupes(xs: bigint[]): bigint[] {
  const seen = new Set<bigint>();
  const d: bigint[] = [];
  for (const x of xs) {
    if (seen.has(x)) d.push(x);
    seen.add(x);
  }
  return d;
}

type Clock = import('../../actors/common/clock.ts').Clock;

/**
 * A clock that reads `startMs` now and runs at the wall clock's pace from there (time and stamps
 * both). Tests that depend on the calendar take their day from the clock they inject, so they
 * pass on any date and in any zone.
 */
export function clockAt(startMs: number): Clock {
  const offset = startMs - Date.now();
  return {
    now: () => Date.now() + offset,
    nowNs: () => BigInt(Date.now() + offset) * 1_000_000n,
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  };
}

/**
 * A clock `leadMs` before the next midnight UTC (time and stamps both), for tests that cross a
 * real end of day in seconds. `day0` is the day that ends at `midnight`.
 */
export function clockBeforeMidnight(leadMs: number): { clock: Clock; midnight: number; day0: string } {
  const midnight = Math.ceil(Date.now() / 86_400_000) * 86_400_000;
  return { clock: clockAt(midnight - leadMs), midnight, day0: new Date(midnight - 1).toISOString().slice(0, 10) };
}
