// The HDB reader: lists partitions and tables, checks each Parquet file's footer once (a corrupt
// partition is reported and left out while the others stay queryable), and answers the one query
// API (storage/query/request.ts), as-of joins and read-only SQL through DuckDB. `reload()` picks up
// partitions written since; the RDB's end-of-day write tells the HDB process to call it.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance, StatementType, type DuckDBConnection } from '@duckdb/node-api';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { dateToDays, daysToDate } from '../batch.ts';
import { defineTable, type ColumnType, type TableSchema, type TablesConfig } from '../schema.ts';
import { applyRename, finishAgg, noRowsParts } from '../query/finalize.ts';
import { bad, partsLayout, planAsof, planQuery, type AsofPlan, type Plan } from '../query/request.ts';
import { emptyResult, QUERY_ROWS_MAX, RESULT_TYPE, type QueryResult, type ResultColumn } from '../query/result.ts';
import { asofSql, partsSql, rawSql, type FileSet } from '../query/sql.ts';
import { duckdbLimits, ident, isOutOfMemory, readResult, sqlString, stream, type Params } from './duck.ts';

/** A statement stopped at the memory limit: RESOURCE_LIMIT naming the limit, the process goes on. */
function outOfMemory(e: unknown, limit: string | undefined): TickbusError {
  const memoryLimit = limit ?? duckdbLimits().memoryLimit;
  return new TickbusError(ErrorCode.RESOURCE_LIMIT, `the query needs more memory than this hdb's memoryLimit (${memoryLimit}); narrow it (dates, syms, columns) or add LIMIT`, { memoryLimit }, { cause: e });
}
import { recoverStaging } from './layout.ts';
import { SCHEMA_KV_KEY } from './writer.ts';

/** HDB settings: typed defaults, one line each. */
export interface HdbOptions {
  /** Schemas by table; default: read from the files' tickbus metadata (else inferred). */
  tables?: TablesConfig;
  /** DuckDB worker threads; default duckdbLimits() (half the cores, 1 to 4). */
  threads: number;
  /** DuckDB memory limit (e.g. '4GB'); default duckdbLimits() (15% of RAM, 256 MB to 4 GB), never DuckDB's 80%. */
  memoryLimit?: string;
  /** Bound on one SQL statement's run time; past it the statement is interrupted. */
  sqlTimeoutMs: number;
  /** Bound on the characters of one SQL statement. */
  sqlCharsMax: number;
  /** Clean up staging left by crashed writes when opening (needs write access to it). */
  recoverOnOpen: boolean;
  stagingDir?: string;
  /** Where the files come from; default: every `date=D/<table>/*.parquet` under the directory (the IDB lists its manifest's files instead). */
  listing?: Listing;
}

/** One table's files of one date, absolute paths (a table with no file is left out). */
export interface ListedPartition {
  date: string;
  table: string;
  files: string[];
}
/** Lists the files an Hdb serves (the directory scan by default; an intraday manifest for the IDB). */
export type Listing = (root: string) => Promise<ListedPartition[]>;
/** Keeps only some of a table's files for one query (the IDB's sequence cut). */
export type FileFilter = (file: string) => boolean;

export const defaultHdbOptions: HdbOptions = {
  threads: duckdbLimits().threads,
  sqlTimeoutMs: 30_000,
  sqlCharsMax: 100_000,
  recoverOnOpen: true,
};

export interface HdbProblem {
  date: string;
  table: string;
  file: string;
  error: string;
}

interface PartitionFiles {
  files: string[];
  rows: number;
  /** Least and greatest time over the files, from the writer's metadata (absent: unknown). */
  timeRange?: [bigint, bigint];
}

interface Snapshot {
  /** table -> date -> files of good partitions. */
  tables: Map<string, Map<string, PartitionFiles>>;
  schemas: Map<string, TableSchema>;
  problems: HdbProblem[];
  dates: string[];
}

interface FileCheck {
  size: number;
  mtimeMs: number;
  rows?: number;
  schema?: string;
  error?: string;
}

const DATE_DIR_RE = /^date=(\d{4}-\d{2}-\d{2})$/;

export class Hdb {
  private snap: Snapshot = { tables: new Map(), schemas: new Map(), problems: [], dates: [] };
  private readonly checked = new Map<string, FileCheck>();
  private reloading: Promise<Snapshot> | undefined;

