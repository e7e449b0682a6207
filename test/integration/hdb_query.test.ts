// Proves the query API means the same on both engines: the same days are held in memory (the
// RDB engine over MemTables) and written as Parquet (the HDB engine through DuckDB), one query
// set runs on both, and the results must be equal (floats to 1e-9 relative: sums add in another
// order). Also: as-of joins agree, partial aggregates from per-day RDB tables merge to the HDB's
// multi-day answer, read-only SQL refuses anything but one query, and every BAD_QUERY is the same.
// Real Parquet files in a temp dir; no NATS.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { duckdbLimits } from '../../storage/hdb/duck.ts';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { mergePartials } from '../../storage/query/finalize.ts';
import { runAsof, runQuery } from '../../storage/query/memory.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import type { MemTable } from '../../storage/table.ts';
import { badAsofs, badQueries, diffResults, makeDay, type Day } from '../unit/storage_fixtures.ts';

const D1 = '2024-03-04';
const D2 = '2024-03-05';
const S = `${D2}T00:00:00Z`;
const E = `${D2}T23:59:59.999999999Z`;

let dir: string;
let hdb: Hdb;
let day1: Day;
let day2: Day;
let rdb: Map<string, MemTable>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickbus-hdb-query-'));
  day1 = makeDay(D1, 6000, 11);
  day2 = makeDay(D2, 9000, 12);
  for (const d of [day1, day2]) {
    // Small row groups and one file per thread: several row groups and files per partition.
    await writePartition(join(dir, 'hdb'), d.date, 'trade', d.trade, { rowGroupRows: 2048 });
    await writePartition(join(dir, 'hdb'), d.date, 'quote', d.quote, { rowGroupRows: 2048 });
  }
  hdb = await Hdb.open(join(dir, 'hdb'));
  rdb = new Map([
    ['trade', day2.trade],
    ['quote', day2.quote],
  ]);
});

afterAll(async () => {
  hdb?.close();
  await rm(dir, { recursive: true, force: true });
});

const q = (extra: Record<string, unknown>) => ({ table: 'trade', start: S, end: E, ...extra });

