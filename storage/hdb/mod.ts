// The Parquet HDB on DuckDB: the end-of-day writer, the layout and its atomicity protocol, the
// reader that serves the query API, and TorQ's sort config.
export { defaultWriteOptions, writePartition, type PartitionSource, type WriteOptions, type WriteReport } from './writer.ts';
export { defaultHdbOptions, Hdb, type HdbOptions, type HdbProblem } from './hdb.ts';
export { partitionDir, recoverStaging, stagingDirFor, tableDir } from './layout.ts';
export { defaultSortConfig, parseSortCsv, sortColumnsFor, type SortColumn, type SortConfig } from './sort_config.ts';
