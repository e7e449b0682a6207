// A report's result as a Parquet file, through DuckDB (the engine the HDB writes and reads
// Parquet with, storage/hdb/). A query result keeps its column types (timestamps as TIMESTAMP_NS,
// longs as BIGINT, syms as VARCHAR; kdb+'s null sentinels become SQL NULLs); any other result is
// tabulated (format.ts) with a type inferred per column. Report results are bounded
// (resultRowsMax), so rows go in through DuckDB's appender: the HDB's memcpy path is not needed.
import { DuckDBInstance, dateValue, timestampNanosValue, type DuckDBAppender } from '@duckdb/node-api';
import type { ColumnType } from '../../storage/schema.ts';
import { NULL_INT, NULL_LONG, type QueryResult, type ResultColumn } from '../../storage/query/result.ts';
import { ident, sqlString, sqlTypeOf } from '../../storage/hdb/duck.ts';
import { isQueryResult, type Tabular } from './format.ts';

function appendTyped(a: DuckDBAppender, type: ColumnType, col: ResultColumn, i: number): void {
  switch (type) {
    case 'timestamp': {
      const v = (col as BigInt64Array)[i]!;
      return v === NULL_LONG ? a.appendNull() : a.appendTimestampNanoseconds(timestampNanosValue(v));
    }
    case 'long':
    case 'timespan': {
      const v = (col as BigInt64Array)[i]!;
      return v === NULL_LONG ? a.appendNull() : a.appendBigInt(v);
    }
    case 'int': {
      const v = (col as Int32Array)[i]!;
      return v === NULL_INT ? a.appendNull() : a.appendInteger(v);
    }
    case 'date': {
      const v = (col as Int32Array)[i]!;
      return v === NULL_INT ? a.appendNull() : a.appendDate(dateValue(v));
    }
    case 'float': {
      const v = (col as Float64Array)[i]!;
      return Number.isNaN(v) ? a.appendNull() : a.appendDouble(v);
    }
    case 'bool':
      return a.appendBoolean((col as Uint8Array)[i] === 1);
    case 'symbol':
    case 'string':
      return a.appendVarchar((col as string[])[i]!);
  }
}

type Inferred = 'DOUBLE' | 'BOOLEAN' | 'VARCHAR';

function infer(t: Tabular, c: number): Inferred {
  const vals = t.rows.map((r) => r[c]).filter((v) => v !== null);
  if (vals.length > 0 && vals.every((v) => typeof v === 'number')) return 'DOUBLE';
  if (vals.length > 0 && vals.every((v) => typeof v === 'boolean')) return 'BOOLEAN';
  return 'VARCHAR';
}

function appendInferred(a: DuckDBAppender, type: Inferred, v: unknown): void {
  if (v === null || v === undefined) return a.appendNull();
  if (type === 'DOUBLE') return a.appendDouble(v as number);
  if (type === 'BOOLEAN') return a.appendBoolean(v as boolean);
  return a.appendVarchar(String(v));
}

/** Writes `result` to `path` as zstd Parquet (the caller renames it into place). */
export async function writeParquet(path: string, result: unknown, table: Tabular): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await instance.connect();
  try {
    const q: QueryResult | undefined = isQueryResult(result) ? result : undefined;
    const inferred = table.columns.map((_, c) => infer(table, c));
    const sqlTypes = q ? q.types.map(sqlTypeOf) : inferred;
    // A result may have no columns at all (an empty list): Parquet needs one.
    const columns = table.columns.length > 0 ? table.columns : ['result'];
    const types = table.columns.length > 0 ? sqlTypes : ['VARCHAR'];
    await con.run(`CREATE TABLE r (${columns.map((c, i) => `${ident(c)} ${types[i]}`).join(', ')})`);
    const a = await con.createAppender('r');
    const n = q ? q.n : table.rows.length;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < table.columns.length; c++) {
        if (q) appendTyped(a, q.types[c]!, q.cols[q.columns[c]!]!, i);
        else appendInferred(a, inferred[c]!, table.rows[i]![c]);
      }
      a.endRow();
    }
    a.closeSync();
    await con.run(`COPY r TO ${sqlString(path)} (FORMAT PARQUET, COMPRESSION ZSTD)`);
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}
