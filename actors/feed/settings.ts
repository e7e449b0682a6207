// Demo feed settings: realistic trades and quotes for a set of syms.
export interface FeedSettings {
  name: string;
  /** Tickerplant to publish to. */
  tp: string;
  /** Number of syms (the first ones are well-known tickers). */
  syms: number;
  /** Index of the first sym, so the feeds of several shards (tp1, tp2) carry disjoint sym ranges. */
  symOffset: number;
  /** Quote and trade rates (rows per second, over all syms). */
  quotesPerSec: number;
  tradesPerSec: number;
  /** How often a batch of rows is generated and sent. */
  tickMs: number;
  /** Seed of the price walk, so runs are reproducible. */
  seed: number;
}

export const defaultFeedSettings: Omit<FeedSettings, 'name' | 'tp'> = {
  syms: 50,
  symOffset: 0,
  quotesPerSec: 2_000,
  tradesPerSec: 400,
  tickMs: 50,
  seed: 42,
};
