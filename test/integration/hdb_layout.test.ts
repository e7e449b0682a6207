// Proves the HDB's on-disk contract with real Parquet files read back through DuckDB SQL: the
// hive layout any reader can glob, the column types, zstd, the sort (sym then time, stable), row
// groups that keep a sym's rows together (parquet_metadata), the schema in the key-value
// metadata, atomic appearance and replacement (crash states built by hand, and a writer process
// SIGKILLed mid-write), a corrupt partition reported while the others stay queryable, and reload
// picking up new partitions. No NATS.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { recoverStaging, stagingDirFor } from '../../storage/hdb/layout.ts';
import { parseSortCsv } from '../../storage/hdb/sort_config.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { runQuery } from '../../storage/query/memory.ts';
import { diffResults, makeDay, tradeSchema } from '../unit/storage_fixtures.ts';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
let dir: string;
let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickbus-hdb-layout-'));
  db = await DuckDBInstance.create(':memory:', { threads: '2' });
  con = await db.connect();
});

afterAll(async () => {
  con?.closeSync();
  db?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

async function rows(sql: string): Promise<unknown[][]> {
  return (await con.runAndReadAll(sql)).getRowsJS() as unknown[][];
}

const count = async (glob: string) => Number((await rows(`SELECT count(*) FROM read_parquet('${glob}', hive_partitioning = true)`))[0]![0]);

describe('hdb: layout, types, sort and row groups', () => {
  const D = '2024-03-04';
  let hdbDir: string;
  const day = makeDay(D, 20_000, 21);

  beforeAll(async () => {
    hdbDir = join(dir, 'layout');
    const rep = await writePartition(hdbDir, D, 'trade', day.trade, { rowGroupRows: 2048 });
    expect(rep.rows).toBe(20_000);
    expect(rep.files.length).toBe(2);
    expect(rep.replaced).toBe(false);
  });

  it('hdb: a partition is <hdb>/date=YYYY-MM-DD/<table>/*.parquet, readable with a hive glob', async () => {
    expect(await readdir(hdbDir)).toEqual([`date=${D}`]);
    expect(await readdir(join(hdbDir, `date=${D}`, 'trade'))).toEqual(['part-000.parquet', 'part-001.parquet']);
    const r = await rows(`SELECT date::VARCHAR, count(*)::INTEGER FROM read_parquet('${hdbDir}/**/*.parquet', hive_partitioning = true) GROUP BY date`);
    expect(r).toEqual([[D, 20_000]]);
    expect(existsSync(stagingDirFor(hdbDir))).toBe(true);
    expect(await readdir(stagingDirFor(hdbDir))).toEqual([]);
  });

  it('hdb: columns map to Parquet types (timestamp ns, varchar syms, double, bigint, integer, boolean, date) and zstd', async () => {
    const r = await rows(`DESCRIBE SELECT * FROM read_parquet('${hdbDir}/date=${D}/trade/part-000.parquet', hive_partitioning = false)`);
    expect(r.map((x) => `${x[0]}:${x[1]}`)).toEqual([
      'time:TIMESTAMP_NS',
      'sym:VARCHAR',
      'price:DOUBLE',
      'size:BIGINT',
      'side:VARCHAR',
      'venue:VARCHAR',
      'lot:INTEGER',
      'odd:BOOLEAN',
      'settle:DATE',
      'latency:BIGINT',
    ]);
    const comp = await rows(`SELECT DISTINCT compression FROM parquet_metadata('${hdbDir}/**/*.parquet')`);
    expect(comp).toEqual([['ZSTD']]);
    // Float nulls (NaN in memory) are NULL in Parquet.
    const nulls = await rows(`SELECT count(*) - count(price) FROM read_parquet('${hdbDir}/**/*.parquet')`);
    expect(Number(nulls[0]![0])).toBeGreaterThan(0);
  });

  it('hdb: rows are sorted by sym then time within each file, and syms do not straddle files', async () => {
    for (const f of ['part-000.parquet', 'part-001.parquet']) {
      const bad = await rows(
        `SELECT count(*) FROM (SELECT sym, time, lag(sym) OVER w AS ps, lag(time) OVER w AS pt FROM read_parquet('${hdbDir}/date=${D}/trade/${f}', file_row_number = true) WINDOW w AS (ORDER BY file_row_number)) WHERE ps > sym OR (ps = sym AND pt > time)`,
      );
      expect(Number(bad[0]![0])).toBe(0);
    }
    const straddle = await rows(`SELECT sym FROM read_parquet('${hdbDir}/**/*.parquet', filename = true) GROUP BY sym HAVING count(DISTINCT filename) > 1`);
    expect(straddle).toEqual([]);
  });

  it('hdb: row groups hold disjoint sym ranges, so a sym filter reads at most its rows plus two row groups', async () => {
    const groups = (await rows(
      `SELECT file_name, row_group_id, row_group_num_rows, stats_min_value, stats_max_value FROM parquet_metadata('${hdbDir}/**/*.parquet') WHERE path_in_schema = 'sym' ORDER BY file_name, row_group_id`,
    )) as [string, bigint, bigint, string, string][];
    expect(groups.length).toBeGreaterThan(8);
    for (let i = 1; i < groups.length; i++) {
      if (groups[i]![0] === groups[i - 1]![0]) expect(groups[i - 1]![4] <= groups[i]![3]).toBe(true);
    }
    const perSym = (await rows(`SELECT sym, count(*) FROM read_parquet('${hdbDir}/**/*.parquet') GROUP BY sym`)) as [string, bigint][];
    for (const [sym, n] of perSym) {
      const read = groups.filter((g) => g[3] <= sym && sym <= g[4]).reduce((a, g) => a + Number(g[2]), 0);
      expect(read).toBeLessThanOrEqual(Number(n) + 2 * 2048);
    }
  });

  it('hdb: the tickbus schema and time range travel in the Parquet key-value metadata', async () => {
    const r = await rows(`SELECT decode(value) FROM parquet_kv_metadata('${hdbDir}/date=${D}/trade/part-000.parquet') WHERE decode(key) = 'tickbus_schema'`);
    const meta = JSON.parse(r[0]![0] as string) as { columns: { name: string; type: string }[]; timeRange: [string, string]; rows: number };
    expect(meta.columns.map((c) => c.type)).toEqual(tradeSchema.columns.map((c) => c.type));
    expect(BigInt(meta.timeRange[0]) <= BigInt(meta.timeRange[1])).toBe(true);
    expect(meta.rows).toBe(20_000);
  });

  it('hdb: a list of batches writes the same partition as the MemTable', async () => {
    const other = join(dir, 'from-batches');
    await writePartition(other, D, 'trade', day.tradeBatches, { schema: tradeSchema, rowGroupRows: 2048 });
    const a = await Hdb.open(hdbDir);
    const b = await Hdb.open(other);
    try {
      const q = { table: 'trade', start: `${D}T00:00:00Z`, end: `${D}T23:59:59Z` };
      expect(diffResults(await a.query(q), await b.query(q))).toBeUndefined();
    } finally {
      a.close();
      b.close();
    }
  });

  it('hdb: a sort config (sort.csv) can order a table by time alone', async () => {
    const other = join(dir, 'by-time');
    const sort = parseSortCsv('tabname,att,column,sort\ndefault,p,sym,1\ndefault,,time,1\ntrade,s,time,1\n');
    await writePartition(other, D, 'trade', day.trade, { sort, writeThreads: 1 });
    const bad = await rows(
      `SELECT count(*) FROM (SELECT time, lag(time) OVER (ORDER BY file_row_number) AS pt FROM read_parquet('${other}/date=${D}/trade/part-000.parquet', file_row_number = true)) WHERE pt > time`,
    );
    expect(Number(bad[0]![0])).toBe(0);
  });

  it('hdb: an empty day writes an empty partition that reads as zero rows', async () => {
    const other = join(dir, 'empty');
    const empty = makeDay(D, 0, 1);
    const rep = await writePartition(other, D, 'trade', empty.trade);
    expect(rep.rows).toBe(0);
    const h = await Hdb.open(other);
    try {
      expect(h.info().tables).toEqual({ trade: { partitions: 1, rows: 0 } });
      const r = await h.query({ table: 'trade', start: `${D}T00:00:00Z`, end: `${D}T23:59:59Z`, aggregations: { count: [] } });
      expect(Array.from(r.cols.count as BigInt64Array)).toEqual([0n]);
    } finally {
      h.close();
    }
  });
});

describe('hdb: atomic partitions', () => {
  it("hdb: DuckDB's ** glob reads dot-directories, which is why staging lives beside the HDB", async () => {
    const h = join(dir, 'dotdir');
    await mkdir(join(h, '.tmp-x', 'trade'), { recursive: true });
    await con.run(`COPY (SELECT 1 AS a) TO '${h}/.tmp-x/trade/x.parquet' (FORMAT parquet)`);
    expect(await count(`${h}/**/*.parquet`)).toBe(1);
  });

  it('hdb: a crashed write leaves nothing a reader takes for data, and the next open cleans it up', async () => {
    const h = join(dir, 'crashed');
    const day = makeDay('2024-03-04', 3000, 5);
    await writePartition(h, '2024-03-04', 'trade', day.trade);
    // What a writer killed mid-COPY leaves: an intent, a half-written file, owned by a dead pid.
    const staging = stagingDirFor(h);
    const work = join(staging, '2024-03-05-trade-dead0001');
    await mkdir(join(work, 'new', 'trade'), { recursive: true });
    const dead = await deadPid();
    await writeFile(join(work, 'intent.json'), JSON.stringify({ pid: dead, date: '2024-03-05', table: 'trade', target: join(h, 'date=2024-03-05', 'trade') }));
    const half = join(work, 'new', 'trade', 'part-000.parquet');
    await copyFile(join(h, 'date=2024-03-04', 'trade', 'part-000.parquet'), half);
    await truncate(half, Math.floor((await stat(half)).size / 2));
    expect(await count(`${h}/**/*.parquet`)).toBe(3000);
    const hdb = await Hdb.open(h);
    try {
      expect(hdb.partitions()).toEqual(['2024-03-04']);
      expect(hdb.problems()).toEqual([]);
      expect(await readdir(staging)).toEqual([]);
    } finally {
      hdb.close();
    }
  });

  it('hdb: a crash between moving the old table aside and moving the new one in restores the old one', async () => {
    const h = join(dir, 'aside');
    const day = makeDay('2024-03-04', 2000, 6);
    await writePartition(h, '2024-03-04', 'trade', day.trade);
    const target = join(h, 'date=2024-03-04', 'trade');
    const work = join(stagingDirFor(h), '2024-03-04-trade-dead0002');
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'intent.json'), JSON.stringify({ pid: await deadPid(), date: '2024-03-04', table: 'trade', target }));
    await rename(target, join(work, 'old'));
    expect(existsSync(target)).toBe(false);
    const r = await recoverStaging(h);
    expect(r.restored).toEqual([target]);
    expect(await count(`${h}/**/*.parquet`)).toBe(2000);
  });

  it('hdb: writing a table for an existing date replaces it whole', async () => {
    const h = join(dir, 'replace');
    await writePartition(h, '2024-03-04', 'trade', makeDay('2024-03-04', 4000, 7).trade);
    const second = makeDay('2024-03-04', 1500, 8);
    const rep = await writePartition(h, '2024-03-04', 'trade', second.trade);
    expect(rep.replaced).toBe(true);
    expect(await count(`${h}/**/*.parquet`)).toBe(1500);
    expect(await readdir(stagingDirFor(h))).toEqual([]);
    const hdb = await Hdb.open(h);
    try {
      const q = { table: 'trade', start: '2024-03-04T00:00:00Z', end: '2024-03-04T23:59:59Z' };
      expect(diffResults(runQuery(new Map([['trade', second.trade]]), q), await hdb.query(q))).toBeUndefined();
    } finally {
      hdb.close();
    }
  });

  it('hdb: a writer SIGKILLed mid-write leaves only whole partitions, and staging is cleaned on open', async () => {
    const h = join(dir, 'killed');
    // .mts: the temp dir has no package.json saying ESM, and the script uses top-level await.
    const script = join(dir, 'writer_child.mts');
    const rowsPerDay = 400_000;
    await writeFile(
      script,
      [
        `import { writePartition } from ${JSON.stringify(pathToFileURL(join(repo, 'storage/hdb/writer.ts')).href)};`,
        `import { makeDay } from ${JSON.stringify(pathToFileURL(join(repo, 'test/unit/storage_fixtures.ts')).href)};`,
        `for (let d = 1; d <= 28; d++) {`,
        `  const date = '2024-02-' + String(d).padStart(2, '0');`,
        `  await writePartition(${JSON.stringify(h)}, date, 'trade', makeDay(date, ${rowsPerDay}, d, undefined, 5000).trade, { writeThreads: 1 });`,
        `}`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    const staging = stagingDirFor(h);
    // Kill as soon as a Parquet file is being written in staging (bounded wait).
    const deadline = Date.now() + 60_000;
    let sawFile = false;
    while (Date.now() < deadline && !sawFile && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 5));
      for (const id of existsSync(staging) ? await readdir(staging) : []) {
        const d = join(staging, id, 'new', 'trade');
        if (existsSync(d) && (await readdir(d).catch(() => [])).length > 0) sawFile = true;
      }
    }
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toBe('');
    expect(sawFile).toBe(true);
    expect((await readdir(staging)).length).toBeGreaterThan(0);
    const hdb = await Hdb.open(h);
    try {
      for (const [date, p] of Object.entries(await partitionRows(h))) expect({ date, rows: p }).toEqual({ date, rows: rowsPerDay });
      expect(await readdir(staging)).toEqual([]);
      expect(hdb.problems()).toEqual([]);
    } finally {
      hdb.close();
    }
  }, 120_000);
});

