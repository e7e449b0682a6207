// Compression benchmark (issue 10 part 5): a 10M-row trade partition written by the HDB writer
// (zstd(3)) is rewritten zstd(9) through the compression run (copy, verify every column's
// checksum, row groups and metadata, atomic swap). Reports the seconds and the size ratio
// new/old bytes. Sizes scale with BENCH_SCALE. Called by test/bench/run.ts; runnable alone:
// `npx tsx test/bench/compress.ts`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { silentLogger } from '../../bus/log.ts';
import { addDays } from '../../actors/common/clock.ts';
import { parseCompressionCsv } from '../../actors/compression/config.ts';
import { runCompression } from '../../actors/compression/run.ts';
import { duckdbLimits } from '../../storage/hdb/duck.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import type { Metric } from './metric.ts';
import { makeTrades } from './storage.ts';

/** Bench settings: the size, scaled by BENCH_SCALE. */
const settings = {
  /** Rows in the partition. */
  rows: 10_000_000,
  /** Distinct syms. */
  syms: 50,
  /** The partition's date; "today" is a week later, so the rule's minage 1 holds. */
  date: '2024-01-01',
};

export async function benchCompress(): Promise<Metric[]> {
  const k = Number(process.env.BENCH_SCALE ?? '1');
  const rows = Math.max(1000, Math.round(settings.rows * (Number.isFinite(k) && k > 0 ? k : 1)));
  const dir = await mkdtemp(join(tmpdir(), 'tickbus-bench-compress-'));
  const hdbDir = join(dir, 'hdb');
  try {
    const day0 = BigInt(Date.parse(`${settings.date}T00:00:00Z`)) * 1_000_000n;
    await writePartition(hdbDir, settings.date, 'trade', makeTrades(rows, settings.syms, day0));
    const limits = duckdbLimits();
    const t0 = performance.now();
    const r = await runCompression({
      hdbDir,
      rules: parseCompressionCsv('table,minage,column,calgo,cblocksize,clevel\ntrade,1,default,zstd,,9\n', 'bench'),
      today: addDays(settings.date, 7),
      maxAgeDays: 30,
      partitionsPerRunMax: 1,
      sampleRows: 262_144,
      threads: limits.threads,
      memoryLimit: limits.memoryLimit,
      dryRun: false,
      logger: silentLogger,
    });
    const secs = (performance.now() - t0) / 1000;
    if (r.compressed !== 1) throw new Error(`compression bench: expected one partition compressed, got ${JSON.stringify(r.rows)}`);
    const ms = r.rows.find((x) => x.action === 'compressed')!.ms!;
    return [
      { metric: 'compress_10m_rows_s', value: secs, unit: 's', target: 'report' },
      { metric: 'compress_10m_verify_s', value: ms.verify / 1000, unit: 's', target: 'info (the part of compress_10m_rows_s spent verifying)' },
      { metric: 'compress_10m_size_ratio', value: r.bytesAfter / r.bytesBefore, unit: 'new/old bytes', target: 'report' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(`${hdbDir}.staging`, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify({ metrics: await benchCompress() }, null, 2));
}
