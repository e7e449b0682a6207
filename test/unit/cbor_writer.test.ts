// Proves the hot-path CBOR writers decode to what the general encoder (bus/codec.ts, cbor-x)
// produces: the Publisher's update writer (with its fallback) and the tickerplant's log-message
// writer that copies column bytes straight from the pending parts.
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../bus/codec.ts';
import { writeMap } from '../../bus/cbor_writer.ts';
import { encodeLogBatch } from '../../actors/tickerplant/log_encode.ts';
import { batchFromFeed, concatBatches, type Batch } from '../../storage/batch.ts';
import { defineSchema } from '../../storage/schema.ts';

describe('cbor writer', () => {
  it('cbor writer: updates decode as the general encoder’s do', () => {
    const cases: Array<Array<[string, unknown]>> = [
      [['type', 'tickbus.v1.upd'], ['rows', [['SYM01', 100.5, 100], ['é日本', -3, 2 ** 40, -(2 ** 40), 0.1, NaN, null, true, false]]], ['id', 'abc-1'], ['ack', 'bulk']],
      [['type', 'x'], ['cols', { sym: { dict: ['A', 'B'], codes: Uint32Array.of(0, 1, 1) }, price: Float64Array.of(1.5, 2, 3), size: BigInt64Array.of(1n, -2n, 3n), b: Uint8Array.of(0, 1), i: Int32Array.of(-5, 7) }]],
      [['s', 'x'.repeat(300)], ['big', 'y'.repeat(70_000)], ['n', [255, 256, 65535, 65536, 4294967295, 4294967296, -4294967296, -4294967297, 23, 24, -24, -25]]],
    ];
    for (const c of cases) expect(decode(writeMap(c)!)).toEqual(decode(encode(Object.fromEntries(c))));
    expect(writeMap([['x', 1n]])).toBeUndefined(); // the caller falls back to the general encoder
  });

  it('cbor writer: messages stay intact across slabs while they are held', () => {
    const held: Array<[number, Uint8Array]> = [];
    for (let i = 0; i < 20_000; i++) held.push([i, writeMap([['type', 't'], ['rows', [[`S${i}`, i + 0.5, i]]], ['id', `p-${i}`]])!]);
    for (const [i, b] of held) expect(decode<{ id: string; rows: unknown[][] }>(b)).toEqual({ type: 't', rows: [[`S${i}`, i + 0.5, i]], id: `p-${i}` });
  });

  it('cbor writer: a log message written from parts decodes as the concatenated batch does', () => {
    const schema = defineSchema({ t: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', n: 'int', d: 'date', b: 'bool', s: 'string', v: 'symbol' } }).get('t')!;
    const parts: Batch[] = [
      batchFromFeed(schema, { rows: [['A', 1.5, 10, 3, '2026-01-01', true, 'x', 'é'], ['B', 2.5, -10, -3, '2026-01-02', false, 'yé', 'q']] }, 5n, 100),
      batchFromFeed(schema, { cols: { sym: { dict: ['C', 'A'], codes: Uint32Array.of(0, 1, 1) }, price: Float64Array.of(1, 2, 3), size: BigInt64Array.of(1n, 2n, 3n), n: [1, 2, 3], d: [1, 2, 3], b: [0, 1, 0], s: ['a', 'b', 'c'], v: ['q', 'q', 'r'] } }, 6n, 100),
    ];
    for (const ps of [parts, [parts[1]!], [parts[0]!], [parts[0]!, parts[1]!, parts[0]!]]) {
      const b = concatBatches(schema, ps);
      const ref = decode(encode({ type: 'tickbus.v1.batch', table: 't', day: '2026-11-22', n: b.n, cols: b.cols }));
      expect(decode(encodeLogBatch('tickbus.v1.batch', schema, '2026-11-22', ps, b.n))).toEqual(ref);
    }
  });
});