describe('hdb: corrupt partitions and reload', () => {
  it('hdb: a truncated file is reported and its partition left out while the other days stay queryable', async () => {
    const h = join(dir, 'corrupt');
    const dates = ['2024-03-04', '2024-03-05', '2024-03-06'];
    for (const [i, d] of dates.entries()) {
      const day = makeDay(d, 1000 * (i + 1), 30 + i);
      await writePartition(h, d, 'trade', day.trade);
      await writePartition(h, d, 'quote', day.quote);
    }
    const bad = join(h, 'date=2024-03-05', 'trade', 'part-000.parquet');
    await truncate(bad, Math.floor((await stat(bad)).size / 3));
    const hdb = await Hdb.open(h);
    try {
      expect(hdb.problems()).toEqual([expect.objectContaining({ date: '2024-03-05', table: 'trade', file: bad })]);
      expect(hdb.partitions()).toEqual(dates);
      const r = await hdb.query({ table: 'trade', start: '2024-03-04T00:00:00Z', end: '2024-03-06T23:59:59Z', grouping: ['sym'], aggregations: { count: [] } });
      expect(Array.from(r.cols.count as BigInt64Array).reduce((a, b) => a + b, 0n)).toBe(1000n + 3000n);
      const s = await hdb.sql('SELECT count(*) FROM trade');
      expect((s.cols[s.columns[0]!] as BigInt64Array)[0]).toBe(4000n);
      expect((hdb.info().tables as Record<string, unknown>).quote).toEqual({ partitions: 3, rows: expect.any(Number) });
      // Rewriting the day repairs it; reload takes the good file.
      await writePartition(h, '2024-03-05', 'trade', makeDay('2024-03-05', 2000, 31).trade);
      await hdb.reload();
      expect(hdb.problems()).toEqual([]);
      const again = await hdb.query({ table: 'trade', start: '2024-03-04T00:00:00Z', end: '2024-03-06T23:59:59Z', aggregations: { count: [] } });
      expect((again.cols.count as BigInt64Array)[0]).toBe(6000n);
    } finally {
      hdb.close();
    }
  });

  it('hdb: reload picks up a partition written after open; queries read only the dates in range', async () => {
    const h = join(dir, 'reload');
    await writePartition(h, '2024-03-04', 'trade', makeDay('2024-03-04', 500, 40).trade);
    const hdb = await Hdb.open(h);
    try {
      const all = { table: 'trade', start: '2024-03-01T00:00:00Z', end: '2024-03-31T00:00:00Z', aggregations: { count: [] } };
      expect((await hdb.query(all)).cols.count).toEqual(BigInt64Array.of(500n));
      await writePartition(h, '2024-03-05', 'trade', makeDay('2024-03-05', 700, 41).trade);
      expect(hdb.partitions()).toEqual(['2024-03-04']);
      const r = await hdb.reload();
      expect(r.partitions).toBe(2);
      expect(hdb.partitions()).toEqual(['2024-03-04', '2024-03-05']);
      expect((await hdb.query(all)).cols.count).toEqual(BigInt64Array.of(1200n));
      const plan = hdb.plan({ ...all, start: '2024-03-05T00:00:00Z' });
      const files = hdb.filesFor('trade', plan.startNs, plan.endNs).files;
      expect(files.every((f) => f.includes('date=2024-03-05'))).toBe(true);
    } finally {
      hdb.close();
    }
  });
});

