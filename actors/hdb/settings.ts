import { duckdbLimits } from '../../storage/hdb/duck.ts';
// HDB settings: typed defaults, one line each.
export interface HdbSettings {
  /** Process name: q.hdb.<name> is its query subject. */
  name: string;
  /** HDB root (`<hdbDir>/date=YYYY-MM-DD/<table>/*.parquet`). */
  hdbDir: string;
  /** DuckDB worker threads (default: half the cores, 1 to 4; storage/hdb/duck.ts duckdbLimits). */
  threads: number;
  /** DuckDB memory limit, e.g. '4GB' (default: 15% of RAM, 256 MB to 4 GB; never DuckDB's own 80%). */
  memoryLimit?: string;
  /** Bound on one SQL statement's run time. */
  sqlTimeoutMs: number;
  /** Rescan the directory this often even without a reload notice (0 = only on notice). */
  rescanMs: number;
}

export const defaultHdbSettings: Omit<HdbSettings, 'name' | 'hdbDir'> = {
  threads: duckdbLimits().threads,
  sqlTimeoutMs: 30_000,
  rescanMs: 60_000,
};
