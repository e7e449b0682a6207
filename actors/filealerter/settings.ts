// File alerter settings: typed defaults, one line each, every limit named and bounded.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { TablesConfig } from '../../storage/schema.ts';
import { configFilePath } from '../common/hooks.ts';
import { inData } from '../housekeeping/settings.ts';

export interface FileAlerterSettings {
  /** Process name. */
  name: string;
  /** Table schemas (loadcsv parses each column by its type). */
  tables: TablesConfig;
  /** The rule table (TorQ inputcsv): absolute, or relative to the repository root. */
  csv: string;
  /** The tickerplant loadcsv feeds. */
  tp: string;
  /** Poll period (TorQ polltime) (100 ms..1 h). A file is taken once it is unchanged over one poll. */
  pollMs: number;
  /** Files handled per poll; the rest wait for the next poll (1..100 000). */
  filesPerPollMax: number;
  /** Directory entries read per watched directory per poll (1..10 000 000). */
  scanEntriesMax: number;
  /** The processed-files table (JSON lines); relative = inside the data dir. Default filealerter/<name>.processed.jsonl. */
  processedFile: string;
  /** Entries the processed table keeps (oldest dropped at compaction: dedupe memory ends there) (100..10 000 000). */
  processedMax: number;
  /** Where a file whose function failed goes; relative = inside the data dir; empty = `<watched dir>/error`. */
  errorDir: string;
  /** A module exporting user functions by name (absolute, or relative to the repository root). */
  hooksModule?: string;
  /** loadcsv: rows per update sent to the tickerplant (1..100 000). */
  chunkRowsMax: number;
  /** loadcsv: estimated bytes per update (the CSV text of its rows + 8 per value) (1 KiB..700 KiB, under the tickerplant's batchBytesMax). */
  chunkBytesMax: number;
  /** loadcsv: a larger file is refused whole: it is parsed in memory, ~3.5x its size (1 KiB..2 GiB). */
  fileBytesMax: number;
  /** loadcsv: rows per second at most, so a big file does not crowd the live feed; 0 = no limit. */
  loadRowsPerSecMax: number;
  /** loadcsv: deadline for each tickerplant ack (the Publisher retries with the same id) (100 ms..10 min). */
  ackTimeoutMs: number;
}

export const defaultFileAlerterSettings: Omit<FileAlerterSettings, 'name' | 'tables' | 'processedFile'> = {
  csv: 'ops/filealerter.csv',
  tp: 'tp1',
  pollMs: 1_000,
  filesPerPollMax: 100,
  scanEntriesMax: 100_000,
  processedMax: 100_000,
  errorDir: '',
  chunkRowsMax: 5_000,
  chunkBytesMax: 256 * 1024,
  fileBytesMax: 64 * 1024 * 1024,
  loadRowsPerSecMax: 0,
  ackTimeoutMs: 10_000,
};

function bounded(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TickbusError(ErrorCode.BAD_CONFIG, `${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`, { setting: name, value: v, min, max });
  return n;
}

export function fileAlerterSettings(raw: Record<string, unknown> & { name: string }): FileAlerterSettings {
  const s = { ...defaultFileAlerterSettings, ...raw } as Record<string, unknown> & FileAlerterSettings;
  if (!s.tables || typeof s.tables !== 'object') throw new TickbusError(ErrorCode.BAD_CONFIG, 'tables (the schema) is required', { setting: 'tables' });
  return {
    name: s.name,
    tables: s.tables,
    csv: configFilePath(String(s.csv)),
    tp: String(s.tp),
    pollMs: bounded('pollMs', s.pollMs, 100, 3_600_000),
    filesPerPollMax: bounded('filesPerPollMax', s.filesPerPollMax, 1, 100_000),
    scanEntriesMax: bounded('scanEntriesMax', s.scanEntriesMax, 1, 10_000_000),
    processedFile: inData(typeof raw.processedFile === 'string' && raw.processedFile ? raw.processedFile : `filealerter/${s.name}.processed.jsonl`),
    processedMax: bounded('processedMax', s.processedMax, 100, 10_000_000),
    errorDir: s.errorDir ? inData(String(s.errorDir)) : '',
    hooksModule: typeof s.hooksModule === 'string' && s.hooksModule ? s.hooksModule : undefined,
    chunkRowsMax: bounded('chunkRowsMax', s.chunkRowsMax, 1, 100_000),
    chunkBytesMax: bounded('chunkBytesMax', s.chunkBytesMax, 1_024, 700 * 1024),
    fileBytesMax: bounded('fileBytesMax', s.fileBytesMax, 1_024, 2 * 1024 ** 3),
    loadRowsPerSecMax: bounded('loadRowsPerSecMax', s.loadRowsPerSecMax, 0, 1_000_000_000),
    ackTimeoutMs: bounded('ackTimeoutMs', s.ackTimeoutMs, 100, 600_000),
  };
}
