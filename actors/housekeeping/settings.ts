// Housekeeping settings: typed defaults, one line each, every limit named and bounded.
import { resolve } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseTime } from '../common/clock.ts';
import { configFilePath } from '../common/hooks.ts';

export interface HousekeepingSettings {
  /** Process name. */
  name: string;
  /** The task table (TorQ inputcsv): absolute, or relative to the repository root. */
  csv: string;
  /** Directories the tasks may touch (realpaths checked on every run); relative = inside the data dir. Default: the data dir. */
  roots: string[];
  /** Wall-clock times of the daily run, HH:MM, in `zone` (TorQ runtimes; default 12:00). */
  runtimes: string[];
  /** IANA zone of `runtimes`. */
  zone: string;
  /** Run once at start (TorQ -hk.runnow); the process keeps running on its schedule after it. */
  runnow: boolean;
  /** Files (or directories) acted on per run, over all rows; the run stops there and says so (1..1 000 000). */
  filesPerRunMax: number;
  /** Directory entries read per row (a huge directory is read this far and reported) (1..10 000 000). */
  scanEntriesMax: number;
  /** Bound on one tar (tardir) run; the child is killed past it (1 s..1 h). */
  commandTimeoutMs: number;
  /** A module exporting user functions by name (absolute, or relative to the repository root). */
  hooksModule?: string;
  /** The schedule re-checks the clock at least this often (a suspended machine catches up) (1 s..1 h). */
  scheduleCheckMs: number;
}

export const defaultHousekeepingSettings: Omit<HousekeepingSettings, 'name' | 'roots'> = {
  csv: 'ops/housekeeping.csv',
  runtimes: ['12:00'],
  zone: 'UTC',
  runnow: false,
  filesPerRunMax: 10_000,
  scanEntriesMax: 100_000,
  commandTimeoutMs: 600_000,
  scheduleCheckMs: 60_000,
};

/** The data dir: $TICKBUS_DATA (set by `actors up --data`), else ./data. */
export function dataDir(): string {
  return resolve(process.env.TICKBUS_DATA ?? 'data');
}

/** A data path: absolute, or relative to the data dir (like actors/registry.ts dataPath). */
export function inData(p: string): string {
  return resolve(dataDir(), p);
}

function bounded(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TickbusError(ErrorCode.BAD_CONFIG, `${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`, { setting: name, value: v, min, max });
  return n;
}

/** Settings from the cascade (defaults.housekeeping, processes.<name>, --set), checked. */
export function housekeepingSettings(raw: Record<string, unknown> & { name: string }): HousekeepingSettings {
  const s = { ...defaultHousekeepingSettings, ...raw } as Record<string, unknown> & HousekeepingSettings;
  const list = (name: string, v: unknown): string[] => {
    const xs = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v;
    if (!Array.isArray(xs) || xs.some((x) => typeof x !== 'string')) throw new TickbusError(ErrorCode.BAD_CONFIG, `${name} must be a list of strings`, { setting: name, value: v });
    return xs as string[];
  };
  const runtimes = list('runtimes', s.runtimes);
  for (const t of runtimes) parseTime(t);
  const roots = list('roots', raw.roots ?? [dataDir()]).map(inData);
  if (roots.length === 0) throw new TickbusError(ErrorCode.BAD_CONFIG, 'roots must name at least one directory', { setting: 'roots' });
  return {
    name: s.name,
    csv: configFilePath(String(s.csv)),
    roots,
    runtimes,
    zone: String(s.zone),
    runnow: [true, 1, '1', 'true'].includes(s.runnow as never),
    filesPerRunMax: bounded('filesPerRunMax', s.filesPerRunMax, 1, 1_000_000),
    scanEntriesMax: bounded('scanEntriesMax', s.scanEntriesMax, 1, 10_000_000),
    commandTimeoutMs: bounded('commandTimeoutMs', s.commandTimeoutMs, 1_000, 3_600_000),
    hooksModule: typeof s.hooksModule === 'string' && s.hooksModule ? s.hooksModule : undefined,
    scheduleCheckMs: bounded('scheduleCheckMs', s.scheduleCheckMs, 1_000, 3_600_000),
  };
}
