// Test support for the intraday area (storage/intraday/manifest.ts): writes part files the way a
// WDB does (a Parquet file per write-down, then the manifest), and asks a process directly on its
// query subject.
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { isErrorEnvelope, TickbusError, type ErrorEnvelope } from '../../bus/errors.ts';
import type { Publisher } from '../../bus/publisher.ts';
import type { Batch } from '../../storage/batch.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { dayDir, partFileName, writeManifest, type IntradayFile, type IntradayManifest } from '../../storage/intraday/manifest.ts';
import type { TableSchema } from '../../storage/schema.ts';
import type { Duck } from './duck.ts';

/** Writes `batches` (log sequences firstSeq..lastSeq of `table`) as the table's next part and records it in the manifest. */
export async function writePart(wdbDir: string, m: IntradayManifest, schema: TableSchema, batches: readonly Batch[], firstSeq: number, lastSeq: number): Promise<IntradayFile> {
  const table = schema.name;
  const st = (m.tables[table] ??= { lastSeq: 0, rows: 0, nextPart: 0 });
  const scratch = `${wdbDir}.scratch`;
  const r = await writePartition(scratch, m.day, table, batches, { schema, writeThreads: 1, stagingDir: `${wdbDir}.scratch-staging` });
  if (r.files.length !== 1) throw new Error(`expected one file, got ${r.files.length}`);
  const file = partFileName(table, st.nextPart);
  await mkdir(join(dayDir(wdbDir, m.day), table), { recursive: true });
  await rename(r.files[0]!, join(dayDir(wdbDir, m.day), file));
  await rm(scratch, { recursive: true, force: true });
  let lo: bigint | undefined;
  let hi: bigint | undefined;
  for (const b of batches) {
    for (const t of b.cols.time as BigInt64Array) {
      if (lo === undefined || t < lo) lo = t;
      if (hi === undefined || t > hi) hi = t;
    }
  }
  const f: IntradayFile = { file, table, rows: r.rows, firstSeq, lastSeq, ...(lo !== undefined ? { minTimeNs: lo.toString(), maxTimeNs: hi!.toString() } : {}) };
  m.files.push(f);
  st.lastSeq = lastSeq;
  st.rows += r.rows;
  st.nextPart++;
  await writeManifest(wdbDir, m);
  return f;
}

/** A request on a process's query subject (CBOR); an error reply is thrown as the TickbusError it carries. */
export async function ask<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 10_000): Promise<T> {
  const m = await nc.request(subject, encode(body), { timeout: timeoutMs });
  const r = decode<unknown>(m.data);
  if (isErrorEnvelope(r)) throw TickbusError.fromEnvelope(r as ErrorEnvelope);
  return r as T;
}

/** The syms `feedWdb` cycles through (row i has feedSyms[i % 5]). */
export const feedSyms = ['AAPL', 'MSFT', 'IBM', 'GOOG', 'A.B'];

/** Publishes rows with fids from..from+n-1 to trade and to quote of testTables, `per` rows an update; returns the next fid. */
export async function feedWdb(pub: Publisher, from: number, n: number, per = 25): Promise<number> {
  const syms = feedSyms;
  let fid = from;
  while (fid < from + n) {
    const k = Math.min(per, from + n - fid);
    await pub.publish('trade', { rows: Array.from({ length: k }, (_, i) => [syms[(fid + i) % syms.length], 100 + ((fid + i) % 13), (fid + i) % 7, fid + i]) });
    await pub.publish('quote', { rows: Array.from({ length: k }, (_, i) => [syms[(fid + i) % syms.length], 99, 101, fid + i]) });
    fid += k;
  }
  return fid;
}

/** The fids of a table's files as the manifest lists them (the reader's view of the area), read back from the Parquet files. */
export async function writtenFids(duck: Duck, wdbDir: string, m: IntradayManifest, table: string): Promise<bigint[]> {
  const files = m.files.filter((f) => f.table === table).map((f) => `'${join(dayDir(wdbDir, m.day), f.file)}'`);
  if (!files.length) return [];
  return (await duck.sql(`SELECT fid FROM read_parquet([${files.join(', ')}])`)).map((r) => r[0] as bigint);
}
