// The built-in loadcsv function: a CSV file of one table into a tickerplant through the Publisher.
// The whole file is read and checked first (csv_table.ts): a bad file loads nothing. It is then
// sent in chunks, one at a time, each with a message id made of the file's md5 and the chunk's
// row range (`fa-<md5>-<start>-<end>`), and each acknowledged chunk is written to the processed
// table as progress. So:
// - a re-run of the same content (same name or another) is skipped by the processed table;
// - a crash mid-file resumes at the first unacknowledged row;
// - a chunk that was acknowledged but whose progress line was lost in the crash is re-sent with
//   its id, and the tickerplant answers it as a duplicate (it remembers ids for its
//   dedupeWindowMs, 120 s by default, across its own restarts): nothing is appended twice as long
//   as the file alerter is back within that window (docs/decisions.md 42).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Publisher } from '../../bus/publisher.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Schema } from '../../storage/schema.ts';
import type { Clock } from '../common/clock.ts';
import { chunkBounds, readCsvTable, sliceColumns, tableFromFileName } from './csv_table.ts';
import type { ProcessedTable } from './processed.ts';

export interface LoadOptions {
  schema: Schema;
  publisher: Publisher;
  processed: ProcessedTable;
  clock: Clock;
  chunkRowsMax: number;
  chunkBytesMax: number;
  fileBytesMax: number;
  loadRowsPerSecMax: number;
  /** Progress of the file being loaded (for status). */
  onProgress?: (p: { file: string; rows: number; total: number }) => void;
  /** True once the process is stopping: the load ends after the chunk in flight (progress kept). */
  stopping?: () => boolean;
}

export interface LoadResult {
  table: string;
  rows: number;
  chunks: number;
  /** Rows the tickerplant answered as duplicates (already in the log). */
  duplicateRows: number;
  resumedAt: number;
}

export function chunkId(md5: string, start: number, end: number): string {
  return `fa-${md5}-${start}-${end}`;
}

export async function loadCsv(path: string, name: string, table: string | undefined, expect: { md5: string; size: number }, o: LoadOptions): Promise<LoadResult> {
  const t = table ?? tableFromFileName(name);
  const schema = o.schema.get(t);
  if (!schema) {
    throw new TickbusError(ErrorCode.UNKNOWN_TABLE, `${name}: no table ${JSON.stringify(t)} in the schema (tables: ${[...o.schema.keys()].join(', ')}); name the file <table>_....csv or use loadcsv:<table>`, { file: name, table: t, tables: [...o.schema.keys()] });
  }
  if (expect.size > o.fileBytesMax) {
    throw new TickbusError(ErrorCode.MESSAGE_TOO_LARGE, `${name}: ${expect.size} bytes, more than fileBytesMax ${o.fileBytesMax}`, { file: name, bytes: expect.size, fileBytesMax: o.fileBytesMax });
  }
  const bytes = await readFile(path);
  const md5 = createHash('md5').update(bytes).digest('hex');
  if (md5 !== expect.md5 || bytes.length !== expect.size) {
    throw new TickbusError(ErrorCode.NOT_READY, `${name} changed since it was scanned; it is taken again once it is stable`, { file: name });
  }
  const data = readCsvTable(bytes.toString('utf8'), name, schema);
  const from = o.processed.rowsDone(t, md5, bytes.length);
  const started = o.clock.now();
  let sent = 0;
  let duplicateRows = 0;
  const chunks = chunkBounds(data, from, o.chunkRowsMax, o.chunkBytesMax);
  for (const [start, end] of chunks) {
    if (o.stopping?.()) throw new TickbusError(ErrorCode.NOT_READY, `${name}: stopping; the load resumes at row ${start} on restart`, { file: name, rows: start });
    const ack = await o.publisher.publish(t, { cols: sliceColumns(data, start, end) }, chunkId(md5, start, end));
    if (ack.duplicate) duplicateRows += end - start;
    o.processed.recordProgress(t, md5, bytes.length, end);
    sent += end - start;
    o.onProgress?.({ file: name, rows: end, total: data.n });
    if (o.loadRowsPerSecMax > 0) {
      const dueMs = (sent / o.loadRowsPerSecMax) * 1_000 - (o.clock.now() - started);
      if (dueMs > 0) await new Promise((r) => o.clock.setTimeout(r, Math.min(dueMs, 60_000)));
    }
  }
  return { table: t, rows: data.n, chunks: chunks.length, duplicateRows, resumedAt: from };
}