describe('hdb: trading days that are not UTC dates', () => {
  it('hdb: rows of a day rolled at 17:00 New York are found by time, whatever the partition date', async () => {
    const h = join(dir, 'fx');
    // The 2024-03-05 trading day starts at 17:00 New York on the 4th: its first hours are UTC 4th.
    const day = makeDay('2024-03-04', 800, 50);
    await writePartition(h, '2024-03-05', 'trade', day.trade);
    const hdb = await Hdb.open(h);
    try {
      const q = { table: 'trade', start: '2024-03-04T00:00:00Z', end: '2024-03-04T23:59:59Z', aggregations: { count: [] } };
      expect((await hdb.query(q)).cols.count).toEqual(BigInt64Array.of(800n));
      expect(diffResults(runQuery(new Map([['trade', day.trade]]), q), await hdb.query(q))).toBeUndefined();
    } finally {
      hdb.close();
    }
  });
});

/** A pid that is certainly not running: a child that has already exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

async function partitionRows(h: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (!existsSync(h) || (await readdir(h)).length === 0) return out;
  const r = (await rows(`SELECT date::VARCHAR, count(*)::INTEGER FROM read_parquet('${h}/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY 1`)) as [string, number][];
  for (const [d, n] of r) out[d] = n;
  // Every date dir must hold data (no empty or half-made directory).
  for (const e of await readdir(h)) expect(Object.keys(out)).toContain(e.replace('date=', ''));
  return out;
}

