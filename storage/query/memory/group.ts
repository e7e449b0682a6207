// Grouping: each selected row gets a group id.
import { type ColumnType } from '../../schema.ts';
import { CHUNK_ROWS, type MemTable } from '../../table.ts';
import { bad, type PlanKey } from '../request.ts';
import { allocColumn, type ResultColumn } from '../result.ts';
import { split64, lt, timeStats } from './chunks.ts';

export const GROUPS_MAX = 1 << 26;
// Grouping: each selected row gets a group id. One symbol key uses the symbol code itself (the
// hot path: `by sym`); no key uses group 0; anything else combines per-key dense ids.

interface Grouper {
  /** Group ids for chunk k, indexed by row offset; valid at the selected offsets. */
  gids(k: number, len: number, rows: Int32Array | null, n: number): Int32Array;
  /** Current number of group ids in use (an upper bound on ids + 1). */
  count(): number;
  /** Key columns for the given group ids. */
  keys(groups: Int32Array): Record<string, ResultColumn>;
}

export function singleGrouper(): Grouper {
  const zero = new Int32Array(CHUNK_ROWS);
  return { gids: () => zero, count: () => 1, keys: () => ({}) };
}

export function symGrouper(t: MemTable, key: PlanKey): Grouper {
  const col = t.columns.get(key.column)!;
  const names = t.syms.names;
  return {
    gids: (k) => col.chunks[k] as Int32Array,
    count: () => names.length,
    keys: (groups) => ({ [key.name]: Array.from(groups, (g) => names[g]!) }),
  };
}

/** Dense ids for one key column's values, plus the value of each id for the output. */
interface KeyEncoder {
  /** Writes local ids for the selected rows of chunk k into out (indexed by row offset). */
  /** Returns the one local id every selected row got when the encoder knows it (a chunk inside one time bar), else -1. */
  encode(k: number, len: number, rows: Int32Array | null, n: number, out: Int32Array): number;
  size(): number;
  column(lids: Int32Array): ResultColumn;
}

/**
 * Dense ids for pairs of non-negative int32s (a group id and the next key's local id), in an
 * open-addressing table of typed arrays: no boxed number key and no Map entry per lookup, which
 * was half the cost of a `by sym` + time bar query. Ids are given in order of first appearance.
 */
export class PairIds {
  private keys = new Int32Array(2 * 256).fill(-1);
  private vals = new Int32Array(256);
  private mask = 255;
  size = 0;

  private static slot(a: number, b: number, mask: number): number {
    let h = Math.imul(a, 0x9e3779b1) + b;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
    return (h ^ (h >>> 13)) & mask;
  }

  /** The pair's id, a new one (size) when it is new; BAD_QUERY past GROUPS_MAX ids. */
  id(a: number, b: number): number {
    const keys = this.keys;
    const mask = this.mask;
    for (let h = PairIds.slot(a, b, mask); ; h = (h + 1) & mask) {
      const ka = keys[2 * h]!;
      if (ka === a && keys[2 * h + 1] === b) return this.vals[h]!;
      if (ka === -1) {
        const id = this.size++;
        if (id >= GROUPS_MAX) throw bad('grouping', `more than ${GROUPS_MAX} groups`);
        keys[2 * h] = a;
        keys[2 * h + 1] = b;
        this.vals[h] = id;
        // Half full at most: probes stay short.
        if (2 * this.size > mask) this.rehash();
        return id;
      }
    }
  }

  private rehash(): void {
    const { keys, vals } = this;
    const mask = 2 * (this.mask + 1) - 1;
    const k2 = new Int32Array(2 * (mask + 1)).fill(-1);
    const v2 = new Int32Array(mask + 1);
    for (let i = 0; i <= this.mask; i++) {
      const a = keys[2 * i]!;
      if (a === -1) continue;
      let h = PairIds.slot(a, keys[2 * i + 1]!, mask);
      while (k2[2 * h] !== -1) h = (h + 1) & mask;
      k2[2 * h] = a;
      k2[2 * h + 1] = keys[2 * i + 1]!;
      v2[h] = vals[i]!;
    }
    this.keys = k2;
    this.vals = v2;
    this.mask = mask;
  }
}

