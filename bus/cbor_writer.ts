// A small CBOR writer for the feed's hot path: plain maps, arrays, strings, numbers, booleans,
// null and RFC 8746 typed arrays (the same tags cbor-x writes and reads). It writes into one
// slab per process (256 KiB, a new one when full) and hands out views of it, so a message costs
// no ArrayBuffer of its own; a view stays valid for as long as it is held (slabs are never
// rewritten). Anything else (bigint outside a typed array, Map, Date, ...) returns undefined and
// the caller falls back to the general encoder (bus/codec.ts).

const SLAB = 256 * 1024;

/** RFC 8746 tags (little endian) by typed-array class, as cbor-x encodes them. */
export const TYPED_TAGS = new Map<unknown, number>([
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
const utf8 = new TextEncoder();

/** Writes CBOR items into a buffer it owns; `room` moves the message being written to a larger one. */
export class CborWriter {
  buf: Uint8Array;
  private view: DataView;
  pos = 0;
  /** Where the message being written starts. */
  start = 0;
  /** False once a value needed the general encoder. */
  ok = true;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes of the message being written (moving it to a new buffer if need be). */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const len = this.pos - this.start;
    const next = new Uint8Array(Math.max(SLAB, (len + n) * 2));
    next.set(this.buf.subarray(this.start, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.start = 0;
    this.pos = len;
  }

  head(major: number, n: number): void {
    this.room(9);
    const m = major << 5;
    const b = this.buf;
    if (n < 24) b[this.pos++] = m | n;
    else if (n < 0x100) {
      b[this.pos++] = m | 24;
      b[this.pos++] = n;
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    } else {
      b[this.pos++] = m | 27;
      this.view.setBigUint64(this.pos, BigInt(n));
      this.pos += 8;
    }
  }

  str(s: string): void {
    const n = s.length;
    // ASCII strings (nearly all of a feed's) are written byte by byte; others via TextEncoder.
    this.room(n + 9);
    const at = this.pos;
    this.head(3, n);
    const b = this.buf;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[this.pos++] = c;
    }
    if (i === n) return;
    this.pos = at;
    const bytes = utf8.encode(s);
    this.head(3, bytes.length);
    this.bytes(bytes);
  }

  bytes(u8: Uint8Array): void {
    this.room(u8.length);
    this.buf.set(u8, this.pos);
    this.pos += u8.length;
  }

  num(x: number): void {
    if (Number.isInteger(x) && x >= -0x100000000 && x < 0x100000000 && !Object.is(x, -0)) {
      if (x >= 0) this.head(0, x);
      else this.head(1, -1 - x);
      return;
    }
    this.room(9);
    this.buf[this.pos++] = 0xfb;
    this.view.setFloat64(this.pos, x);
    this.pos += 8;
  }

  value(v: unknown): void {
    if (!this.ok) return;
    switch (typeof v) {
      case 'string':
        return this.str(v);
      case 'number':
        return this.num(v);
      case 'boolean':
        this.room(1);
        this.buf[this.pos++] = v ? 0xf5 : 0xf4;
        return;
      case 'undefined':
        this.room(1);
        this.buf[this.pos++] = 0xf7;
        return;
      case 'object': {
        if (v === null) {
          this.room(1);
          this.buf[this.pos++] = 0xf6;
          return;
        }
        if (Array.isArray(v)) {
          this.head(4, v.length);
          for (let i = 0; i < v.length; i++) this.value(v[i]);
          return;
        }
        if (ArrayBuffer.isView(v)) {
          const tag = TYPED_TAGS.get(v.constructor);
          if (tag === undefined) {
            this.ok = false;
            return;
          }
          this.head(6, tag);
          this.head(2, v.byteLength);
          this.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
          return;
        }
        if (Object.getPrototypeOf(v) !== Object.prototype) {
          this.ok = false;
          return;
        }
        const o = v as Record<string, unknown>;
        let n = 0;
        for (const k in o) if (o[k] !== undefined) n++;
        this.head(5, n);
        for (const k in o) {
          const x = o[k];
          if (x === undefined) continue; // left out, as JSON does
          this.str(k);
          this.value(x);
        }
        return;
      }
      default:
        this.ok = false; // bigint, function, symbol: the general encoder decides
    }
  }

  /** The message written since `start`; the next one starts after it (the buffer is never rewritten). */
  finish(): Uint8Array {
    const out = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    return out;
  }
}

/** The feed side's slab: small messages are views of it (a new slab when it is full). */
const slab = new CborWriter(SLAB);

/**
 * The CBOR of a map of `entries` (keys in order; undefined values left out), or undefined when a
 * value needs the general encoder.
 */
export function writeMap(entries: ReadonlyArray<readonly [string, unknown]>): Uint8Array | undefined {
  const w = slab;
  w.start = w.pos;
  w.ok = true;
  let n = 0;
  for (const e of entries) if (e[1] !== undefined) n++;
  w.head(5, n);
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    w.str(k);
    w.value(v);
    if (!w.ok) break;
  }
  if (!w.ok) {
    w.pos = w.start;
    return undefined;
  }
  return w.finish();
}