/** The shared query set: every parameter, every aggregation, every column type as key or value. */
const querySet: Record<string, Record<string, unknown>> = {
  'all columns, default order': q({ limit: 2000 }),
  'all rows of the day (no limit)': q({ columns: ['time', 'sym', 'price', 'size', 'latency'] }),
  'instruments, filters on each type, ordering, negative limit': q({
    columns: ['time', 'sym', 'price', 'size', 'venue', 'lot', 'odd', 'settle'],
    instruments: ['IBM', 'AAPL', 'A'],
    filters: [
      { column: 'price', op: 'not within', value: [100, 120] },
      { column: 'size', op: '>=', value: 500 },
      { column: 'venue', op: 'not like', value: 'B*' },
      { column: 'lot', op: 'in', value: [-4, -1, 0, 2, 3] },
      { column: 'settle', op: '=', value: '2024-03-07' },
    ],
    ordering: [{ column: 'price', dir: 'desc' }],
    limit: -40,
  }),
  'ordering by a string then a bool': q({ columns: ['venue', 'odd', 'lot', 'time'], ordering: [{ column: 'venue' }, { column: 'odd', dir: 'desc' }], limit: 300 }),
  'time-range filters and a partial day': q({
    start: `${D2}T09:31:00Z`,
    end: `${D2}T09:33:30.5Z`,
    columns: ['time', 'sym', 'latency'],
    filters: [
      { column: 'time', op: '!=', value: `${D2}T09:32:00Z` },
      { column: 'latency', op: '<', value: 2_000_000 },
      { column: 'odd', op: '=', value: false },
    ],
  }),
  'null prices: positive tests fail, negated ones pass': q({ columns: ['sym', 'price'], filters: [{ column: 'price', op: 'not in', value: [60, 61.5] }], limit: 5000 }),
  'like with sets and single characters': q({ columns: ['sym', 'venue'], filters: [{ column: 'sym', op: 'like', value: '[A-G]??*' }, { column: 'venue', op: 'like', value: 'IEX[*]' }] }),
  'numeric aggregations by sym': q({
    grouping: ['sym'],
    aggregations: {
      count: [],
      sum: ['size', 'price', 'lot'],
      avg: ['price', 'size', 'lot'],
      min: ['price', 'size', 'time', 'settle', 'latency'],
      max: ['price', 'lot', 'time'],
      wavg: [['size', 'price']],
      wsum: [['lot', 'size']],
      med: ['price', 'size'],
      dev: ['price', 'lot'],
      var: ['size'],
    },
  }),
  'first and last of every type by sym and side': q({
    grouping: ['sym', 'side'],
    aggregations: { first: ['price', 'time', 'venue', 'odd', 'settle', 'latency', 'lot'], last: ['price', 'sym', 'venue', 'size'] },
  }),
  'ungrouped with filters': q({
    filters: [{ column: 'side', op: '=', value: 'buy' }],
    aggregations: [{ op: 'count' }, { op: 'first', column: 'sym' }, { op: 'last', column: 'price' }, { op: 'avg', column: 'price', as: 'mean' }],
  }),
  'one-minute bars by sym': q({ grouping: ['sym'], timebar: { size: 1, unit: 'm' }, aggregations: { count: [], avg: ['price'], wavg: [['size', 'price']], last: ['price'] } }),
  'fifteen-second bars, spread and median': q({ timebar: { size: 15, unit: 's' }, aggregations: { dev: ['price'], var: ['price'], med: ['lot'], max: ['size'] } }),
  'seven-minute bars (not a divisor of an hour)': q({ timebar: { size: 7, unit: 'm' }, aggregations: { count: [] } }),
  'grouping by string, int, bool, date and timespan keys': q({ grouping: ['venue', 'lot', 'odd', 'settle'], aggregations: { count: [], sum: ['size'] } }),
  'grouping by a timespan and a timestamp': q({ grouping: ['latency', 'time'], aggregations: { count: [] }, filters: [{ column: 'sym', op: '=', value: 'IBM' }] }),
  'ordering on an aggregate, limit and rename': q({
    grouping: ['sym'],
    aggregations: { sum: ['size'], max: ['price'] },
    ordering: [{ column: 'sumSize', dir: 'desc' }],
    limit: 3,
    rename: { sym: 'instrument', sumSize: 'volume' },
  }),
  'negative limit on bars': q({ timebar: { size: 30, unit: 's' }, aggregations: { count: [] }, limit: -2 }),
  'an empty range, ungrouped: one row of nulls': q({ start: `${D2}T23:00:00Z`, aggregations: { count: [], max: ['price', 'time'], first: ['venue'], sum: ['size'], dev: ['lot'], med: ['price'] } }),
  'an empty range, grouped: no rows': q({ start: `${D2}T23:00:00Z`, grouping: ['sym'], aggregations: { count: [] } }),
  'an empty range, raw: no rows': q({ start: `${D2}T23:00:00Z`, columns: ['sym', 'price'] }),
  'quotes by sym': { table: 'quote', start: S, end: E, grouping: ['sym'], aggregations: { avg: ['bid', 'ask'], sum: ['bsize'], last: ['ask'] } },
};