// The per-row loops below walk the selection as `r = rows === null ? j : rows[j]` in place (no
// closure per row: a callback shared by every encoder is megamorphic and is not inlined).

function symbolEncoder(t: MemTable, column: string): KeyEncoder {
  const col = t.columns.get(column)!;
  const names = t.syms.names;
  const lidOf = new Int32Array(names.length).fill(-1);
  const codes: number[] = [];
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as Int32Array;
      const cnt = rows === null ? len : n;
      for (let j = 0; j < cnt; j++) {
        const r = rows === null ? j : rows[j]!;
        const code = c[r]!;
        let lid = lidOf[code]!;
        if (lid < 0) {
          lid = lidOf[code] = codes.length;
          codes.push(code);
        }
        out[r] = lid;
      }
      return -1;
    },
    size: () => codes.length,
    column: (lids) => Array.from(lids, (l) => names[codes[l]!]!),
  };
}

function valueEncoder(t: MemTable, column: string, type: ColumnType): KeyEncoder {
  const col = t.columns.get(column)!;
  const ids = new Map<number | string, number>();
  const values: (number | string)[] = [];
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as Int32Array | Uint8Array | string[];
      const cnt = rows === null ? len : n;
      for (let j = 0; j < cnt; j++) {
        const r = rows === null ? j : rows[j]!;
        const v = c[r]!;
        let lid = ids.get(v);
        if (lid === undefined) {
          lid = values.length;
          ids.set(v, lid);
          values.push(v);
        }
        out[r] = lid;
      }
      return -1;
    },
    size: () => values.length,
    column: (lids) => {
      const out = allocColumn(type, lids.length);
      for (let i = 0; i < lids.length; i++) (out as (number | string)[])[i] = values[lids[i]!]!;
      return out;
    },
  };
}

/** int64 keys (long, timespan, timestamp, and timebars over timestamps) keyed by (hi, lo). */
function int64Encoder(t: MemTable, column: string, barNs: bigint | undefined): KeyEncoder {
  const col = t.columns.get(column)!;
  const ids = new Map<number, Map<number, number>>();
  const values: bigint[] = [];
  const lidFor = (v: bigint): number => {
    const [hi, lo] = split64(v);
    let inner = ids.get(hi);
    if (!inner) ids.set(hi, (inner = new Map()));
    let lid = inner.get(lo);
    if (lid === undefined) {
      lid = values.length;
      inner.set(lo, lid);
      values.push(v);
    }
    return lid;
  };
  // Rows mostly arrive in time order: remember the current bar's bounds and id, so a row inside
  // it costs two int32 comparisons and no BigInt.
  let curLid = -1;
  let bHi = 0;
  let bLo = 0;
  let eHi = 0;
  let eLo = 0;
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as BigInt64Array;
      const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
      const cnt = rows === null ? len : n;
      if (barNs === undefined) {
        for (let j = 0; j < cnt; j++) {
          const r = rows === null ? j : rows[j]!;
          const lid = ids.get(p[2 * r + 1]!)?.get(p[2 * r]! >>> 0);
          out[r] = lid ?? lidFor(c[r]!);
        }
        return -1;
      }
      // A chunk inside one bar (its time range, cached for a full chunk, is narrower than a bar
      // most of the time) takes that bar's id for every row with no per-row test at all.
      const st = timeStats(c, len);
      const min = (BigInt(st.minHi) << 32n) | BigInt(st.minLo);
      const max = (BigInt(st.maxHi) << 32n) | BigInt(st.maxLo);
      const first = min - (((min % barNs) + barNs) % barNs);
      if (max < first + barNs) {
        const lid = lidFor(first);
        if (rows === null) out.fill(lid, 0, len);
        else for (let j = 0; j < cnt; j++) out[rows[j]!] = lid;
        return lid;
      }
      for (let j = 0; j < cnt; j++) {
        const r = rows === null ? j : rows[j]!;
        const hi = p[2 * r + 1]!;
        const lo = p[2 * r]! >>> 0;
        if (curLid >= 0 && !lt(hi, lo, bHi, bLo) && lt(hi, lo, eHi, eLo)) {
          out[r] = curLid;
          continue;
        }
        const v = c[r]!;
        const start = v - (((v % barNs) + barNs) % barNs);
        curLid = lidFor(start);
        [bHi, bLo] = split64(start);
        [eHi, eLo] = split64(start + barNs);
        out[r] = curLid;
      }
      return -1;
    },
    size: () => values.length,
    column: (lids) => BigInt64Array.from(lids, (l) => values[l]!),
  };
}

