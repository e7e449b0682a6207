// A client that asks the gateway for each table's row count every `everyMs` for the whole
// scenario (faults included) and keeps what it saw: answers, failures, the longest gap between
// two answers, and the largest count (a double count of replicas would exceed the log).
import type { NatsConnection } from '@nats-io/nats-core';
import { GatewayClient } from '../../bus/gateway_client.ts';
import type { QueryResult } from '../../storage/query/result.ts';

export interface GatewayProbeStats {
  answers: number;
  failures: number;
  /** Longest time between two answers (or from the start to the first), ms. */
  maxGapMs: number;
  /** Largest total row count seen in one answer. */
  maxRows: number;
  /** The last answer's total row count. */
  lastRows: number;
  /** First few failure messages. */
  errors: string[];
}

export interface GatewayProbe {
  stats: GatewayProbeStats;
  /** False once stopped. */
  readonly running: boolean;
  /** Stops the loop and closes the client; returns the stats. */
  stop(): Promise<GatewayProbeStats>;
  /** Total rows of the tables through the gateway, now (the final check; before stop()). */
  countNow(): Promise<number>;
}

export function startGatewayProbe(nc: NatsConnection, o: { gateway: string; tables: readonly string[]; everyMs: number; timeoutMs: number }): GatewayProbe {
  const client = new GatewayClient(nc, { gateway: o.gateway, timeoutMs: o.timeoutMs });
  const stats: GatewayProbeStats = { answers: 0, failures: 0, maxGapMs: 0, maxRows: 0, lastRows: 0, errors: [] };
  // A year ahead: demo days (tickerplant demoDayMs) advance the date, and their stamps, every roll.
  const range = { start: '1970-01-01T00:00:00Z', end: new Date(Date.now() + 366 * 86_400_000).toISOString() };
  const countNow = async () => {
    let n = 0;
    for (const table of o.tables) {
      const r = await client.sync<QueryResult>({ type: 'tickbus.v1.getdata', table, ...range, aggregations: [{ op: 'count' }] }, { types: ['rdb'] });
      n += r.result.n === 0 ? 0 : Number((r.result.cols.count as BigInt64Array)[0] ?? 0n);
    }
    return n;
  };
  let running = true;
  let lastOk = Date.now();
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      try {
        const n = await countNow();
        const now = Date.now();
        stats.maxGapMs = Math.max(stats.maxGapMs, now - lastOk);
        lastOk = now;
        stats.answers++;
        stats.lastRows = n;
        stats.maxRows = Math.max(stats.maxRows, n);
      } catch (e) {
        stats.failures++;
        if (stats.errors.length < 5) stats.errors.push((e as Error).message);
      }
      const wait = o.everyMs - (Date.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    stats,
    countNow,
    get running() {
      return running;
    },
    stop: async () => {
      if (!running) return stats;
      running = false;
      await loop;
      stats.maxGapMs = Math.max(stats.maxGapMs, Date.now() - lastOk);
      client.close();
      return stats;
    },
  };
}
