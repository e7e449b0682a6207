// Deterministic trade days for the gateway's data-access tests: rows spread over each UTC day,
// prices and sizes from a simple formula, four syms; appended to MemTables as the RDB holds them.
import { defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';

export const tradeTables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
export const tradeSchema = defineTable('trade', tradeTables.trade);
export const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG'];

export function dayNs(date: string): bigint {
  return BigInt(Date.parse(`${date}T00:00:00Z`)) * 1_000_000n;
}

export function fillDay(t: MemTable, date: string, n: number, seed: number): void {
  const time = new BigInt64Array(n);
  const codes = new Uint32Array(n);
  const price = new Float64Array(n);
  const size = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    time[i] = dayNs(date) + BigInt(Math.floor(((i + 0.5) / n) * 86_000_000)) * 1_000_000n;
    codes[i] = (i * 7 + seed) % SYMS.length;
    price[i] = 100 + ((i * 13 + seed * 5) % 97) / 4;
    size[i] = BigInt(100 * (1 + ((i + seed) % 9)));
  }
  t.append({ table: 'trade', n, cols: { time, sym: { dict: SYMS, codes }, price, size } });
}

/** Tables holding the given days (index i of `days` gets 500 + 50 i rows, seed i + 1). */
export function tablesFor(days: readonly string[], all: readonly string[]): Map<string, MemTable> {
  const t = new MemTable(tradeSchema, new SymbolTable());
  all.forEach((d, i) => {
    if (days.includes(d)) fillDay(t, d, 500 + i * 50, i + 1);
  });
  return new Map([['trade', t]]);
}
