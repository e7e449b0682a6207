// Chunk arithmetic shared by the RDB engine's parts, and per-chunk time statistics: a full chunk
// never changes again (MemTable only appends), so its min/max/sortedness is computed once and cached.
import { CHUNK_ROWS } from '../../table.ts';

export const CHUNK_SHIFT = 16;
export const CHUNK_MASK = CHUNK_ROWS - 1;
if (1 << CHUNK_SHIFT !== CHUNK_ROWS) throw new Error('memory engine assumes CHUNK_ROWS = 2^16');
export const TWO32 = 4294967296;
/** Fold int64 partial sums into BigInts every this many chunks: 16 x 2^16 rows x 2^32 < 2^53. */
export const SUM_FOLD_CHUNKS = 16;
// Per-chunk time statistics. A full chunk never changes again (MemTable only appends; this and
// the chunk summaries below rely on rows below `n` never being rewritten), so its
// min/max/sortedness is computed once and cached; this is what lets a whole-day query skip the
// per-row time test, and a sorted chunk answer a time range with two binary searches.

interface TimeStats {
  minHi: number;
  minLo: number;
  maxHi: number;
  maxLo: number;
  sorted: boolean;
}
const statsCache = new WeakMap<BigInt64Array, TimeStats>();

export function timeStats(chunk: BigInt64Array, len: number): TimeStats {
  if (len === CHUNK_ROWS) {
    const hit = statsCache.get(chunk);
    if (hit) return hit;
  }
  const p = new Int32Array(chunk.buffer, chunk.byteOffset, len * 2);
  let minHi = p[1]!;
  let minLo = p[0]! >>> 0;
  let maxHi = minHi;
  let maxLo = minLo;
  let prevHi = minHi;
  let prevLo = minLo;
  let sorted = true;
  for (let i = 1; i < len; i++) {
    const hi = p[2 * i + 1]!;
    const lo = p[2 * i]! >>> 0;
    if (hi < prevHi || (hi === prevHi && lo < prevLo)) sorted = false;
    if (hi < minHi || (hi === minHi && lo < minLo)) {
      minHi = hi;
      minLo = lo;
    }
    if (hi > maxHi || (hi === maxHi && lo > maxLo)) {
      maxHi = hi;
      maxLo = lo;
    }
    prevHi = hi;
    prevLo = lo;
  }
  const s = { minHi, minLo, maxHi, maxLo, sorted };
  if (len === CHUNK_ROWS) statsCache.set(chunk, s);
  return s;
}

export function split64(v: bigint): [hi: number, lo: number] {
  const u = BigInt.asUintN(64, v);
  return [Number(BigInt.asIntN(32, u >> 32n)), Number(u & 0xffffffffn)];
}

export function lt(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** First index in [0, len) of a sorted time chunk whose value is >= (hi, lo). */
export function lowerBound(p: Int32Array, len: number, hi: number, lo: number, strict: boolean): number {
  let a = 0;
  let b = len;
  while (a < b) {
    const m = (a + b) >>> 1;
    const mh = p[2 * m + 1]!;
    const ml = p[2 * m]! >>> 0;
    const before = strict ? !lt(hi, lo, mh, ml) : lt(mh, ml, hi, lo);
    if (before) a = m + 1;
    else b = m;
  }
  return a;
}
