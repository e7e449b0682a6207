// Reading Parquet back in tests: one in-process DuckDB, a query's rows as arrays.
import { DuckDBInstance } from '@duckdb/node-api';

export interface Duck {
  sql(q: string): Promise<unknown[][]>;
  close(): void;
}

export async function openDuck(): Promise<Duck> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  return {
    async sql(q) {
      const con = await db.connect();
      try {
        return (await con.runAndReadAll(q)).getRows();
      } finally {
        con.closeSync();
      }
    },
    close: () => db.closeSync(),
  };
}
