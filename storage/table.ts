// In-memory columnar tables for the RDB: each column is a list of fixed-size typed-array chunks
// (growth never copies, and memory overhead is at most one chunk per column). Symbols are
// interned into one dictionary per process (kdb+'s sym list) and stored as Int32 codes.
import type { Batch, SymColumn } from './batch.ts';
import type { ColumnType, TableSchema } from './schema.ts';

/** Rows per chunk: 64k rows keep a 4-column trade table's slack under 2 MB. */
export const CHUNK_ROWS = 65_536;

type Chunk = BigInt64Array | Float64Array | Int32Array | Uint8Array | string[];

export class SymbolTable {
  readonly names: string[] = [];
  private readonly codes = new Map<string, number>();

  /**
   * When true, the chunks of every table using this symbol table are allocated in
   * SharedArrayBuffers, so worker threads read them without a copy (the RDB's query pool,
   * actors/rdb/query_pool.ts). Rows below a table's `n` never change, so a reader is safe.
   */
  constructor(readonly sharedChunks = false) {}

  intern(s: string): number {
    let c = this.codes.get(s);
    if (c === undefined) {
      c = this.names.length;
      this.names.push(s);
      this.codes.set(s, c);
    }
    return c;
  }

  lookup(s: string): number | undefined {
    return this.codes.get(s);
  }
}

function allocChunk(type: ColumnType, shared: boolean): Chunk {
  const buf = (bytes: number) => (shared ? new SharedArrayBuffer(CHUNK_ROWS * bytes) : new ArrayBuffer(CHUNK_ROWS * bytes));
  switch (type) {
    case 'timestamp':
    case 'timespan':
    case 'long':
      return new BigInt64Array(buf(8));
    case 'float':
      return new Float64Array(buf(8));
    case 'int':
    case 'date':
    case 'symbol':
      return new Int32Array(buf(4));
    case 'bool':
      return new Uint8Array(buf(1));
    case 'string':
      return new Array<string>(CHUNK_ROWS);
  }
}

export class MemColumn {
  readonly chunks: Chunk[] = [];
  constructor(
    readonly type: ColumnType,
    /** Chunks in SharedArrayBuffers (SymbolTable.sharedChunks). */
    readonly shared = false,
  ) {}

  /** Makes room for rows [0, n). */
  reserve(n: number): void {
    while (this.chunks.length * CHUNK_ROWS < n) this.chunks.push(allocChunk(this.type, this.shared));
  }

  bytes(): number {
    let b = 0;
    for (const c of this.chunks) b += Array.isArray(c) ? c.length * 8 : c.byteLength;
    return b;
  }
}

export class MemTable {
  n = 0;
  readonly columns = new Map<string, MemColumn>();
  /** The last sym dictionary seen per symbol column and its codes in `syms`: a feed usually
   *  sends the same dictionary batch after batch, so the remap is built once, not per batch. */
  private readonly remaps = new Map<string, { dict: string[]; remap: Int32Array }>();

  constructor(
    readonly schema: TableSchema,
    readonly syms: SymbolTable,
  ) {
    for (const c of schema.columns) this.columns.set(c.name, new MemColumn(c.type, syms.sharedChunks));
  }

  /** Appends a batch (validated by the tickerplant): typed-array copies, one remap per sym dict. */
  append(b: Batch): void {
    const start = this.n;
    const end = start + b.n;
    for (const cs of this.schema.columns) {
      const col = this.columns.get(cs.name)!;
      col.reserve(end);
      const src = b.cols[cs.name];
      if (cs.type === 'symbol') this.appendSyms(cs.name, col, src as SymColumn, start, b.n);
      else copyInto(col, src as Exclude<Chunk, string[]> | string[], start, b.n);
    }
    this.n = end;
  }

  private appendSyms(name: string, col: MemColumn, src: SymColumn, start: number, n: number): void {
    const remap = this.remapOf(name, src.dict);
    const codes = src.codes;
    let i = 0;
    while (i < n) {
      const at = start + i;
      const chunk = col.chunks[Math.floor(at / CHUNK_ROWS)] as Int32Array;
      const off = at % CHUNK_ROWS;
      const len = Math.min(n - i, CHUNK_ROWS - off);
      for (let k = 0; k < len; k++) chunk[off + k] = remap[codes[i + k]!]!;
      i += len;
    }
  }

