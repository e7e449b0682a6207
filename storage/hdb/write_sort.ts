// End-of-day write, the sort: one table's rows read into contiguous typed arrays (symbols as ranks
// in the day's sorted sym dictionary, the ENUM codes) and put in sort-config order. A stable
// counting sort by the first key when it is a symbol (the usual `sym, time`: one scatter per
// column, sequential reads), checking each sym's run for the remaining keys and sorting only the
// runs that need it; any other first key sorts a permutation. Pure; split from writer.ts.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { ColumnType } from '../schema.ts';
import { CHUNK_ROWS, type MemTable } from '../table.ts';

/** A column in write order: contiguous and sorted. */
export type SortedColumn = BigInt64Array | Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array | string[];

/** A table's day in write order: what the Parquet writer reads. */
export interface Prepared {
  n: number;
  names: string[];
  types: ColumnType[];
  cols: SortedColumn[];
  /** Per symbol column: the ENUM dictionary (sorted); codes in `cols` index it. */
  dicts: (string[] | undefined)[];
  /** Row boundaries of runs of the first sort key (sym), for splitting files at a sym change. */
  runStarts: number[];
  /** Least and greatest `time` (epoch ns), recorded in the metadata so readers can skip filters. */
  timeRange?: [bigint, bigint];
}

/** Reads a MemTable column into one contiguous typed array (int64 copied as int32 pairs). */
function contiguous(t: MemTable, name: string): SortedColumn {
  const col = t.columns.get(name)!;
  const n = t.n;
  if (col.type === 'string') {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = (col.chunks[i >>> 16] as string[])[i & 0xffff]!;
    return out;
  }
  const first = col.chunks[0];
  const Ctor = (first?.constructor ?? Int32Array) as new (n: number) => Float64Array;
  const out = new Ctor(n) as unknown as Float64Array;
  for (let k = 0; k * CHUNK_ROWS < n; k++) {
    const len = Math.min(CHUNK_ROWS, n - k * CHUNK_ROWS);
    out.set((col.chunks[k] as Float64Array).subarray(0, len), k * CHUNK_ROWS);
  }
  return out;
}

/** Sorted used names of a symbol column and each code's rank among them (-1: unused). */
function symDictionary(t: MemTable, name: string): { dict: string[]; rank: Int32Array } {
  const names = t.syms.names;
  const used = new Uint8Array(names.length);
  t.forEachChunk(name, (chunk, len) => {
    const c = chunk as Int32Array;
    for (let i = 0; i < len; i++) used[c[i]!] = 1;
  });
  const codes: number[] = [];
  for (let c = 0; c < names.length; c++) if (used[c]) codes.push(c);
  codes.sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  const rank = new Int32Array(names.length).fill(-1);
  codes.forEach((c, i) => (rank[c] = i));
  return { dict: codes.map((c) => names[c]!), rank };
}

