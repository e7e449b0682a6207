// Grouping: each selected row gets a group id.
import { type ColumnType } from '../../schema.ts';
import { CHUNK_ROWS, type MemTable } from '../../table.ts';
import { bad, type PlanKey } from '../request.ts';
import { allocColumn, type ResultColumn } from '../result.ts';
import { split64, lt } from './chunks.ts';

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
  encode(k: number, len: number, rows: Int32Array | null, n: number, out: Int32Array): void;
  size(): number;
  column(lids: Int32Array): ResultColumn;
}

function forRows(len: number, rows: Int32Array | null, n: number, fn: (r: number) => void): void {
  if (rows === null) for (let r = 0; r < len; r++) fn(r);
  else for (let j = 0; j < n; j++) fn(rows[j]!);
}

function symbolEncoder(t: MemTable, column: string): KeyEncoder {
  const col = t.columns.get(column)!;
  const names = t.syms.names;
  const lidOf = new Int32Array(names.length).fill(-1);
  const codes: number[] = [];
  return {
    encode(k, len, rows, n, out) {
      const c = col.chunks[k] as Int32Array;
      forRows(len, rows, n, (r) => {
        const code = c[r]!;
        let lid = lidOf[code]!;
        if (lid < 0) {
          lid = lidOf[code] = codes.length;
          codes.push(code);
        }
        out[r] = lid;
      });
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
      forRows(len, rows, n, (r) => {
        const v = c[r]!;
        let lid = ids.get(v);
        if (lid === undefined) {
          lid = values.length;
          ids.set(v, lid);
          values.push(v);
        }
        out[r] = lid;
      });
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
      forRows(len, rows, n, (r) => {
        const hi = p[2 * r + 1]!;
        const lo = p[2 * r]! >>> 0;
        if (barNs === undefined) {
          let inner = ids.get(hi);
          let lid = inner?.get(lo);
          if (lid === undefined) lid = lidFor(c[r]!);
          out[r] = lid;
          return;
        }
        if (curLid >= 0 && !lt(hi, lo, bHi, bLo) && lt(hi, lo, eHi, eLo)) {
          out[r] = curLid;
          return;
        }
        const v = c[r]!;
        const start = v - (((v % barNs) + barNs) % barNs);
        curLid = lidFor(start);
        [bHi, bLo] = split64(start);
        [eHi, eLo] = split64(start + barNs);
        out[r] = curLid;
      });
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
  // Group id -> local id of each key; (previous group id, local id) -> next level's group id.
  const levelMaps = keys.slice(1).map(() => new Map<number, number>());
  const lidsOf: number[][] = keys.map(() => []);
  let groups = 0;
  const combine = (r: number): number => {
    let g = lidBufs[0]![r]!;
    for (let d = 1; d < keys.length; d++) {
      const lid = lidBufs[d]![r]!;
      const key = g * GROUPS_MAX + lid;
      let next = levelMaps[d - 1]!.get(key);
      if (next === undefined) {
        next = levelMaps[d - 1]!.size;
        if (next >= GROUPS_MAX) throw bad('grouping', `more than ${GROUPS_MAX} groups`);
        levelMaps[d - 1]!.set(key, next);
      }
      g = next;
    }
    return g;
  };
  // The last level's ids are the group ids; remember each group's key local ids as they appear.
  const remember = (g: number, r: number) => {
    while (groups <= g) {
      for (let d = 0; d < keys.length; d++) lidsOf[d]!.push(-1);
      groups++;
    }
    for (let d = 0; d < keys.length; d++) lidsOf[d]![g] = lidBufs[d]![r]!;
  };
  return {
    gids(k, len, rows, n) {
      encoders.forEach((e, d) => e.encode(k, len, rows, n, lidBufs[d]!));
      forRows(len, rows, n, (r) => {
        const g = keys.length === 1 ? lidBufs[0]![r]! : combine(r);
        if (lidsOf[0]![g] === undefined || lidsOf[0]![g] === -1) remember(g, r);
        out[r] = g;
      });
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
