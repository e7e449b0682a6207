// The RDB's recent window without a bus: the per-table sequence index, dropping written batches
// older than the window (MemTable.dropFront, across chunk boundaries), and afterSeq as a row floor
// in the memory engine (raw rows and aggregations, with and without the chunk summaries), checked
// against the same query over a table holding only the expected batches.
import { describe, expect, it } from 'vitest';
import { afterSeqOf, fromRowFor, SeqIndex, WrittenLog } from '../../actors/rdb/window.ts';
import { ErrorCode } from '../../bus/errors.ts';
import type { Batch } from '../../storage/batch.ts';
import { planFor, runPlan, runQuery } from '../../storage/query/memory.ts';
import { defineTable } from '../../storage/schema.ts';
import { CHUNK_ROWS, MemTable, SymbolTable } from '../../storage/table.ts';

const schema = defineTable('trade', { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' });
const SYMS = ['A', 'B', 'C'];
const MS = 1_000_000n;

/** Batch k (sequence 2k + 1: other tables' batches sit between): `n` rows at time k seconds + i µs. */
function batch(k: number, n: number): Batch {
  const time = BigInt64Array.from({ length: n }, (_, i) => BigInt(k) * 1000n * MS + BigInt(i) * 1000n);
  const codes = Uint32Array.from({ length: n }, (_, i) => (k + i) % 3);
  const price = Float64Array.from({ length: n }, (_, i) => k + i / n);
  const size = BigInt64Array.from({ length: n }, (_, i) => BigInt(k * 100_000 + i));
  return { table: 'trade', n, cols: { time, sym: { dict: SYMS, codes }, price, size } };
}
const seqOf = (k: number) => 2 * k + 1;
// Sizes straddle chunk boundaries (64k rows a chunk).
const SIZES = [40_000, 50_000, 30_000, 70_000, 20_000, 5];

function build(from = 0): { t: MemTable; idx: SeqIndex } {
  const t = new MemTable(schema, new SymbolTable());
  const idx = new SeqIndex();
  SIZES.forEach((n, k) => {
    if (k < from) return;
    idx.add(seqOf(k), t.n, batch(k, n), true);
    t.append(batch(k, n));
  });
  return { t, idx };
}

const q = { table: 'trade', start: 0n, end: 10n ** 18n };
const aggs = { ...q, grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }, { op: 'last', column: 'price' }, { op: 'first', column: 'size' }] };

function after(t: MemTable, idx: SeqIndex, request: Record<string, unknown>, afterSeq: number) {
  const tables = new Map([['trade', t]]);
  const plan = planFor(tables, request);
  plan.fromRow = fromRowFor(idx, t, 'trade', afterSeq);
  return runPlan(t, plan);
}

describe('rdb window', () => {
  it('afterSeq: rows of the batches above the sequence only, raw and aggregated, as a table holding just those batches', () => {
    const { t, idx } = build();
    for (const k of [0, 1, 3, 5]) {
      const only = build(k).t;
      const tables = new Map([['trade', only]]);
      expect(after(t, idx, aggs, seqOf(k) - 1)).toEqual(runQuery(tables, aggs));
      expect(after(t, idx, { ...aggs, aggregations: [{ op: 'count' }] }, seqOf(k) - 1)).toEqual(runQuery(tables, { ...aggs, aggregations: [{ op: 'count' }] }));
      expect(after(t, idx, { ...q, columns: ['size'], limit: 7 }, seqOf(k) - 1)).toEqual(runQuery(tables, { ...q, columns: ['size'], limit: 7 }));
    }
    expect(after(t, idx, { ...q, aggregations: [{ op: 'count' }] }, 999).cols.count).toEqual(BigInt64Array.of(0n));
  });

  it('drops written batches older than the window from the front, and refuses afterSeq below what it dropped', () => {
    const { t, idx } = build();
    // Written up to batch 3; window 2.5 s behind the newest row (batch 5 at 5 s): batches 0..2 are older.
    const dropped = idx.drop(t, seqOf(3), idx.newestNs - 2_500n * MS);
    expect(dropped).toBe(SIZES[0]! + SIZES[1]! + SIZES[2]!);
    expect(t.n).toBe(SIZES.slice(3).reduce((a, b) => a + b, 0));
    expect(idx.droppedSeq).toBe(seqOf(2));
    expect(idx.batches).toBe(3);
    // What is left is exactly batches 3.. (also across the old chunk boundary).
    const rest = new Map([['trade', build(3).t]]);
    expect(runQuery(new Map([['trade', t]]), aggs)).toEqual(runQuery(rest, aggs));
    expect(after(t, idx, aggs, seqOf(2))).toEqual(runQuery(rest, aggs));
    expect(after(t, idx, aggs, seqOf(3))).toEqual(runQuery(new Map([['trade', build(4).t]]), aggs));
    expect(() => after(t, idx, aggs, seqOf(2) - 1)).toThrow(expect.objectContaining({ code: ErrorCode.NOT_READY, detail: expect.objectContaining({ param: 'afterSeq', heldFromSeq: seqOf(2) + 1 }) }));
    // Not written yet (batch 4 and 5) or inside the window: nothing more goes.
    expect(idx.drop(t, seqOf(3), idx.newestNs - 2_500n * MS)).toBe(0);
    expect(idx.drop(t, seqOf(5), 0n)).toBe(0);
    expect(CHUNK_ROWS).toBe(65_536);
  });

  it('written notices ripen after the grace; afterSeq must be a sequence', () => {
    const log = new WrittenLog(100);
    log.note(1_000, { trade: { lastSeq: 7 } });
    log.note(1_050, { trade: { lastSeq: 9 }, quote: { lastSeq: 9 } });
    expect(log.ripen(1_099)).toBe(false);
    expect(log.written.get('trade')).toBeUndefined();
    expect(log.ripen(1_100)).toBe(true);
    expect(log.written.get('trade')).toBe(7);
    log.ripen(1_150);
    expect(Object.fromEntries(log.written)).toEqual({ trade: 9, quote: 9 });
    expect(afterSeqOf({})).toBeUndefined();
    expect(afterSeqOf({ afterSeq: 3 })).toBe(3);
    for (const v of [-1, 1.5, '3', null]) expect(() => afterSeqOf({ afterSeq: v })).toThrow(expect.objectContaining({ code: ErrorCode.BAD_QUERY, detail: expect.objectContaining({ param: 'afterSeq' }) }));
  });
});
