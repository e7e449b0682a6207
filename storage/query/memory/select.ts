// Row selection: per chunk, the offsets of the rows that pass every predicate.
import { CHUNK_ROWS, type MemTable, type SymbolTable } from '../../table.ts';
import { likeToRegExp } from '../like.ts';
import { bad, type PlanFilter, type Selection } from '../request.ts';
import { timeStats, split64, lt, lowerBound } from './chunks.ts';

// Row selection: per chunk, the offsets of the rows that pass every predicate. `null` means all
// rows [0, len), which the hot loops take without an index indirection.

type RowTest = (r: number) => boolean;

interface Predicate {
  /** Binds the predicate to chunk k; returns a row test, or 'all'/'none' when the chunk decides. */
  bind(k: number, len: number): RowTest | 'all' | 'none' | { mask: Uint8Array; codes: Int32Array };
}

export function symMaskFor(syms: SymbolTable, test: (name: string) => boolean): Uint8Array {
  const names = syms.names;
  const mask = new Uint8Array(names.length + 1);
  for (let c = 0; c < names.length; c++) if (test(names[c]!)) mask[c] = 1;
  return mask;
}

function scalarTest(f: PlanFilter): (x: number | string) => boolean {
  const v = f.values;
  const base = ((): ((x: number | string) => boolean) => {
    switch (f.op) {
      case '=':
        return (x) => x === v[0];
      case '<':
        return (x) => x < v[0]!;
      case '>':
        return (x) => x > v[0]!;
      case '<=':
        return (x) => x <= v[0]!;
      case '>=':
        return (x) => x >= v[0]!;
      case 'in': {
        const set = new Set(v);
        return (x) => set.has(x);
      }
      case 'within':
        return (x) => x >= v[0]! && x <= v[1]!;
      case 'like': {
        const re = likeToRegExp(v[0] as string);
        return (x) => re.test(x as string);
      }
    }
  })();
  return f.negate ? (x) => !base(x) : base;
}

/** int64 comparisons on (hi, lo) pairs against bigint bounds. */
function int64Test(f: PlanFilter): (hi: number, lo: number) => boolean {
  const b = f.values.map((x) => split64(x as bigint));
  const cmp = (hi: number, lo: number, k: number) => {
    const [bh, bl] = b[k]!;
    return hi < bh ? -1 : hi > bh ? 1 : lo < bl ? -1 : lo > bl ? 1 : 0;
  };
  const base = ((): ((hi: number, lo: number) => boolean) => {
    switch (f.op) {
      case '=':
        return (hi, lo) => cmp(hi, lo, 0) === 0;
      case '<':
        return (hi, lo) => cmp(hi, lo, 0) < 0;
      case '>':
        return (hi, lo) => cmp(hi, lo, 0) > 0;
      case '<=':
        return (hi, lo) => cmp(hi, lo, 0) <= 0;
      case '>=':
        return (hi, lo) => cmp(hi, lo, 0) >= 0;
      case 'within':
        return (hi, lo) => cmp(hi, lo, 0) >= 0 && cmp(hi, lo, 1) <= 0;
      case 'in': {
        const set = new Set(f.values.map((x) => BigInt.asIntN(64, x as bigint)));
        return (hi, lo) => set.has((BigInt(hi) << 32n) | BigInt(lo));
      }
      case 'like':
        throw bad('filters', 'like applies to symbol and string columns');
    }
  })();
  return f.negate ? (hi, lo) => !base(hi, lo) : base;
}

function filterPredicate(t: MemTable, f: PlanFilter): Predicate {
  const col = t.columns.get(f.column)!;
  switch (f.type) {
    case 'symbol': {
      const mask = symMaskFor(t.syms, scalarTest(f));
      return { bind: (k) => ({ mask, codes: col.chunks[k] as Int32Array }) };
    }
    case 'timestamp':
    case 'long':
    case 'timespan': {
      const test = int64Test(f);
      return {
        bind: (k, len) => {
          const c = col.chunks[k] as BigInt64Array;
          const p = new Int32Array(c.buffer, c.byteOffset, len * 2);
          return (r) => test(p[2 * r + 1]!, p[2 * r]! >>> 0);
        },
      };
    }
    case 'float': {
      const test = scalarTest(f);
      // NaN is the float null: it fails every positive test and passes every negated one.
      return {
        bind: (k) => {
          const c = col.chunks[k] as Float64Array;
          return (r) => test(c[r]!);
        },
      };
    }
    default: {
      const test = scalarTest(f);
      return {
        bind: (k) => {
          const c = col.chunks[k] as Int32Array | Uint8Array | string[];
          return (r) => test(c[r]!);
        },
      };
    }
  }
}

