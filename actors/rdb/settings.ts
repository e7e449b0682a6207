// RDB settings: typed defaults, one line each.
import type { TablesConfig } from '../../storage/schema.ts';

export interface RdbSettings {
  /** Process name: `q.rdb.<name>` is its query subject. */
  name: string;
  /** The tickerplant to follow. */
  tp: string;
  /** Table schemas (the same config the tickerplant uses). */
  tables: TablesConfig;
  /** Subscribe to these tables only; all when omitted. */
  subscribeTables?: string[];
  /** Keep these syms only (a sharded RDB); all when omitted. */
  syms?: string[];
  /** Bound on log messages buffered ahead of the RDB. */
  bufferMessages: number;
}

export const defaultRdbSettings: Omit<RdbSettings, 'name' | 'tp' | 'tables'> = {
  bufferMessages: 512,
};