describe('hdb and rdb: one query set, equal results', () => {
  for (const [name, request] of Object.entries(querySet)) {
    it(`hdb: ${name} equals the rdb's answer`, async () => {
      const mem = runQuery(rdb, request);
      const disk = await hdb.query(request);
      expect(diffResults(mem, disk)).toBeUndefined();
      expect(mem.type).toBe('tickbus.v1.result');
    });
  }

  it('hdb: the query set is not vacuous (most queries return rows)', () => {
    const sizes = Object.values(querySet).map((r) => runQuery(rdb, r).n);
    expect(sizes.filter((n) => n > 1).length).toBeGreaterThan(12);
  });

  it('hdb: an as-of join equals the rdb as-of join (with and without sym equality)', async () => {
    for (const request of [
      q({ columns: ['time', 'sym', 'price', 'size'], right: { table: 'quote', columns: ['bid', 'ask', 'bsize'] } }),
      q({ columns: ['sym', 'price'], instruments: ['IBM', 'MSFT'], filters: [{ column: 'size', op: '>', value: 1000 }], right: { table: 'quote', filters: [{ column: 'bsize', op: '>', value: 300 }], lookback: { size: 1, unit: 'h' } }, limit: -50, rename: { bid: 'b' } }),
      q({ columns: ['time', 'price'], on: ['time'], right: { table: 'quote', columns: ['sym', 'bid'] }, limit: 200 }),
    ]) {
      const mem = runAsof(rdb, request);
      const disk = await hdb.asof(request);
      expect(diffResults(mem, disk)).toBeUndefined();
      expect(mem.n).toBeGreaterThan(10);
    }
  });

  it('hdb: partial aggregates of each day (as two RDBs would send) merge to the HDB answer over both days', async () => {
    const request = {
      table: 'trade',
      start: `${D1}T00:00:00Z`,
      end: E,
      grouping: ['sym'],
      timebar: { size: 1, unit: 'h' },
      aggregations: { count: [], sum: ['size'], avg: ['price'], min: ['price'], max: ['time'], first: ['venue'], last: ['price'], wavg: [['size', 'price']], wsum: [['lot', 'price']], dev: ['price'], var: ['size'] },
    };
    const parts: QueryResult[] = [];
    for (const d of [day1, day2]) {
      const tables = new Map([
        ['trade', d.trade],
        ['quote', d.quote],
      ]);
      parts.push(runQuery(tables, { ...request, partial: true }));
    }
    parts.push(await hdb.query({ ...request, start: `${D2}T12:00:00Z`, partial: true }));
    const merged = mergePartials(hdb.plan(request), parts.slice(0, 2));
    const whole = await hdb.query(request);
    expect(diffResults(whole, merged)).toBeUndefined();
    expect(whole.n).toBeGreaterThan(8);
    // A part with no rows (the afternoon) merges as nothing.
    expect(diffResults(whole, mergePartials(hdb.plan(request), parts))).toBeUndefined();
  });
});

