import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../bus/codec.ts';
import { defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';

const schema = defineTable('t', { time: 'timestamp', sym: 'symbol', px: 'float' });
const syms = (m: MemTable) => Array.from({ length: m.n }, (_, i) => m.syms.names[m.get('sym', i) as number]);

describe('MemTable.append', () => {
  it('maps each batch through its own dictionary, whether the dictionary repeats, changes or is mutated in place', () => {
    const m = new MemTable(schema, new SymbolTable());
    const dict = ['A', 'B'];
    m.append({ table: 't', n: 2, cols: { time: new BigInt64Array(2), sym: { dict, codes: Uint32Array.of(0, 1) }, px: Float64Array.of(1, 2) } });
    m.append({ table: 't', n: 2, cols: { time: new BigInt64Array(2), sym: { dict: ['A', 'B'], codes: Uint32Array.of(1, 0) }, px: Float64Array.of(3, 4) } });
    m.append({ table: 't', n: 2, cols: { time: new BigInt64Array(2), sym: { dict: ['B', 'C'], codes: Uint32Array.of(0, 1) }, px: Float64Array.of(5, 6) } });
    dict[0] = 'D'; // the same array, new contents
    m.append({ table: 't', n: 2, cols: { time: new BigInt64Array(2), sym: { dict, codes: Uint32Array.of(0, 1) }, px: Float64Array.of(7, 8) } });
    m.append({ table: 't', n: 1, cols: { time: new BigInt64Array(1), sym: { dict: ['C', 'A', 'B'], codes: Uint32Array.of(2) }, px: Float64Array.of(9) } });
    expect(syms(m)).toEqual(['A', 'B', 'B', 'A', 'B', 'C', 'D', 'B', 'B']);
    expect(Array.from({ length: m.n }, (_, i) => m.get('px', i))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('appends decoded columns at any alignment in the source bytes (views or copies alike)', () => {
    const bytes = encode({ n: 3, cols: { time: BigInt64Array.of(1n, 2n, 3n), sym: { dict: ['X', 'Y'], codes: Uint32Array.of(1, 0, 1) }, px: Float64Array.of(1.5, 2.5, 3.5) } });
    const m = new MemTable(schema, new SymbolTable());
    for (let off = 0; off < 8; off++) {
      const chunk = Buffer.alloc(bytes.length + 16);
      chunk.set(bytes, off);
      const b = decode<{ n: number; cols: Record<string, never> }>(chunk.subarray(off, off + bytes.length));
      m.append({ table: 't', n: b.n, cols: b.cols });
      chunk.fill(0); // the table keeps copies, not views of the message
    }
    expect(syms(m)).toEqual(Array.from({ length: 8 }, () => ['Y', 'X', 'Y']).flat());
    expect(Array.from({ length: m.n }, (_, i) => m.get('px', i))).toEqual(Array.from({ length: 8 }, () => [1.5, 2.5, 3.5]).flat());
    expect(Array.from({ length: m.n }, (_, i) => m.get('time', i))).toEqual(Array.from({ length: 8 }, () => [1n, 2n, 3n]).flat());
  });
});