  private constructor(
    readonly dir: string,
    private readonly instance: DuckDBInstance,
    private readonly spillDir: string,
    private readonly o: HdbOptions,
  ) {}

  /** Opens an HDB directory (created if missing) and loads its partitions. */
  static async open(dir: string, options: Partial<HdbOptions> = {}): Promise<Hdb> {
    const o: HdbOptions = { ...defaultHdbOptions, ...options };
    const root = resolve(dir);
    await mkdir(root, { recursive: true });
    if (o.recoverOnOpen) {
      // A reader may sit on a read-only copy of the HDB: failing to clean staging is not fatal.
      await recoverStaging(root, o.stagingDir).catch(() => undefined);
    }
    const spillDir = join(tmpdir(), `tickbus-hdb-${process.pid}-${randomUUID().slice(0, 8)}`);
    await mkdir(spillDir, { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', { threads: String(o.threads) });
    const con = await instance.connect();
    try {
      // Read-only by construction: this instance may touch only the HDB and its spill dir, and
      // the settings are then locked so no statement can widen them. (An in-memory database has
      // no read-only mode; statements other than SELECT are refused in sql().)
      await con.run(`SET allowed_directories = [${sqlString(`${root}/`)}, ${sqlString(`${spillDir}/`)}]`);
      await con.run(`SET temp_directory = ${sqlString(spillDir)}`);
      await con.run(`SET memory_limit = ${sqlString(o.memoryLimit ?? duckdbLimits().memoryLimit)}`);
      await con.run('SET enable_external_access = false');
      await con.run('SET lock_configuration = true');
    } finally {
      con.closeSync();
    }
    const hdb = new Hdb(root, instance, spillDir, o);
    await hdb.reload();
    return hdb;
  }

  /** Dates with at least one good table partition, ascending. */
  partitions(): string[] {
    return this.snap.dates.slice();
  }

  tables(): string[] {
    return [...this.snap.tables.keys()].sort();
  }

  /** Files that could not be read; their (date, table) partitions are left out of queries. */
  problems(): HdbProblem[] {
    return this.snap.problems.slice();
  }

  schema(table: string): TableSchema | undefined {
    return this.snap.schemas.get(table);
  }

  /** Attributes for discovery: partitions, tables and row counts, problems. */
  info(): Record<string, unknown> {
    const tables: Record<string, { partitions: number; rows: number }> = {};
    for (const [t, parts] of this.snap.tables) {
      let rows = 0;
      for (const p of parts.values()) rows += p.rows;
      tables[t] = { partitions: parts.size, rows };
    }
    const d = this.snap.dates;
    return { dir: this.dir, partitions: d.length, first: d[0], last: d[d.length - 1], tables, problems: this.snap.problems };
  }

  /** Rescans the directory: new partitions appear, replaced ones are re-checked, gone ones go. */
  async reload(): Promise<{ partitions: number; tables: string[]; problems: HdbProblem[] }> {
    // Reloads queue behind each other: two scans at once would race on the views.
    const run = (this.reloading ?? Promise.resolve()).then(() => this.scan());
    this.reloading = run.catch(() => this.snap);
    this.snap = await run;
    return { partitions: this.snap.dates.length, tables: this.tables(), problems: this.problems() };
  }

  private async scan(): Promise<Snapshot> {
    const tables = new Map<string, Map<string, PartitionFiles>>();
    const problems: HdbProblem[] = [];
    const latestSchema = new Map<string, { date: string; json?: string; file: string }>();
    const seen = new Set<string>();
    const con = await this.instance.connect();
    try {
      const listed = this.o.listing ? await this.o.listing(this.dir) : await listDir(this.dir, problems);
      for (const { date, table, files } of listed) {
        if (files.length === 0) continue;
        let rows = 0;
        let bad: HdbProblem | undefined;
        let json: string | undefined;
        let timeRange: [bigint, bigint] | undefined;
        let rangeKnown = true;
        for (const file of files) {
          seen.add(file);
          const c = await this.check(con, file);
          if (c.error) {
            bad = { date, table, file, error: c.error };
            break;
          }
          rows += c.rows!;
          json ??= c.schema;
          const r = c.schema ? (JSON.parse(c.schema) as { timeRange?: [string, string] }).timeRange : undefined;
          if (!r) {
            if (c.rows! > 0) rangeKnown = false;
            continue;
          }
          const [a, b] = [BigInt(r[0]), BigInt(r[1])];
          timeRange = timeRange ? [a < timeRange[0] ? a : timeRange[0], b > timeRange[1] ? b : timeRange[1]] : [a, b];
        }
        if (bad) {
          problems.push(bad);
          continue;
        }
        let byDate = tables.get(table);
        if (!byDate) tables.set(table, (byDate = new Map()));
        // An empty partition has no times at all: any range covers it.
        byDate.set(date, { files, rows, timeRange: rangeKnown ? (timeRange ?? [0n, 0n]) : undefined });
        latestSchema.set(table, { date, json, file: files[0]! });
      }
      for (const f of this.checked.keys()) if (!seen.has(f)) this.checked.delete(f);
      const schemas = new Map<string, TableSchema>();
      for (const [table, latest] of latestSchema) schemas.set(table, await this.schemaFor(con, table, latest.json, latest.file));
      await this.refreshViews(con, tables);
      const dates = new Set<string>();
      for (const m of tables.values()) for (const d of m.keys()) dates.add(d);
      return { tables, schemas, problems, dates: [...dates].sort() };
    } finally {
      con.closeSync();
    }
  }

  /** Reads a file's footer (row count, our schema metadata) once per (size, mtime). */
  private async check(con: DuckDBConnection, file: string): Promise<FileCheck> {
    let st;
    try {
      st = await stat(file);
    } catch (e) {
      return { size: -1, mtimeMs: -1, error: (e as Error).message };
    }
    const hit = this.checked.get(file);
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit;
    const c: FileCheck = { size: st.size, mtimeMs: st.mtimeMs };
    try {
      const meta = await con.runAndReadAll(`SELECT num_rows::BIGINT FROM parquet_file_metadata(${sqlString(file)})`);
      c.rows = Number(meta.getRows()[0]![0] as bigint);
      const kv = await con.runAndReadAll(`SELECT decode(value) FROM parquet_kv_metadata(${sqlString(file)}) WHERE decode(key) = ${sqlString(SCHEMA_KV_KEY)}`);
      c.schema = kv.getRows()[0]?.[0] as string | undefined;
    } catch (e) {
      c.error = (e as Error).message.split('\n')[0]!;
    }
    this.checked.set(file, c);
    return c;
  }

  private async schemaFor(con: DuckDBConnection, table: string, json: string | undefined, file: string): Promise<TableSchema> {
    const configured = this.o.tables?.[table];
    if (configured) return defineTable(table, configured);
    if (json) {
      const meta = JSON.parse(json) as { columns: { name: string; type: ColumnType }[] };
      return defineTable(table, Object.fromEntries(meta.columns.map((c) => [c.name, c.type])));
    }
    // Files from elsewhere: infer (VARCHAR reads as symbol, BIGINT as long).
    const r = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    const cols: Record<string, ColumnType> = {};
    for (const [name, type] of r.getRows() as [string, string][]) {
      const t = type.toUpperCase();
      cols[name] = t.startsWith('TIMESTAMP')
        ? 'timestamp'
        : t === 'VARCHAR'
          ? 'symbol'
          : t === 'BIGINT'
            ? 'long'
            : t === 'INTEGER'
              ? 'int'
              : t === 'DOUBLE' || t === 'FLOAT'
                ? 'float'
                : t === 'BOOLEAN'
                  ? 'bool'
                  : t === 'DATE'
                    ? 'date'
                    : 'string';
    }
    return defineTable(table, cols);
  }

  /** One view per table over its good files, for SQL (with the hive `date` column). */
  private async refreshViews(con: DuckDBConnection, tables: Map<string, Map<string, PartitionFiles>>): Promise<void> {
    const existing = await con.runAndReadAll(`SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'`);
    for (const [name] of existing.getRows() as [string][]) if (!tables.has(name)) await con.run(`DROP VIEW IF EXISTS ${ident(name)}`);
    for (const [table, byDate] of tables) {
      const files = [...byDate.values()].flatMap((p) => p.files);
      await con.run(`CREATE OR REPLACE VIEW ${ident(table)} AS SELECT * FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true)`);
    }
  }

  private lookup = (table: string) => this.snap.schemas.get(table);
  private tableNames = () => this.tables();

  /** Validates a request against the HDB's tables (the gateway uses the plan to merge parts). */
  plan(request: unknown): Plan {
    return planQuery(request, this.lookup, this.tableNames);
  }

  /**
   * Files of the partitions that can hold rows in [startNs, endNs]. A trading day need not be a
   * UTC date (decision 6: a 17:00 New York roll puts the evening in the next date's partition),
   * so pruning uses each partition's time range from the writer's metadata; for files without it,
   * the dates around the range (one day of margin each side).
   */
  filesFor(table: string, startNs: bigint, endNs: bigint, only?: FileFilter): FileSet {
    const byDate = this.snap.tables.get(table);
    if (!byDate) return { files: [], covered: true };
    const day = 86_400_000_000_000n;
    const floorDay = (ns: bigint) => Number((ns - (((ns % day) + day) % day)) / day);
    const from = daysToDate(floorDay(startNs) - 1);
    const to = daysToDate(floorDay(endNs) + 1);
    const out: string[] = [];
    let covered = true;
    for (const [date, p] of [...byDate].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const r = p.timeRange;
      if (r) {
        if (p.rows === 0 || r[1] < startNs || r[0] > endNs) continue;
        if (r[0] < startNs || r[1] > endNs) covered = false;
      } else {
        if (date < from || date > to) continue;
        covered = false;
      }
      out.push(...(only ? p.files.filter(only) : p.files));
    }
    return { files: out, covered };
  }

  private async run(sql: string, params: Params, types: ColumnType[]): Promise<{ n: number; cols: ResultColumn[] }> {
    const con = await this.instance.connect();
    try {
      const res = await stream(con, sql, params);
      return await readResult(res, {
        types,
        rowsMax: QUERY_ROWS_MAX,
        onTooMany: (rows) => bad('limit', `the result has more than ${QUERY_ROWS_MAX} rows (${rows}+); page with limit`, { rows }),
      });
    } catch (e) {
      if (e instanceof TickbusError) throw e;
      if (isOutOfMemory(e)) throw outOfMemory(e, this.o.memoryLimit);
      throw new TickbusError(ErrorCode.INTERNAL, `hdb query failed: ${(e as Error).message.split('\n')[0]}`, { sql }, { cause: e });
    } finally {
      con.closeSync();
    }
  }

  /** Runs a getdata request over the partitions its time range covers. */
  async query(request: unknown, only?: FileFilter): Promise<QueryResult> {
    return this.runPlan(this.plan(request), only);
  }

  /** Runs a plan; `only` keeps a subset of the table's files (the IDB's sequence cut). */
  async runPlan(plan: Plan, only?: FileFilter): Promise<QueryResult> {
    const files = this.filesFor(plan.table, plan.startNs, plan.endNs, only);
    if (plan.kind === 'raw') {
      if (files.files.length === 0) return applyRename(emptyResult(plan.table, plan.columns.slice(), plan.outTypes.slice()), plan.rename);
      const q = rawSql(plan, files);
      const r = await this.run(q.sql, q.params, plan.outTypes);
      if (r.n > QUERY_ROWS_MAX) throw bad('limit', `the result has more than ${QUERY_ROWS_MAX} rows; page with limit`, { rows: r.n });
      const cols: Record<string, ResultColumn> = {};
      plan.columns.forEach((c, i) => (cols[c] = q.reversed ? reverse(r.cols[i]!) : r.cols[i]!));
      const out: QueryResult = { type: RESULT_TYPE, table: plan.table, n: r.n, columns: plan.columns.slice(), types: plan.outTypes.slice(), cols };
      return applyRename(out, plan.rename);
    }
    if (files.files.length === 0) return finishAgg(plan, noRowsParts(plan));
    const q = partsSql(plan, files);
    const layout = partsLayout(plan);
    const r = await this.run(q.sql, q.params, layout.types);
    const cols: Record<string, ResultColumn> = {};
    layout.columns.forEach((c, i) => (cols[c] = r.cols[i]!));
    return finishAgg(plan, { n: r.n, cols });
  }

  /** kdb+'s aj over the HDB: each left row with the prevailing right row by sym and time. */
  async asof(request: unknown): Promise<QueryResult> {
    const plan: AsofPlan = planAsof(request, this.lookup, this.tableNames);
    const left = this.filesFor(plan.left.table, plan.left.startNs, plan.left.endNs).files;
    if (left.length === 0) return applyRename(emptyResult(plan.left.table, plan.outColumns.slice(), plan.outTypes.slice()), plan.rename);
    const right = this.filesFor(plan.right.table, plan.right.startNs, plan.right.endNs).files;
    const q = asofSql(plan, left, right);
    const r = await this.run(q.sql, q.params, plan.outTypes);
    const cols: Record<string, ResultColumn> = {};
    plan.outColumns.forEach((c, i) => (cols[c] = r.cols[i]!));
    return applyRename({ type: RESULT_TYPE, table: plan.left.table, n: r.n, columns: plan.outColumns.slice(), types: plan.outTypes.slice(), cols }, plan.rename);
  }

  /**
   * Read-only SQL over the tables (one view per table, with a `date` column). Exactly one
   * statement, and it must be a query (SELECT, WITH ... SELECT, FROM ...); it runs for at most
   * sqlTimeoutMs and may return at most QUERY_ROWS_MAX rows.
   */
  async sql(text: unknown): Promise<QueryResult> {
    const sqlText = typeof text === 'object' && text !== null && 'sql' in text ? (text as { sql: unknown }).sql : text;
    if (typeof sqlText !== 'string' || sqlText.trim() === '') throw bad('sql', 'missing required parameter (a SELECT statement)');
    if (sqlText.length > this.o.sqlCharsMax) throw bad('sql', `longer than ${this.o.sqlCharsMax} characters`);
    const con = await this.instance.connect();
    const timer = setTimeout(() => con.interrupt(), this.o.sqlTimeoutMs);
    try {
      let extracted;
      try {
        extracted = await con.extractStatements(sqlText);
      } catch (e) {
        throw bad('sql', (e as Error).message.split('\n')[0]!);
      }
      if (extracted.count !== 1) throw bad('sql', `takes exactly one statement, got ${extracted.count}`);
      let prepared;
      try {
        prepared = await extracted.prepare(0);
      } catch (e) {
        throw bad('sql', (e as Error).message.split('\n')[0]!);
      }
      if (prepared.statementType !== StatementType.SELECT) {
        throw bad('sql', `only queries (SELECT / WITH) are allowed, got ${StatementType[prepared.statementType]}`, { statement: StatementType[prepared.statementType] });
      }
      let r;
      try {
        r = await readResult(await prepared.stream(), {
          rowsMax: QUERY_ROWS_MAX,
          onTooMany: (rows) => bad('sql', `the result has more than ${QUERY_ROWS_MAX} rows (${rows}+); add LIMIT`, { rows }),
        });
      } catch (e) {
        if (e instanceof TickbusError) throw e;
        if (isOutOfMemory(e)) throw outOfMemory(e, this.o.memoryLimit);
        const msg = (e as Error).message.split('\n')[0]!;
        throw bad('sql', /interrupt/i.test(msg) ? `ran longer than ${this.o.sqlTimeoutMs} ms and was interrupted` : msg);
      }
      const columns = dedupe(r.names);
      const cols: Record<string, ResultColumn> = {};
      columns.forEach((c, i) => (cols[c] = r.cols[i]!));
      return { type: RESULT_TYPE, table: 'sql', n: r.n, columns, types: r.types, cols };
    } finally {
      clearTimeout(timer);
      con.closeSync();
    }
  }

  close(): void {
    this.instance.closeSync();
    // Synchronously: a process that closes and exits must not leave its spill dir behind.
    rmSync(this.spillDir, { recursive: true, force: true });
  }
}

/** The default listing: every `date=D/<table>/*.parquet` under the root (an empty table directory is a problem). */
async function listDir(root: string, problems: HdbProblem[]): Promise<ListedPartition[]> {
  const out: ListedPartition[] = [];
  const entries = (await readdir(root)).filter((e) => DATE_DIR_RE.test(e)).sort();
  for (const entry of entries) {
    const date = DATE_DIR_RE.exec(entry)![1]!;
    if (dateToDays(date) === undefined) continue;
    const pdir = join(root, entry);
    for (const table of (await readdir(pdir)).sort()) {
      const tdir = join(pdir, table);
      if (!(await stat(tdir)).isDirectory()) continue;
      const files = (await readdir(tdir)).filter((f) => f.endsWith('.parquet')).sort().map((f) => join(tdir, f));
      if (files.length === 0) {
        problems.push({ date, table, file: tdir, error: 'table directory holds no parquet file' });
        continue;
      }
      out.push({ date, table, files });
    }
  }
  return out;
}

function reverse(c: ResultColumn): ResultColumn {
  return (Array.isArray(c) ? c.slice().reverse() : c.slice().reverse()) as ResultColumn;
}

function dedupe(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    return k === 0 ? n : `${n}${k}`;
  });
}
