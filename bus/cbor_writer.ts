// A small CBOR writer for the feed's hot path: plain maps, arrays, strings, numbers, booleans,
// null and RFC 8746 typed arrays (the same tags cbor-x writes and reads). It writes into one
// slab per process (256 KiB, a new one when full) and hands out views of it, so a message costs
// no ArrayBuffer of its own; a view stays valid for as long as it is held (slabs are never
// rewritten). Anything else (bigint outside a typed array, Map, Date, ...) returns undefined and
// the caller falls back to the general encoder (bus/codec.ts).

const SLAB = 256 * 1024;
let slab = new Uint8Array(SLAB);
let view = new DataView(slab.buffer);
let pos = 0;
let start = 0;
let ok = true;

/** RFC 8746 tags (little endian) by typed-array class, as cbor-x encodes them. */
const TAGS = new Map<unknown, number>([
  [Uint8Array, 64],
  [Uint16Array, 69],
  [Uint32Array, 70],
  [BigUint64Array, 71],
  [Int8Array, 72],
  [Int16Array, 77],
  [Int32Array, 78],
  [BigInt64Array, 79],
  [Float32Array, 85],
  [Float64Array, 86],
]);

/** Makes room for `n` more bytes of the message being written (moving it to a new slab if need be). */
function room(n: number): void {
  if (pos + n <= slab.length) return;
  const len = pos - start;
  const next = new Uint8Array(Math.max(SLAB, (len + n) * 2));
  next.set(slab.subarray(start, pos));
  slab = next;
  view = new DataView(slab.buffer);
  start = 0;
  pos = len;
}

function head(major: number, n: number): void {
  room(9);
  const m = major << 5;
  if (n < 24) slab[pos++] = m | n;
  else if (n < 0x100) {
    slab[pos++] = m | 24;
    slab[pos++] = n;
  } else if (n < 0x10000) {
    slab[pos++] = m | 25;
    view.setUint16(pos, n);
    pos += 2;
  } else if (n < 0x100000000) {
    slab[pos++] = m | 26;
    view.setUint32(pos, n);
    pos += 4;
  } else {
    slab[pos++] = m | 27;
    view.setBigUint64(pos, BigInt(n));
    pos += 8;
  }
}

function str(s: string): void {
  const n = s.length;
  // ASCII strings (nearly all of a feed's) are written byte by byte; others via TextEncoder.
  room(n + 9);
  const at = pos;
  head(3, n);
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    slab[pos++] = c;
  }
  if (i === n) return;
  pos = at;
  const bytes = utf8.encode(s);
  head(3, bytes.length);
  room(bytes.length);
  slab.set(bytes, pos);
  pos += bytes.length;
}
const utf8 = new TextEncoder();

function num(x: number): void {
  if (Number.isInteger(x) && x >= -0x100000000 && x < 0x100000000 && !Object.is(x, -0)) {
    if (x >= 0) head(0, x);
    else head(1, -1 - x);
    return;
  }
  room(9);
  slab[pos++] = 0xfb;
  view.setFloat64(pos, x);
  pos += 8;
}

function value(v: unknown): void {
  if (!ok) return;
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'number':
      return num(v);
    case 'boolean':
      room(1);
      slab[pos++] = v ? 0xf5 : 0xf4;
      return;
    case 'undefined':
      room(1);
      slab[pos++] = 0xf7;
      return;
    case 'object': {
      if (v === null) {
        room(1);
        slab[pos++] = 0xf6;
        return;
      }
      if (Array.isArray(v)) {
        head(4, v.length);
        for (let i = 0; i < v.length; i++) value(v[i]);
        return;
      }
      if (ArrayBuffer.isView(v)) {
        const tag = TAGS.get(v.constructor);
        if (tag === undefined) {
          ok = false;
          return;
        }
        head(6, tag);
        head(2, v.byteLength);
        room(v.byteLength);
        slab.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), pos);
        pos += v.byteLength;
        return;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) {
        ok = false;
        return;
      }
      const o = v as Record<string, unknown>;
      let n = 0;
      for (const k in o) if (o[k] !== undefined) n++;
      head(5, n);
      for (const k in o) {
        const x = o[k];
        if (x === undefined) continue; // left out, as JSON does
        str(k);
        value(x);
      }
      return;
    }
    default:
      ok = false; // bigint, function, symbol: the general encoder decides
  }
}

/**
 * The CBOR of a map of `entries` (keys in order; undefined values left out), or undefined when a
 * value needs the general encoder.
 */
export function writeMap(entries: ReadonlyArray<readonly [string, unknown]>): Uint8Array | undefined {
  start = pos;
  ok = true;
  let n = 0;
  for (const e of entries) if (e[1] !== undefined) n++;
  head(5, n);
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    str(k);
    value(v);
    if (!ok) break;
  }
  if (!ok) {
    pos = start;
    return undefined;
  }
  return slab.subarray(start, pos);
}
