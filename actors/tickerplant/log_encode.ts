// Writes a log message (tickbus.v1.batch, bus/SUBJECTS.md) straight from the pending parts of a
// table: each column's bytes are copied once, from the validated feed columns into the message,
// instead of concatenating the parts into new columns and then encoding those (two copies and
// two large allocations per append). It decodes to exactly what the general encoder's CBOR of
// {type, table, day, n, cols} decodes to (same keys in the same order, RFC 8746 typed arrays,
// symbol columns as {dict, codes} with the parts' dicts merged), so every reader reads it
// unchanged (test/unit/cbor_writer.test.ts checks both against bus/codec.ts).
import { CborWriter, TYPED_TAGS } from '../../bus/cbor_writer.ts';
import { mergeSyms, type Batch, type SymColumn } from '../../storage/batch.ts';
import type { TableSchema } from '../../storage/schema.ts';

/** Codes of a merged symbol column (reused between appends; grows to the largest batch). */
let scratch = new Uint32Array(1024);

export function encodeLogBatch(type: string, schema: TableSchema, day: string, parts: readonly Batch[], n: number): Uint8Array {
  const w = new CborWriter(sizeOf(schema, parts, n));
  writeLogBatch(w, type, schema, day, parts, n);
  return w.finish();
}

/** One table's pending parts in a multi-table message: its schema, parts and row count. */
export interface MultiPart {
  schema: TableSchema;
  parts: readonly Batch[];
  n: number;
}

/**
 * A multi-table log message (tickbus.v1.multi, bus/SUBJECTS.md): {type, day, batches}, where
 * `batches` is an array of ordinary tickbus.v1.batch maps, one per table, written as above. One
 * message is one append: its tables are in the log together or not at all.
 */
export function encodeMultiBatch(type: string, batchType: string, day: string, tables: readonly MultiPart[]): Uint8Array {
  let bytes = 64;
  for (const t of tables) bytes += sizeOf(t.schema, t.parts, t.n);
  const w = new CborWriter(bytes);
  w.head(5, 3);
  w.str('type');
  w.str(type);
  w.str('day');
  w.str(day);
  w.str('batches');
  w.head(4, tables.length);
  for (const t of tables) writeLogBatch(w, batchType, t.schema, day, t.parts, t.n);
  return w.finish();
}

function writeLogBatch(w: CborWriter, type: string, schema: TableSchema, day: string, parts: readonly Batch[], n: number): void {
  w.head(5, 5);
  w.str('type');
  w.str(type);
  w.str('table');
  w.str(schema.name);
  w.str('day');
  w.str(day);
  w.str('n');
  w.num(n);
  w.str('cols');
  w.head(5, schema.columns.length);
  for (const c of schema.columns) {
    w.str(c.name);
    if (c.type === 'symbol') writeSyms(w, parts, c.name, n);
    else if (c.type === 'string') {
      w.head(4, n);
      for (const p of parts) for (const s of p.cols[c.name] as string[]) w.str(s);
    } else {
      const first = parts[0]!.cols[c.name] as ArrayBufferView;
      const tag = TYPED_TAGS.get(first.constructor)!;
      w.head(6, tag);
      let bytes = 0;
      for (const p of parts) bytes += (p.cols[c.name] as ArrayBufferView).byteLength;
      w.head(2, bytes);
      for (const p of parts) {
        const a = p.cols[c.name] as ArrayBufferView;
        w.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      }
    }
  }
}

function writeSyms(w: CborWriter, parts: readonly Batch[], name: string, n: number): void {
  if (scratch.length < n) scratch = new Uint32Array(Math.max(n, scratch.length * 2));
  const dict: string[] = [];
  const codes = scratch.subarray(0, n);
  if (parts.length === 1) {
    const src = parts[0]!.cols[name] as SymColumn;
    dict.push(...src.dict);
    codes.set(src.codes);
  } else mergeSyms(parts.map((p) => p.cols[name] as SymColumn), dict, codes);
  w.head(5, 2);
  w.str('dict');
  w.head(4, dict.length);
  for (const s of dict) w.str(s);
  w.str('codes');
  w.head(6, 70);
  w.head(2, n * 4);
  w.bytes(new Uint8Array(codes.buffer, codes.byteOffset, n * 4));
}

/** An upper bound of the message's size (strings at 3 bytes a UTF-16 unit). */
function sizeOf(schema: TableSchema, parts: readonly Batch[], n: number): number {
  let bytes = 128 + schema.name.length * 3;
  for (const c of schema.columns) {
    bytes += c.name.length * 3 + 32;
    if (c.type === 'symbol') {
      bytes += n * 4;
      for (const p of parts) for (const s of (p.cols[c.name] as SymColumn).dict) bytes += s.length * 3 + 9;
    } else if (c.type === 'string') {
      for (const p of parts) for (const s of p.cols[c.name] as string[]) bytes += s.length * 3 + 9;
    } else for (const p of parts) bytes += (p.cols[c.name] as ArrayBufferView).byteLength;
  }
  return bytes;
}
