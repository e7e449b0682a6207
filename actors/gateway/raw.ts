// The encoded bytes of one field of a CBOR request, found without decoding it again: the gateway
// sends a query's `query` to the backends as the client encoded it instead of encoding the decoded
// object a second time. Pure. Anything unexpected (not a map with text keys, truncated, nested
// deeper than MAX_DEPTH) answers undefined and the caller encodes as before.

/** Deepest nesting walked (arrays, maps, tags) before giving up. */
const MAX_DEPTH = 64;

/** The argument of the head at `pos`: [value, offset after the head], or undefined (indefinite or bad). */
function head(b: Uint8Array, pos: number): [number, number] | undefined {
  const ai = b[pos]! & 0x1f;
  if (ai < 24) return [ai, pos + 1];
  if (ai === 24) return pos + 2 <= b.length ? [b[pos + 1]!, pos + 2] : undefined;
  if (ai === 25) return pos + 3 <= b.length ? [(b[pos + 1]! << 8) | b[pos + 2]!, pos + 3] : undefined;
  if (ai === 26) return pos + 5 <= b.length ? [((b[pos + 1]! << 24) >>> 0) + ((b[pos + 2]! << 16) | (b[pos + 3]! << 8) | b[pos + 4]!), pos + 5] : undefined;
  if (ai === 27) {
    if (pos + 9 > b.length) return undefined;
    const hi = ((b[pos + 1]! << 24) >>> 0) + ((b[pos + 2]! << 16) | (b[pos + 3]! << 8) | b[pos + 4]!);
    const lo = ((b[pos + 5]! << 24) >>> 0) + ((b[pos + 6]! << 16) | (b[pos + 7]! << 8) | b[pos + 8]!);
    return [hi * 2 ** 32 + lo, pos + 9];
  }
  return undefined; // 28-30 reserved, 31 indefinite
}

/** The offset just past the item at `pos`, or -1. */
export function skipItem(b: Uint8Array, pos: number, depth = 0): number {
  if (pos >= b.length || depth > MAX_DEPTH) return -1;
  const major = b[pos]! >> 5;
  const ai = b[pos]! & 0x1f;
  if (ai === 31) {
    // Indefinite length: strings (chunks), arrays and maps run to the break byte 0xff.
    if (major < 2 || major === 6 || major === 7) return -1;
    let p = pos + 1;
    while (p < b.length && b[p] !== 0xff) {
      p = skipItem(b, p, depth + 1);
      if (p < 0) return -1;
    }
    return p < b.length ? p + 1 : -1;
  }
  if (major === 7) {
    const end = ai < 24 ? pos + 1 : ai === 24 ? pos + 2 : ai === 25 ? pos + 3 : ai === 26 ? pos + 5 : ai === 27 ? pos + 9 : -1;
    return end <= b.length ? end : -1;
  }
  const h = head(b, pos);
  if (!h) return -1;
  const [n, p0] = h;
  if (major <= 1) return p0;
  if (major <= 3) return p0 + n <= b.length ? p0 + n : -1;
  if (major === 6) return skipItem(b, p0, depth + 1);
  let p = p0;
  const items = major === 5 ? 2 * n : n;
  if (items > b.length) return -1;
  for (let i = 0; i < items && p >= 0; i++) p = skipItem(b, p, depth + 1);
  return p;
}

/** The bytes of `field`'s value in the top-level CBOR map `b` (a view, not a copy), or undefined. */
export function rawField(b: Uint8Array, field: string): Uint8Array | undefined {
  if (b.length === 0 || b[0]! >> 5 !== 5 || (b[0]! & 0x1f) === 31) return undefined;
  const h = head(b, 0);
  if (!h) return undefined;
  let p = h[1];
  for (let i = 0; i < h[0]; i++) {
    // Keys are text strings (major 3); anything else: give up.
    if (p >= b.length || b[p]! >> 5 !== 3) return undefined;
    const k = head(b, p);
    if (!k) return undefined;
    const [len, ks] = k;
    let match = len === field.length && ks + len <= b.length;
    for (let j = 0; match && j < len; j++) match = b[ks + j] === field.charCodeAt(j);
    const vs = ks + len;
    const ve = skipItem(b, vs);
    if (ve < 0) return undefined;
    if (match) return b.subarray(vs, ve);
    p = ve;
  }
  return undefined;
}