export function generalGrouper(t: MemTable, keys: PlanKey[]): Grouper {
  const encoders = keys.map((key): KeyEncoder => {
    if (key.barNs !== undefined) return int64Encoder(t, key.column, key.barNs);
    switch (key.type) {
      case 'symbol':
        return symbolEncoder(t, key.column);
      case 'timestamp':
      case 'long':
      case 'timespan':
        return int64Encoder(t, key.column, undefined);
      default:
        return valueEncoder(t, key.column, key.type);
    }
  });
  const lidBufs = keys.map(() => new Int32Array(CHUNK_ROWS));
  const out = new Int32Array(CHUNK_ROWS);
  // (previous level's group id, this key's local id) -> this level's group id; the last level's
  // ids are the group ids. Each group's key local ids are remembered as it first appears.
  const levels = keys.slice(1).map(() => new PairIds());
  const lidsOf: number[][] = keys.map(() => []);
  let groups = 0;
  const remember = (g: number, r: number) => {
    while (groups <= g) {
      for (let d = 0; d < keys.length; d++) lidsOf[d]!.push(-1);
      groups++;
    }
    for (let d = 0; d < keys.length; d++) lidsOf[d]![g] = lidBufs[d]![r]!;
  };
  const first = lidsOf[0]!;
  const l0 = lidBufs[0]!;
  const memoBuf = new Int32Array(keys.length > 1 ? CHUNK_ROWS : 0);
  return {
    gids(k, len, rows, n) {
      let one1 = -1;
      for (let d = 0; d < keys.length; d++) {
        const one = encoders[d]!.encode(k, len, rows, n, lidBufs[d]!);
        if (d === 1) one1 = one;
      }
      const cnt = rows === null ? len : n;
      const pair = levels[0];
      const l1 = lidBufs[1];
      // The second key is one value over the chunk (`by sym` + a time bar): the first key's local
      // id decides the pair, so each first-key id is looked up once per chunk (ids are dense: at
      // most one slot each; skipped when there are more of them than rows in a chunk).
      const size0 = encoders[0]!.size();
      const memo = one1 >= 0 && size0 <= CHUNK_ROWS ? memoBuf.subarray(0, size0).fill(-1) : undefined;
      for (let j = 0; j < cnt; j++) {
        const r = rows === null ? j : rows[j]!;
        let g = l0[r]!;
        if (memo !== undefined) {
          let p = memo[g]!;
          if (p < 0) p = memo[g] = pair!.id(g, one1);
          g = p;
          for (let d = 2; d < keys.length; d++) g = levels[d - 1]!.id(g, lidBufs[d]![r]!);
        } else if (pair !== undefined) {
          g = pair.id(g, l1![r]!);
          for (let d = 2; d < keys.length; d++) g = levels[d - 1]!.id(g, lidBufs[d]![r]!);
        }
        if (g >= groups || first[g] === -1) remember(g, r);
        out[r] = g;
      }
      return out;
    },
    count: () => groups,
    keys(gs) {
      const cols: Record<string, ResultColumn> = {};
      keys.forEach((key, d) => {
        const lids = Int32Array.from(gs, (g) => lidsOf[d]![g]!);
        cols[key.name] = encoders[d]!.column(lids);
      });
      return cols;
    },
  };
}