describe('hdb: read-only SQL', () => {
  it('hdb: SQL sees one view per table with the hive date column', async () => {
    const r = await hdb.sql('SELECT date, count(*) AS n FROM trade GROUP BY date ORDER BY date');
    expect(r.columns).toEqual(['date', 'n']);
    expect(r.types).toEqual(['date', 'long']);
    expect(Array.from(r.cols.n as BigInt64Array)).toEqual([6000n, 9000n]);
    const w = await hdb.sql({ sql: 'WITH x AS (SELECT sym, max(price) AS m FROM trade GROUP BY sym) SELECT count(*) FROM x' });
    expect(w.n).toBe(1);
  });

  const refused: [string, string, RegExp][] = [
    ['two statements', 'SELECT 1; SELECT 2', /exactly one statement/],
    // COPY fails at prepare already: the file system is closed to this DuckDB beyond the HDB.
    ['COPY', `COPY (SELECT 1) TO '${tmpdir()}/x.csv'`, /only queries|disabled by configuration/],
    ['DROP', 'DROP VIEW trade', /only queries/],
    ['CREATE', 'CREATE TABLE t AS SELECT 1', /only queries/],
    ['INSERT', 'INSERT INTO trade VALUES (1)', /.+/],
    ['ATTACH', "ATTACH 'x.duckdb'", /only queries/],
    ['SET', 'SET threads = 1', /only queries/],
    ['a setting PRAGMA', 'PRAGMA threads = 1', /only queries|locked/],
    ['a file outside the HDB', "SELECT * FROM read_csv('/etc/passwd')", /disabled by configuration|Permission/],
    ['a syntax error', 'SELEC 1', /syntax/i],
    ['an empty statement', '   ', /missing required parameter/],
  ];
  for (const [name, sql, reason] of refused) {
    it(`hdb: SQL refuses ${name} with BAD_QUERY naming sql`, async () => {
      const e = await hdb.sql(sql).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(TickbusError);
      expect((e as TickbusError).code).toBe(ErrorCode.BAD_QUERY);
      expect((e as TickbusError).detail.param).toBe('sql');
      expect((e as TickbusError).message).toMatch(reason);
    });
  }

  it('hdb: SQL refuses a COPY into the HDB directory itself (where file access is allowed)', async () => {
    const e = await hdb.sql(`COPY (SELECT 1 AS a) TO '${join(dir, 'hdb', 'x.parquet')}'`).catch((err: unknown) => err);
    expect((e as TickbusError).detail.param).toBe('sql');
    expect((e as TickbusError).message).toMatch(/only queries .* got COPY/);
    expect(hdb.partitions()).toEqual([D1, D2]);
  });

  it('hdb: a SQL statement past its time bound is interrupted', async () => {
    const slow = await Hdb.open(join(dir, 'hdb'), { sqlTimeoutMs: 200 });
    try {
      const t0 = Date.now();
      const e = await slow.sql('SELECT count(*) FROM range(100000000000) a').catch((err: unknown) => err);
      expect((e as TickbusError).message).toMatch(/interrupted/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      slow.close();
    }
  });
});

describe('hdb: resource bounds', () => {
  it('hdb: DuckDB runs with a bounded memory limit and thread count by default, never its own 80% of RAM', async () => {
    const r = await hdb.sql("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t");
    const limits = duckdbLimits();
    expect(Number(r.cols.t![0])).toBe(limits.threads);
    // DuckDB prints the limit in its own units (MiB/GiB): compare in bytes, within its rounding.
    const bytes = (v: string) => {
      const m = /^([\d.]+)\s*(KiB|MiB|GiB|KB|MB|GB)$/.exec(v.trim())!;
      return Number(m[1]) * { KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, KB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'MB'];
    };
    expect(Math.abs(bytes(String(r.cols.m![0])) / bytes(limits.memoryLimit) - 1)).toBeLessThan(0.06);
    expect(bytes(limits.memoryLimit)).toBeLessThanOrEqual(4096 * 1e6);
  });

  it('hdb: a statement that needs more memory than the limit fails with RESOURCE_LIMIT and the HDB keeps answering', async () => {
    const small = await Hdb.open(join(dir, 'hdb'), { memoryLimit: '64MB', threads: 1 });
    try {
      // A list aggregate cannot spill: 50M longs (400 MB) in one list.
      const e = await small.sql('SELECT length(list(range)) FROM range(50000000)').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(TickbusError);
      expect((e as TickbusError).code).toBe(ErrorCode.RESOURCE_LIMIT);
      expect((e as TickbusError).message).toMatch(/64MB/);
      const ok = await small.sql('SELECT count(*) AS n FROM trade');
      expect(Number(ok.cols.n![0])).toBe(15000);
    } finally {
      small.close();
    }
  });
});

describe('hdb: errors', () => {
  for (const c of badQueries) {
    it(`hdb: BAD_QUERY names ${c.param} when ${c.name}`, async () => {
      const e = await hdb.query(c.request).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(TickbusError);
      expect((e as TickbusError).code).toBe(ErrorCode.BAD_QUERY);
      expect((e as TickbusError).detail.param).toBe(c.param);
      expect((e as TickbusError).message).toMatch(c.reason);
    });
  }
  for (const c of badAsofs) {
    it(`hdb: as-of BAD_QUERY names ${c.param} when ${c.name}`, async () => {
      const e = await hdb.asof(c.request).catch((err: unknown) => err);
      expect((e as TickbusError).code).toBe(ErrorCode.BAD_QUERY);
      expect((e as TickbusError).detail.param).toBe(c.param);
      expect((e as TickbusError).message).toMatch(c.reason);
    });
  }
});
