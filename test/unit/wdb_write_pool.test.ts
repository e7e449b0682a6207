// The WDB's write worker (actors/wdb/write_pool.ts) on real files: a buffer of shared chunks is
// sorted and written by the worker thread (read back: every row, sorted by sym then time), a list
// of batches is written on the calling thread, a write past writeTimeoutMs fails with TIMEOUT, a
// closed pool refuses (NOT_READY); and MemTable.appendTable (the buffer put back after a failed
// write-down) keeps every row and symbol.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WritePool } from '../../actors/wdb/write_pool.ts';
import type { Batch } from '../../storage/batch.ts';
import { defineSchema } from '../../storage/schema.ts';
import { CHUNK_ROWS, MemTable, SymbolTable } from '../../storage/table.ts';
import { openDuck, type Duck } from '../support/duck.ts';

const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
const schema = defineSchema(tables).get('trade')!;
const SYMS = ['MSFT', 'AAPL', 'IBM', 'A.B'];
let dir: string;
let duck: Duck;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickbus-wdbpool-'));
  duck = await openDuck();
});
afterAll(() => {
  duck?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` rows from `from`: sym cycles through a batch dictionary in its own order, time descends within a batch. */
function batch(from: number, n: number, dict = SYMS): Batch {
  const codes = new Uint32Array(n);
  const time = new BigInt64Array(n);
  const price = new Float64Array(n);
  const size = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    codes[i] = (from + i) % dict.length;
    time[i] = BigInt(1_000_000 - (from + i));
    price[i] = from + i;
    size[i] = BigInt(from + i);
  }
  return { table: 'trade', n, cols: { time, sym: { dict, codes }, price, size } };
}

function sharedBuffer(batches: Batch[]): MemTable {
  const t = new MemTable(schema, new SymbolTable(true));
  for (const b of batches) t.append(b);
  return t;
}

let k = 0;
const freshDir = () => {
  const d = join(dir, `w${++k}`);
  mkdirSync(d);
  return d;
};

describe('wdb write pool', () => {
  it('writes a shared buffer on the worker thread and a list of batches here, both whole and sorted', async () => {
    const pool = new WritePool(tables, 120_000);
    try {
      const rows = CHUNK_ROWS + 5_000; // more than one chunk per column
      const t = sharedBuffer([batch(0, 40_000), batch(40_000, rows - 40_000, ['IBM', 'A.B', 'MSFT', 'AAPL'])]);
      const r = await pool.encode(t, freshDir(), { schema, filePerRun: false }, 'test');
      expect(pool.stats).toMatchObject({ offThread: 1, onThread: 0 });
      expect(r.rows).toBe(rows);
      const files = r.files.map((f) => `'${f.path}'`).join(', ');
      const [[n, sumSize, bad]] = (await duck.sql(
        `SELECT count(*)::BIGINT, sum(size)::BIGINT, count(*) FILTER (WHERE NOT ok)::BIGINT FROM (SELECT size, (sym, time) >= lag((sym, time), 1, (sym, time)) OVER () AS ok FROM read_parquet([${files}]))`,
      )) as [[bigint, bigint, bigint]];
      expect([n, sumSize, bad]).toEqual([BigInt(rows), BigInt((rows * (rows - 1)) / 2), 0n]);
      const perSym = await duck.sql(`SELECT sym, count(*)::BIGINT FROM read_parquet([${files}]) GROUP BY sym ORDER BY sym`);
      expect(perSym.map((x) => x[0])).toEqual([...SYMS].sort());

      const onThread = await pool.encode([batch(0, 100), batch(100, 50)], freshDir(), { schema, filePerRun: false }, 'test');
      expect(onThread.rows).toBe(150);
      expect(pool.stats).toMatchObject({ offThread: 1, onThread: 1 });
    } finally {
      await pool.close();
    }
    await expect(pool.encode(sharedBuffer([batch(0, 10)]), freshDir(), { schema, filePerRun: false }, 'test')).rejects.toMatchObject({ code: 'NOT_READY' });
  });

  it('fails a write-down past writeTimeoutMs with TIMEOUT and replaces the worker', async () => {
    const pool = new WritePool(tables, 1);
    try {
      await expect(pool.encode(sharedBuffer([batch(0, 50_000)]), freshDir(), { schema, filePerRun: false }, 'test')).rejects.toMatchObject({ code: 'TIMEOUT', detail: { table: 'trade', writeTimeoutMs: 1 } });
      expect(pool.stats.timeouts).toBe(1);
    } finally {
      await pool.close();
    }
  });
});

describe('MemTable.appendTable', () => {
  it('appends another table of its own symbols, across chunk boundaries', () => {
    const a = sharedBuffer([batch(0, CHUNK_ROWS - 3)]);
    const b = new MemTable(schema, new SymbolTable());
    b.append(batch(CHUNK_ROWS - 3, 10, ['ZZ', 'IBM']));
    b.append(batch(CHUNK_ROWS + 7, CHUNK_ROWS, ['A.B', 'NEW', 'MSFT']));
    a.appendTable(b);
    expect(a.n).toBe(2 * CHUNK_ROWS + 7);
    const expected = (i: number) => {
      if (i < CHUNK_ROWS - 3) return SYMS[i % 4];
      if (i < CHUNK_ROWS + 7) return ['ZZ', 'IBM'][i % 2];
      return ['A.B', 'NEW', 'MSFT'][i % 3];
    };
    for (const i of [0, CHUNK_ROWS - 4, CHUNK_ROWS - 3, CHUNK_ROWS + 6, CHUNK_ROWS + 7, 2 * CHUNK_ROWS + 6]) {
      expect(a.syms.names[a.get('sym', i) as number]).toBe(expected(i));
      expect(a.get('price', i)).toBe(i);
      expect(a.get('size', i)).toBe(BigInt(i));
    }
  });
});