/** A comparator of two rows of one column (int64s compared as int32 pairs, no BigInt). */
function comparator(c: SortedColumn, type: ColumnType): (a: number, b: number) => number {
  if (type === 'timestamp' || type === 'long' || type === 'timespan') {
    const p = new Int32Array((c as BigInt64Array).buffer, (c as BigInt64Array).byteOffset, c.length * 2);
    return (a, b) => p[2 * a + 1]! - p[2 * b + 1]! || (p[2 * a]! >>> 0) - (p[2 * b]! >>> 0);
  }
  const v = c as Float64Array;
  return (a, b) => {
    const x = v[a]!;
    const y = v[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** The table's rows read out and sorted by `sortCols` (BAD_CONFIG naming a sort column the table lacks). */
export function prepare(t: MemTable, sortCols: readonly string[]): Prepared {
  const schema = t.schema;
  for (const c of sortCols) {
    if (!schema.index.has(c)) throw new TickbusError(ErrorCode.BAD_CONFIG, `sort config names column ${c}, which table ${schema.name} lacks`, { table: schema.name, column: c });
  }
  const n = t.n;
  const names = schema.columns.map((c) => c.name);
  const types = schema.columns.map((c) => c.type);
  const dicts = schema.columns.map((c) => (c.type === 'symbol' ? symDictionary(t, c.name) : undefined));
  // Raw columns with symbols replaced by their dictionary ranks (the ENUM codes).
  const raw: SortedColumn[] = schema.columns.map((c, i) => {
    const col = contiguous(t, c.name);
    if (c.type !== 'symbol') return col;
    const { dict, rank } = dicts[i]!;
    const codes = dict.length <= 0xff ? new Uint8Array(n) : dict.length <= 0xffff ? new Uint16Array(n) : new Uint32Array(n);
    const src = col as Int32Array;
    for (let r = 0; r < n; r++) codes[r] = rank[src[r]!]!;
    return codes;
  });
  const keyIdx = sortCols.map((c) => schema.index.get(c)!);
  const firstIsSym = keyIdx.length > 0 && types[keyIdx[0]!] === 'symbol';
  let cols: SortedColumn[];
  let runStarts: number[] = [0];
  if (keyIdx.length === 0) cols = raw;
  else if (firstIsSym) {
    const keyCodes = raw[keyIdx[0]!] as Uint8Array | Uint16Array | Uint32Array;
    const nsym = dicts[keyIdx[0]!]!.dict.length;
    const start = new Int32Array(nsym + 1);
    for (let r = 0; r < n; r++) start[keyCodes[r]! + 1]!++;
    for (let s = 0; s < nsym; s++) start[s + 1]! += start[s]!;
    // Scatter each column: sequential reads, one write cursor per sym; stable by construction.
    cols = raw.map((src) => scatter(src, keyCodes, start, nsym, n));
    runStarts = Array.from(start.subarray(0, nsym));
    const rest = keyIdx.slice(1);
    if (rest.length) fixRuns(cols, types, rest, start, nsym);
  } else {
    const perm = Uint32Array.from({ length: n }, (_, i) => i);
    const cmps = keyIdx.map((k) => comparator(raw[k]!, types[k]!));
    perm.sort((a, b) => {
      for (const cmp of cmps) {
        const d = cmp(a, b);
        if (d !== 0) return d;
      }
      return a - b;
    });
    cols = raw.map((c) => permute(c, perm, 0, n));
  }
  const ti = schema.index.get('time');
  const timeRange = ti !== undefined && n > 0 && types[ti] === 'timestamp' ? int64Range(cols[ti] as BigInt64Array) : undefined;
  return { n, names, types, cols, dicts: dicts.map((d) => d?.dict), runStarts, timeRange };
}

function int64Range(c: BigInt64Array): [bigint, bigint] {
  const p = new Int32Array(c.buffer, c.byteOffset, c.length * 2);
  let lo = 0;
  let hi = 0;
  for (let i = 1; i < c.length; i++) {
    const h = p[2 * i + 1]!;
    const l = p[2 * i]! >>> 0;
    if (h < p[2 * lo + 1]! || (h === p[2 * lo + 1]! && l < p[2 * lo]! >>> 0)) lo = i;
    if (h > p[2 * hi + 1]! || (h === p[2 * hi + 1]! && l > p[2 * hi]! >>> 0)) hi = i;
  }
  return [c[lo]!, c[hi]!];
}

function scatter(src: SortedColumn, keys: ArrayLike<number>, start: Int32Array, nsym: number, n: number): SortedColumn {
  const pos = start.slice(0, nsym);
  if (Array.isArray(src)) {
    const out = new Array<string>(n);
    for (let r = 0; r < n; r++) out[pos[keys[r]!]!++] = src[r]!;
    return out;
  }
  if (src instanceof BigInt64Array) {
    const out = new BigInt64Array(n);
    const s = new Int32Array(src.buffer, src.byteOffset, n * 2);
    const d = new Int32Array(out.buffer);
    for (let r = 0; r < n; r++) {
      const p = pos[keys[r]!]!++;
      d[2 * p] = s[2 * r]!;
      d[2 * p + 1] = s[2 * r + 1]!;
    }
    return out;
  }
  const out = new (src.constructor as new (n: number) => Float64Array)(n);
  const s = src as Float64Array;
  for (let r = 0; r < n; r++) out[pos[keys[r]!]!++] = s[r]!;
  return out;
}

/** Rows [from, to) of a column, reordered by `perm` (indices relative to from). */
function permute(c: SortedColumn, perm: Uint32Array, from: number, to: number): SortedColumn {
  if (Array.isArray(c)) {
    const seg = c.slice(from, to);
    const out = from === 0 && to === c.length ? new Array<string>(to) : c;
    for (let i = 0; i < perm.length; i++) out[from + i] = seg[perm[i]!]!;
    return out;
  }
  if (c instanceof BigInt64Array) {
    const seg = new Int32Array(c.slice(from, to).buffer);
    const out = from === 0 && to === c.length ? new BigInt64Array(to) : c;
    const d = new Int32Array(out.buffer, out.byteOffset, out.length * 2);
    for (let i = 0; i < perm.length; i++) {
      d[2 * (from + i)] = seg[2 * perm[i]!]!;
      d[2 * (from + i) + 1] = seg[2 * perm[i]! + 1]!;
    }
    return out;
  }
  const seg = (c as Float64Array).slice(from, to);
  const out = from === 0 && to === c.length ? new (c.constructor as new (n: number) => Float64Array)(to) : (c as Float64Array);
  for (let i = 0; i < perm.length; i++) out[from + i] = seg[perm[i]!]!;
  return out;
}

/** Within each sym's run, sorts by the remaining keys where arrival order did not already. */
function fixRuns(cols: SortedColumn[], types: ColumnType[], rest: number[], start: Int32Array, nsym: number): void {
  // Comparators are rebuilt after a permute, which may replace a column array.
  let cmps = rest.map((k) => comparator(cols[k]!, types[k]!));
  const cmp = (a: number, b: number) => {
    for (const c of cmps) {
      const d = c(a, b);
      if (d !== 0) return d;
    }
    return a - b;
  };
  for (let s = 0; s < nsym; s++) {
    const from = start[s]!;
    const to = start[s + 1]!;
    let sorted = true;
    for (let r = from + 1; r < to && sorted; r++) if (cmp(r - 1, r) > 0) sorted = false;
    if (sorted) continue;
    const perm = Uint32Array.from({ length: to - from }, (_, i) => i);
    perm.sort((a, b) => cmp(from + a, from + b));
    for (let c = 0; c < cols.length; c++) cols[c] = permute(cols[c]!, perm, from, to);
    cmps = rest.map((k) => comparator(cols[k]!, types[k]!));
  }
}