  /** Appends another table's rows (same schema; its symbols interned here), a chunk at a time. */
  appendTable(src: MemTable): void {
    for (let k = 0; k * CHUNK_ROWS < src.n; k++) {
      const len = Math.min(CHUNK_ROWS, src.n - k * CHUNK_ROWS);
      const cols: Batch['cols'] = {};
      for (const cs of this.schema.columns) {
        const c = src.columns.get(cs.name)!.chunks[k]!;
        if (Array.isArray(c)) cols[cs.name] = c.slice(0, len);
        else if (cs.type === 'symbol') cols[cs.name] = { dict: src.syms.names, codes: new Uint32Array(c.buffer, c.byteOffset, len) };
        else cols[cs.name] = c.subarray(0, len);
      }
      this.append({ table: this.schema.name, n: len, cols });
    }
  }

  /** Codes in `syms` for a batch's dictionary; reused while the dictionary is unchanged. */
  private remapOf(name: string, dict: string[]): Int32Array {
    const last = this.remaps.get(name);
    if (last && sameDict(last.dict, dict)) return last.remap;
    const remap = new Int32Array(dict.length);
    for (let i = 0; i < dict.length; i++) remap[i] = this.syms.intern(dict[i]!);
    this.remaps.set(name, { dict: dict.slice(), remap });
    return remap;
  }

  /**
   * Drops the oldest `rows` rows (the RDB's recent window). The rest is copied into fresh chunks:
   * caches keyed by chunk (time statistics, summaries) never see other rows under an old key.
   */
  dropFront(rows: number): void {
    if (!Number.isInteger(rows) || rows < 0 || rows > this.n) throw new RangeError(`dropFront: ${rows} is not a row count in [0, ${this.n}]`);
    if (rows === 0) return;
    const keep = this.n - rows;
    for (const [name, col] of this.columns) {
      const fresh = new MemColumn(col.type);
      fresh.reserve(keep);
      let i = 0;
      while (i < keep) {
        const from = rows + i;
        const so = from % CHUNK_ROWS;
        const dOff = i % CHUNK_ROWS;
        const len = Math.min(keep - i, CHUNK_ROWS - so, CHUNK_ROWS - dOff);
        const src = col.chunks[Math.floor(from / CHUNK_ROWS)]!;
        const dst = fresh.chunks[Math.floor(i / CHUNK_ROWS)]!;
        if (Array.isArray(src)) for (let k = 0; k < len; k++) (dst as string[])[dOff + k] = src[so + k]!;
        else (dst as Float64Array).set((src as Float64Array).subarray(so, so + len), dOff);
        i += len;
      }
      this.columns.set(name, fresh);
    }
    this.n = keep;
  }

  /** Calls fn(chunk, from, to, rowBase) over the chunks holding rows [0, n). */
  forEachChunk(name: string, fn: (chunk: Chunk, len: number, base: number) => void): void {
    const col = this.columns.get(name)!;
    for (let k = 0; k * CHUNK_ROWS < this.n; k++) fn(col.chunks[k]!, Math.min(CHUNK_ROWS, this.n - k * CHUNK_ROWS), k * CHUNK_ROWS);
  }

  /** Value access for the (rare) row-wise paths; hot paths walk chunks. */
  get(name: string, row: number): number | bigint | string {
    const col = this.columns.get(name)!;
    return col.chunks[Math.floor(row / CHUNK_ROWS)]![row % CHUNK_ROWS]!;
  }

  bytes(): number {
    let b = 0;
    for (const c of this.columns.values()) b += c.bytes();
    return b;
  }
}

function sameDict(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function copyInto(col: MemColumn, src: Exclude<Chunk, string[]> | string[], start: number, n: number): void {
  let i = 0;
  while (i < n) {
    const at = start + i;
    const chunk = col.chunks[Math.floor(at / CHUNK_ROWS)]!;
    const off = at % CHUNK_ROWS;
    const len = Math.min(n - i, CHUNK_ROWS - off);
    if (Array.isArray(chunk)) {
      const s = src as string[];
      for (let k = 0; k < len; k++) chunk[off + k] = s[i + k]!;
    } else {
      const s = src as Float64Array;
      (chunk as Float64Array).set(len === s.length ? s : s.subarray(i, i + len), off);
    }
    i += len;
  }
}
