// Compression settings: typed defaults, one line each, every limit named and bounded.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseTime } from '../common/clock.ts';
import { configFilePath } from '../common/hooks.ts';
import { duckdbLimits } from '../../storage/hdb/duck.ts';

export interface CompressionSettings {
  /** Process name. */
  name: string;
  /** The HDB directory (absolute, or inside the data dir; the registry resolves it). */
  hdbDir: string;
  /** Where staged rewrites live; default `<hdb>.staging` beside the HDB (the writer's). */
  stagingDir?: string;
  /** The compression table (TorQ compressionconfig.csv): absolute, or relative to the repository root. */
  csv: string;
  /** Wall-clock times of the daily run, HH:MM, in `zone` (default 03:00). */
  runtimes: string[];
  /** IANA zone of `runtimes` and of "today", from which partition ages count. */
  zone: string;
  /** Run once at start; the process keeps running on its schedule after it. */
  runnow: boolean;
  /** Partitions older than this many days are not looked at (TorQ .cmp.maxage, default 30) (0..36600). */
  maxAgeDays: number;
  /** Partitions rewritten per run; the rest wait for the next run (1..1 000 000). */
  partitionsPerRunMax: number;
  /** Rows of the first file written twice to estimate a dry run's planned size (1024..10 000 000). */
  sampleRows: number;
  /** DuckDB threads for the rewrite (default: duck.ts duckdbLimits, half the cores, at most 4) (1..64). */
  threads: number;
  /** DuckDB memory limit for the rewrite (default: duck.ts duckdbLimits, 15% of RAM in 256 MB..4 GB). */
  memoryLimit: string;
  /** The schedule re-checks the clock at least this often (1 s..1 h). */
  scheduleCheckMs: number;
}

export const defaultCompressionSettings: Omit<CompressionSettings, 'name' | 'threads' | 'memoryLimit'> = {
  hdbDir: 'hdb',
  csv: 'ops/compression.csv',
  runtimes: ['03:00'],
  zone: 'UTC',
  runnow: false,
  maxAgeDays: 30,
  partitionsPerRunMax: 1000,
  sampleRows: 262_144,
  scheduleCheckMs: 60_000,
};

function bounded(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TickbusError(ErrorCode.BAD_CONFIG, `${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`, { setting: name, value: v, min, max });
  return n;
}

/** Settings from the cascade (defaults.compression, processes.<name>, --set), checked. */
export function compressionSettings(raw: Record<string, unknown> & { name: string }): CompressionSettings {
  const limits = duckdbLimits();
  const s = { ...defaultCompressionSettings, threads: limits.threads, memoryLimit: limits.memoryLimit, ...raw } as Record<string, unknown> & CompressionSettings;
  const runtimes = typeof s.runtimes === 'string' ? (s.runtimes as string).split(',').map((x) => x.trim()).filter(Boolean) : s.runtimes;
  if (!Array.isArray(runtimes) || runtimes.length === 0 || runtimes.some((x) => typeof x !== 'string')) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, 'runtimes must be a list of HH:MM times', { setting: 'runtimes', value: s.runtimes });
  }
  for (const t of runtimes) parseTime(t);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: String(s.zone) });
  } catch {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `zone ${JSON.stringify(s.zone)} is not an IANA time zone`, { setting: 'zone', value: s.zone });
  }
  if (typeof s.hdbDir !== 'string' || !s.hdbDir) throw new TickbusError(ErrorCode.BAD_CONFIG, 'hdbDir must name a directory', { setting: 'hdbDir', value: s.hdbDir });
  if (!/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(String(s.memoryLimit))) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `memoryLimit must be a size such as 512MB or 2GB, got ${JSON.stringify(s.memoryLimit)}`, { setting: 'memoryLimit', value: s.memoryLimit });
  }
  return {
    name: s.name,
    hdbDir: s.hdbDir,
    stagingDir: typeof s.stagingDir === 'string' && s.stagingDir ? s.stagingDir : undefined,
    csv: configFilePath(String(s.csv)),
    runtimes: runtimes as string[],
    zone: String(s.zone),
    runnow: [true, 1, '1', 'true'].includes(s.runnow as never),
    maxAgeDays: bounded('maxAgeDays', s.maxAgeDays, 0, 36_600),
    partitionsPerRunMax: bounded('partitionsPerRunMax', s.partitionsPerRunMax, 1, 1_000_000),
    sampleRows: bounded('sampleRows', s.sampleRows, 1024, 10_000_000),
    threads: bounded('threads', s.threads, 1, 64),
    memoryLimit: String(s.memoryLimit),
    scheduleCheckMs: bounded('scheduleCheckMs', s.scheduleCheckMs, 1_000, 3_600_000),
  };
}
