// A demo feed: a random walk per sym; quotes around the mid with a realistic spread and sizes in
// round lots, trades at the bid or the ask. Rows go out as columns (dictionary-coded syms), a
// batch every tickMs, through the Publisher (which waits for the tickerplant's ack).
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../bus/log.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { RunningProcess } from '../common/runtime.ts';
import { defaultFeedSettings, type FeedSettings } from './settings.ts';

const TICKERS = [
  'AAPL', 'MSFT', 'AMZN', 'GOOG', 'META', 'NVDA', 'TSLA', 'JPM', 'V', 'MA', 'UNH', 'HD', 'PG', 'JNJ', 'XOM', 'CVX', 'KO', 'PEP',
  'MRK', 'ABBV', 'AVGO', 'COST', 'WMT', 'BAC', 'WFC', 'C', 'GS', 'MS', 'INTC', 'AMD', 'CSCO', 'ORCL', 'IBM', 'QCOM', 'TXN', 'ADBE',
  'CRM', 'NFLX', 'DIS', 'NKE', 'MCD', 'SBUX', 'BA', 'CAT', 'GE', 'MMM', 'HON', 'UPS', 'LMT', 'RTX',
];

/** Small deterministic PRNG (mulberry32), so a seed replays the same market. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class MarketSim {
  readonly syms: string[];
  private readonly mids: Float64Array;
  private readonly rnd: () => number;

  constructor(count: number, seed: number, offset = 0) {
    this.rnd = prng(seed);
    this.syms = Array.from({ length: count }, (_, i) => TICKERS[offset + i] ?? `SYM${offset + i}`);
    this.mids = Float64Array.from(this.syms, () => 20 + this.rnd() * 480);
  }

  private step(i: number): number {
    const m = this.mids[i]! * (1 + (this.rnd() - 0.5) * 0.0008);
    this.mids[i] = Math.max(1, m);
    return this.mids[i]!;
  }

  quotes(n: number): Record<string, unknown> {
    const codes = new Uint32Array(n);
    const bid = new Float64Array(n);
    const ask = new Float64Array(n);
    const bsize = new BigInt64Array(n);
    const asize = new BigInt64Array(n);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(this.rnd() * this.syms.length);
      const mid = this.step(i);
      const half = Math.max(0.005, mid * 0.0002 * (0.5 + this.rnd()));
      codes[k] = i;
      bid[k] = Math.round((mid - half) * 100) / 100;
      ask[k] = Math.max(bid[k]! + 0.01, Math.round((mid + half) * 100) / 100);
      bsize[k] = BigInt(100 * (1 + Math.floor(this.rnd() * 20)));
      asize[k] = BigInt(100 * (1 + Math.floor(this.rnd() * 20)));
    }
    return { sym: { dict: this.syms, codes }, bid, ask, bsize, asize };
  }

  trades(n: number): Record<string, unknown> {
    const codes = new Uint32Array(n);
    const price = new Float64Array(n);
    const size = new BigInt64Array(n);
    const side = new Uint32Array(n);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(this.rnd() * this.syms.length);
      const mid = this.step(i);
      const buy = this.rnd() < 0.5;
      codes[k] = i;
      price[k] = Math.round(mid * (buy ? 1.0001 : 0.9999) * 100) / 100;
      size[k] = BigInt(this.rnd() < 0.7 ? 100 * (1 + Math.floor(this.rnd() * 10)) : 1 + Math.floor(this.rnd() * 99));
      side[k] = buy ? 0 : 1;
    }
    return { sym: { dict: this.syms, codes }, price, size, side: { dict: ['buy', 'sell'], codes: side } };
  }
}

export async function startFeed(nc: NatsConnection, settings: Partial<FeedSettings> & Pick<FeedSettings, 'name' | 'tp'>, logger: Logger): Promise<RunningProcess> {
  const s: FeedSettings = { ...defaultFeedSettings, ...settings };
  const sim = new MarketSim(s.syms, s.seed, s.symOffset);
  const pub = new Publisher(nc, { tp: s.tp, ackTimeoutMs: 5_000, retriesMax: 20 });
  const stats = { quotes: 0, trades: 0, failed: 0, inflight: 0 };
  let qCarry = 0;
  let tCarry = 0;
  const send = (table: string, cols: Record<string, unknown>, n: number) => {
    stats.inflight++;
    pub.publish(table, { cols }).then(
      () => {
        stats.inflight--;
        if (table === 'trade') stats.trades += n;
        else stats.quotes += n;
      },
      (e: Error) => {
        stats.inflight--;
        stats.failed += n;
        logger.warn({ err: e.message, table }, 'feed update not acknowledged');
      },
    );
  };
  const timer = setInterval(() => {
    // Bound the feed's own backlog: skip a tick while too many updates wait for acks.
    if (stats.inflight > 100) return;
    qCarry += (s.quotesPerSec * s.tickMs) / 1000;
    tCarry += (s.tradesPerSec * s.tickMs) / 1000;
    const nq = Math.floor(qCarry);
    const nt = Math.floor(tCarry);
    qCarry -= nq;
    tCarry -= nt;
    if (nq > 0) send('quote', sim.quotes(nq), nq);
    if (nt > 0) send('trade', sim.trades(nt), nt);
  }, s.tickMs);
  return {
    ready: async () => {},
    async stop() {
      clearInterval(timer);
      const deadline = Date.now() + 5_000;
      while (stats.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      pub.close();
    },
    status: () => ({ ...stats }),
  };
}
