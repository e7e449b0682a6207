// Proves actors/gateway/raw.ts: the bytes of a field of a CBOR map, found by walking the encoding,
// are exactly the encoding of that field's value, for the shapes requests carry (nested maps,
// arrays, typed arrays, bigints, long strings, floats, null); anything else answers undefined.
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../bus/codec.ts';
import { rawField, skipItem } from '../../actors/gateway/raw.ts';

describe('gateway raw field', () => {
  const query = {
    type: 'tickbus.v1.getdata',
    table: 'trade',
    syms: ['AAPL', 'MSFT'],
    n: 1n << 40n,
    price: new Float64Array([1.5, 2.5]),
    x: { deep: [1, -2, 3.25, null, true, 'é'.repeat(300)] },
    big: 2 ** 40,
  };

  it('gateway: finds the query field wherever it is and equals its own encoding', () => {
    for (const body of [
      { type: 'tickbus.v1.gateway.request', query, target: ['rdb'], timeoutMs: 1000 },
      { query, type: 'tickbus.v1.gateway.request' },
      { a: new Uint8Array(70_000), type: 't', id: 'x'.repeat(30), query },
    ]) {
      const b = encode(body);
      const raw = rawField(b, 'query')!;
      expect(raw).toBeDefined();
      expect(decode(raw)).toEqual(decode(encode(query)));
      expect(skipItem(b, 0)).toBe(b.length);
    }
  });

  it('gateway: answers undefined when the field is missing or the bytes are not a map', () => {
    expect(rawField(encode({ type: 'x' }), 'query')).toBeUndefined();
    expect(rawField(encode([1, 2]), 'query')).toBeUndefined();
    const b = encode({ query: { a: 'x'.repeat(100) } });
    expect(rawField(b.subarray(0, b.length - 5), 'query')).toBeUndefined();
    expect(rawField(new Uint8Array(0), 'query')).toBeUndefined();
  });
});