export function timePredicate(t: MemTable, startNs: bigint, endNs: bigint): (k: number, len: number, out: Int32Array) => number | 'all' | 'none' {
  const col = t.columns.get('time')!;
  const [sHi, sLo] = split64(startNs);
  const [eHi, eLo] = split64(endNs);
  return (k, len, out) => {
    const chunk = col.chunks[k] as BigInt64Array;
    const st = timeStats(chunk, len);
    if (lt(st.maxHi, st.maxLo, sHi, sLo) || lt(eHi, eLo, st.minHi, st.minLo)) return 'none';
    if (!lt(st.minHi, st.minLo, sHi, sLo) && !lt(eHi, eLo, st.maxHi, st.maxLo)) return 'all';
    const p = new Int32Array(chunk.buffer, chunk.byteOffset, len * 2);
    let n = 0;
    if (st.sorted) {
      const a = lowerBound(p, len, sHi, sLo, false);
      const b = lowerBound(p, len, eHi, eLo, true);
      for (let r = a; r < b; r++) out[n++] = r;
      return n;
    }
    for (let r = 0; r < len; r++) {
      const hi = p[2 * r + 1]!;
      const lo = p[2 * r]! >>> 0;
      if (!lt(hi, lo, sHi, sLo) && !lt(eHi, eLo, hi, lo)) out[n++] = r;
    }
    return n;
  };
}

/** Walks the chunks and calls `visit` with each chunk's selection (null = all rows). */
export function scan(
  t: MemTable,
  sel: Selection,
  visit: (k: number, len: number, rows: Int32Array | null, n: number) => void,
  only?: (k: number) => boolean,
): void {
  const time = timePredicate(t, sel.startNs, sel.endNs);
  const preds: Predicate[] = [];
  const from = sel.fromRow ?? 0;
  if (from > 0) {
    // A row floor (the RDB's afterSeq): chunks below it are skipped, the one holding it is cut.
    preds.push({
      bind: (k, len) => {
        const base = k * CHUNK_ROWS;
        if (base >= from) return 'all';
        if (base + len <= from) return 'none';
        const off = from - base;
        return (r: number) => r >= off;
      },
    });
  }
  if (sel.instruments !== undefined) {
    preds.push(filterPredicate(t, { column: 'sym', type: 'symbol', op: 'in', negate: false, values: sel.instruments }));
  }
  for (const f of sel.filters) preds.push(filterPredicate(t, f));
  const bufA = new Int32Array(CHUNK_ROWS);
  const bufB = new Int32Array(CHUNK_ROWS);
  const chunks = Math.ceil(t.n / CHUNK_ROWS);
  for (let k = 0; k < chunks; k++) {
    if (only && !only(k)) continue;
    const len = Math.min(CHUNK_ROWS, t.n - k * CHUNK_ROWS);
    const tr = time(k, len, bufA);
    if (tr === 'none') continue;
    let rows: Int32Array | null = tr === 'all' ? null : bufA;
    let n = tr === 'all' ? len : tr;
    for (const p of preds) {
      if (n === 0) break;
      const b = p.bind(k, len);
      if (b === 'all') continue;
      if (b === 'none') {
        n = 0;
        break;
      }
      const out = rows === bufA ? bufB : bufA;
      let m = 0;
      if (typeof b === 'function') {
        if (rows === null) for (let r = 0; r < len; r++) b(r) && (out[m++] = r);
        else for (let j = 0; j < n; j++) b(rows[j]!) && (out[m++] = rows[j]!);
      } else {
        const { mask, codes } = b;
        if (rows === null) for (let r = 0; r < len; r++) mask[codes[r]!] && (out[m++] = r);
        else
          for (let j = 0; j < n; j++) {
            const r = rows[j]!;
            if (mask[codes[r]!]) out[m++] = r;
          }
      }
      rows = out;
      n = m;
    }
    if (n > 0) visit(k, len, rows, n);
  }
}
