import { duckdbLimits } from '../../storage/hdb/duck.ts';
// IDB settings: typed defaults, one line each.
export interface IdbSettings {
  /** Process name: q.idb.<name> is its query subject. */
  name: string;
  /** The intraday area a WDB writes (`<wdbDir>/date=YYYY-MM-DD/<table>/part-NNNNN.parquet` + `_manifest.json`). */
  wdbDir: string;
  /** Serve only manifests of this tickerplant's log (default: any). */
  tp?: string;
  /** Reload on this WDB's written notices only (default: every WDB's, `wdb.*.written`). */
  wdb?: string;
  /** DuckDB worker threads (default: half the cores, 1 to 4; storage/hdb/duck.ts duckdbLimits). */
  threads: number;
  /** DuckDB memory limit, e.g. '4GB' (default: 15% of RAM, 256 MB to 4 GB). */
  memoryLimit?: string;
  /** Bound on one SQL statement's run time. */
  sqlTimeoutMs: number;
  /** Re-read the manifests this often even without a written notice (0 = only on notices). */
  rescanMs: number;
}

export const defaultIdbSettings: Omit<IdbSettings, 'name' | 'wdbDir'> = {
  threads: duckdbLimits().threads,
  sqlTimeoutMs: 30_000,
  rescanMs: 5_000,
};
