// Writing the intraday area (storage/intraday/manifest.ts is the contract): one write-down puts
// each table's buffered batches in a new sorted Parquet file (partbyattr: one file per value of
// the parted column), staged under `<wdbDir>.staging`, fsynced, read back, renamed into the day's
// table directory, and only then recorded in the manifest (atomic rewrite). A crash before the
// manifest leaves orphans that `openDay` removes; the manifest never lists a file that is not
// whole. The files carry the same schema metadata as the HDB's (storage/hdb/writer.ts).
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { activeWrites, fsyncPath, recoverStaging, stagingDirFor } from '../hdb/layout.ts';
import type { SortConfig } from '../hdb/sort_config.ts';
import { writeSortedFiles, type PartitionSource, type SortedFilesReport } from '../hdb/writer.ts';
import type { TableSchema } from '../schema.ts';
import { checkManifest, dayDir, emptyManifest, partFileName, readManifest, removeOrphans, writeManifest, type IntradayFile, type IntradayManifest } from './manifest.ts';

/** One table's part of a write-down: its buffered rows (a MemTable or batches) and the log range they cover. */
export interface WriteDownPart {
  schema: TableSchema;
  source: PartitionSource;
  rows: number;
  firstSeq: number;
  lastSeq: number;
}

export interface IntradayWriteOptions {
  sort?: SortConfig;
  writedownmode: 'default' | 'partbyattr';
  partColumn: string;
  /** Fault injection for tests: pause after the files land, before the manifest records them. */
  writeDelayMs?: number;
  /** Sorts and encodes one table's rows as Parquet files in `dir` (default: writeSortedFiles on this thread; the WDB passes its write worker). */
  encode?: SortedFilesEncoder;
  /** Aborted: the write-down gives up before its next file or its manifest (the writer stopped; its next start removes what landed). */
  signal?: AbortSignal;
}

/** What writes one table's sorted files (storage/hdb/writer.ts writeSortedFiles, or a worker thread running it). */
export type SortedFilesEncoder = (source: PartitionSource, dir: string, o: EncodeOptions, what: string) => Promise<SortedFilesReport>;
export interface EncodeOptions {
  schema: TableSchema;
  filePerRun: boolean;
  sort?: SortConfig;
}

/** The encoder on this thread: one DuckDB thread per write-down (the ingest keeps the other core). */
export const encodeHere: SortedFilesEncoder = (source, dir, o, what) => writeSortedFiles(source, dir, { schema: o.schema, writeThreads: 1, filePerRun: o.filePerRun, ...(o.sort ? { sort: o.sort } : {}) }, what);

/**
 * Opens a day for writing: its manifest (or a new one, not yet on disk), with the orphans of a
 * crashed write-down and stale staging dirs removed. Returns the orphans removed.
 */
export async function openDay(
  wdbDir: string,
  tp: string,
  writer: string,
  day: string,
  startSeq: number,
  o: Pick<IntradayWriteOptions, 'writedownmode' | 'partColumn'>,
): Promise<{ manifest: IntradayManifest; orphans: string[] }> {
  await recoverStaging(wdbDir);
  const found = await readManifest(wdbDir, day);
  if (!found) {
    const m = emptyManifest(tp, writer, day);
    m.startSeq = startSeq;
    m.writedownmode = o.writedownmode;
    if (o.writedownmode === 'partbyattr') m.partColumn = o.partColumn;
    return { manifest: m, orphans: [] };
  }
  checkManifest(found);
  return { manifest: found, orphans: await removeOrphans(wdbDir, found) };
}

/**
 * Writes one write-down: a file (or, partbyattr, a file per value) per table with rows, renamed
 * into place, then the manifest with each table's new lastSeq (`lastSeqs`: for every table the
 * sequence up to which all its batches are now written) rewritten atomically. Mutates and returns
 * the manifest; returns the files added.
 */
export async function writeDown(
  wdbDir: string,
  m: IntradayManifest,
  parts: ReadonlyMap<string, WriteDownPart>,
  lastSeqs: Readonly<Record<string, number>>,
  o: IntradayWriteOptions,
  /** Manifest fields set in the same atomic rewrite (the end of day's eodSeq and eodCounts). */
  extra: Partial<Pick<IntradayManifest, 'eodSeq' | 'eodCounts'>> = {},
): Promise<IntradayFile[]> {
  const added: IntradayFile[] = [];
  // Worked on a copy: the caller's manifest changes only once the new one is on disk, so a failed
  // write-down (retried with the same batches) never counts a file twice.
  const next = structuredClone(m);
  let recording = false;
  let abandoned = false;
  const stillWanted = () => {
    if (!o.signal?.aborted) return;
    abandoned = true;
    throw new TickbusError(ErrorCode.NOT_READY, `write-down of ${m.day} abandoned: the writer stopped`, { day: m.day });
  };
  const work = join(stagingDirFor(wdbDir), `${m.day}-wdb-${randomUUID().slice(0, 8)}`);
  activeWrites.add(work);
  try {
    const day = dayDir(wdbDir, next.day);
    for (const [table, p] of parts) {
      if (p.rows === 0) continue;
      stillWanted();
      const st = (next.tables[table] ??= { lastSeq: 0, rows: 0, nextPart: 0 });
      const dir = join(work, table);
      await mkdir(dir, { recursive: true });
      const partby = o.writedownmode === 'partbyattr' && p.schema.columns.some((c) => c.name === o.partColumn && c.type === 'symbol');
      // partbyattr: sorted by the parted column first, so each of its values is one run, one file.
      const sort = partby ? { [table]: [{ column: o.partColumn, att: 'p' as const }, ...(p.schema.index.has('time') ? [{ column: 'time' }] : [])] } : o.sort;
      const r = await (o.encode ?? encodeHere)(p.source, dir, { schema: p.schema, filePerRun: partby, ...(sort ? { sort } : {}) }, `write-down ${m.day}/${table}`);
      await mkdir(join(day, table), { recursive: true });
      for (const f of r.files) {
        const file = partFileName(table, st.nextPart, f.attr);
        await rename(f.path, join(day, file));
        added.push({
          file,
          table,
          rows: f.rows,
          firstSeq: p.firstSeq,
          lastSeq: p.lastSeq,
          ...(r.timeRange ? { minTimeNs: String(r.timeRange[0]), maxTimeNs: String(r.timeRange[1]) } : {}),
          ...(f.attr !== undefined ? { attr: f.attr } : {}),
        });
      }
      await fsyncPath(join(day, table));
      st.nextPart++;
    }
    if (o.writeDelayMs) await new Promise((r) => setTimeout(r, o.writeDelayMs));
    stillWanted();
    for (const f of added) next.tables[f.table]!.rows += f.rows;
    next.files.push(...added);
    for (const [table, seq] of Object.entries(lastSeqs)) {
      const st = (next.tables[table] ??= { lastSeq: 0, rows: 0, nextPart: 0 });
      if (seq > st.lastSeq) st.lastSeq = seq;
    }
    Object.assign(next, extra);
    recording = true;
    await writeManifest(wdbDir, next);
    Object.assign(m, next);
    return added;
  } catch (e) {
    // Files renamed in but not recorded are orphans: removed now (and by the next start if this fails too).
    // (Not once the manifest is being replaced: the one on disk may already list them. Not when
    // abandoned: a new writer may own the day by now; its start removed or will remove them.)
    if (!recording && !abandoned) await removeOrphans(wdbDir, m).catch(() => {});
    throw e;
  } finally {
    activeWrites.delete(work);
    await rm(work, { recursive: true, force: true });
  }
}
