// Proves compression on real Parquet partitions written by the real HDB writer and read back
// through the HDB (storage/hdb/hdb.ts) and DuckDB: zstd(3) -> zstd(9) and -> gzip with identical
// query results, the same files, row groups and schema metadata; a second run skips what is
// already at its codec; a partition younger than minage (against the injected date) is left
// alone; a rewrite corrupted before verification (test hook) fails its checksum and leaves the
// original byte for byte; a process SIGKILLed between moving the old table aside and moving the
// new one in is recovered on the next open; a dry run changes nothing; the process runs when its
// injected clock passes its runtime and tells the HDBs to reload over a real nats-server; the CLI.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { addDays } from '../../actors/common/clock.ts';
import { parseCompressionCsv } from '../../actors/compression/config.ts';
import { runCompression, type CompressionReport, type CompressionRunOptions } from '../../actors/compression/run.ts';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { stagingDirFor } from '../../storage/hdb/layout.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { clockAt, connectTo, silentLogger, startServer, until } from '../support/bus.ts';
import { startRuntime } from '../support/runtime.ts';
import { diffResults, makeDay } from '../unit/storage_fixtures.ts';

const repo = resolve(import.meta.dirname, '..', '..');
const D = '2024-03-04';
/** "Today" for every run: three days after the partitions' date (the injected date, never the wall clock's). */
const TODAY = addDays(D, 3);
const HEAD = 'table,minage,column,calgo,cblocksize,clevel\n';

let dir: string;
let db: DuckDBInstance;
let con: DuckDBConnection;
let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickbus-compress-'));
  db = await DuckDBInstance.create(':memory:', { threads: '1' });
  con = await db.connect();
  server = await startServer();
  nc = await connectTo(server);
});

afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  con?.closeSync();
  db?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

async function rows(sql: string): Promise<unknown[][]> {
  return (await con.runAndReadAll(sql)).getRowsJS() as unknown[][];
}

/** An HDB with trade and quote for D (the real writer: zstd(3), 2048-row groups, two files). */
async function makeHdb(name: string, extraDates: string[] = []): Promise<string> {
  const h = join(dir, name);
  for (const [i, date] of [D, ...extraDates].entries()) {
    const day = makeDay(date, 12_000, 70 + i);
    await writePartition(h, date, 'trade', day.trade, { rowGroupRows: 2048 });
    await writePartition(h, date, 'quote', day.quote, { rowGroupRows: 2048 });
  }
  return h;
}

function options(h: string, csv: string, over: Partial<CompressionRunOptions> = {}): CompressionRunOptions {
  return {
    hdbDir: h,
    rules: parseCompressionCsv(HEAD + csv, 'compression.csv'),
    today: TODAY,
    maxAgeDays: 30,
    partitionsPerRunMax: 100,
    sampleRows: 4096,
    threads: 2,
    memoryLimit: '512MB',
    dryRun: false,
    logger: silentLogger,
    ...over,
  };
}

/** Every query the test compares: each table whole, and a grouped aggregate. */
async function answers(h: string): Promise<QueryResult[]> {
  const hdb = await Hdb.open(h);
  try {
    const range = { start: `${D}T00:00:00Z`, end: `${D}T23:59:59Z` };
    return [
      await hdb.query({ table: 'trade', ...range }),
      await hdb.query({ table: 'quote', ...range }),
      await hdb.query({ table: 'trade', ...range, grouping: ['sym'], aggregations: { count: [], wavg: [['size', 'price']], max: ['price'], sum: ['size'] } }),
    ];
  } finally {
    hdb.close();
  }
}

function expectSame(a: QueryResult[], b: QueryResult[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((r, i) => expect(diffResults(r, b[i]!)).toBeUndefined());
}

/** Every file under a dir: path -> size, mtime and sha256 (what "changed nothing" means). */
async function fingerprint(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const s = await stat(p);
        out[p] = `${s.size}:${s.mtimeMs}:${createHash('sha256').update(await readFile(p)).digest('hex')}`;
      }
    }
  };
  await walk(root);
  return out;
}

async function fileMeta(file: string) {
  const f = `'${file}'`;
  return {
    codecs: (await rows(`SELECT DISTINCT compression FROM parquet_metadata(${f}) ORDER BY 1`)).map((r) => r[0]),
    groups: (await rows(`SELECT row_group_id, any_value(row_group_num_rows) FROM parquet_metadata(${f}) GROUP BY 1 ORDER BY 1`)).map((r) => Number(r[1])),
    kv: Object.fromEntries((await rows(`SELECT decode(key), decode(value) FROM parquet_kv_metadata(${f})`)) as [string, string][]),
  };
}

describe('compression: rewrite, verify, swap', () => {
  it('compression: zstd(3) -> zstd(9) and -> gzip keep query results, files, row groups and the schema metadata; a second run skips them', async () => {
    const h = await makeHdb('basic');
    const before = await answers(h);
    const tdir = join(h, `date=${D}`, 'trade');
    const files = (await readdir(tdir)).sort();
    expect(files.length).toBe(2);
    const metaBefore = await Promise.all(files.map((f) => fileMeta(join(tdir, f))));
    expect(metaBefore[0]!.codecs).toEqual(['ZSTD']);

    const r = await runCompression(options(h, 'trade,1,default,zstd,17,9\nquote,1,default,gzip,17,6\n'));
    expect(r.rows.map((x) => [x.table, x.current, x.planned, x.action])).toEqual([
      ['quote', 'zstd(3)', 'gzip', 'compressed'],
      ['trade', 'zstd(3)', 'zstd(9)', 'compressed'],
    ]);
    expect(r.compressed).toBe(2);
    expect(r.failed).toBe(0);
    expectSame(before, await answers(h));

    expect((await readdir(tdir)).sort()).toEqual(files);
    for (const [i, f] of files.entries()) {
      const m = await fileMeta(join(tdir, f));
      expect(m.codecs).toEqual(['ZSTD']);
      expect(m.groups).toEqual(metaBefore[i]!.groups);
      expect(m.kv.tickbus_schema).toBe(metaBefore[i]!.kv.tickbus_schema);
      expect(JSON.parse(m.kv.tickbus_compression!)).toEqual({ codec: 'zstd', level: 9 });
    }
    const trade = r.rows.find((x) => x.table === 'trade')!;
    expect(trade.plannedBytes).toBe((await Promise.all(files.map((f) => stat(join(tdir, f))))).reduce((a, s) => a + s.size, 0));
    // The level is applied (Parquet does not record it): zstd(9) is smaller than the writer's zstd(3) on this day.
    expect(trade.plannedBytes!).toBeLessThan(trade.currentBytes);
    const qdir = join(h, `date=${D}`, 'quote');
    for (const f of await readdir(qdir)) expect((await fileMeta(join(qdir, f))).codecs).toEqual(['GZIP']);
    expect(await readdir(stagingDirFor(h))).toEqual([]);

    const again = await runCompression(options(h, 'trade,1,default,zstd,17,9\nquote,1,default,gzip,17,6\n'));
    expect(again.rows.map((x) => [x.table, x.action, x.reason])).toEqual([
      ['quote', 'skip', 'already gzip'],
      ['trade', 'skip', 'already zstd(9)'],
    ]);
  }, 120_000);

  it('compression: ages count from the injected date: younger than minage or older than maxAgeDays is left alone', async () => {
    const h = await makeHdb('ages', [addDays(TODAY, -1), addDays(D, -40)]);
    const r = await runCompression(options(h, 'default,2,default,zstd,,9\n'));
    const byDate = (date: string) => r.rows.filter((x) => x.date === date).map((x) => [x.action, x.reason]);
    expect(byDate(addDays(TODAY, -1))).toEqual([
      ['skip', 'age 1 < minage 2'],
      ['skip', 'age 1 < minage 2'],
    ]);
    expect(byDate(D).map((x) => x[0])).toEqual(['compressed', 'compressed']);
    expect(byDate(addDays(D, -40))).toEqual([]);
  }, 120_000);

  it('compression: a partition whose file is unreadable is reported failed, an empty one skipped, and the others still compressed', async () => {
    const bad = addDays(D, -1);
    const h = await makeHdb('unreadable', [bad]);
    await writePartition(h, addDays(D, -2), 'trade', makeDay(addDays(D, -2), 0, 9).trade);
    const f = join(h, `date=${bad}`, 'trade', 'part-000.parquet');
    await truncate(f, Math.floor((await stat(f)).size / 3));
    const r = await runCompression(options(h, 'trade,1,default,zstd,,9\n'));
    expect(r.rows.filter((x) => x.table === 'trade').map((x) => [x.date, x.action])).toEqual([
      [addDays(D, -2), 'skip'],
      [bad, 'failed'],
      [D, 'compressed'],
    ]);
    const trade = (date: string) => r.rows.find((x) => x.date === date && x.table === 'trade')!;
    expect(trade(addDays(D, -2)).reason).toBe('empty partition');
    expect(trade(bad).reason).toMatch(/^unreadable: /);
    expect(r.failed).toBe(1);
  }, 120_000);

  it('compression: a rewrite that fails its checksum (corrupted by a test hook) leaves the original in place, byte for byte', async () => {
    const h = await makeHdb('corrupt');
    const before = await answers(h);
    const print = await fingerprint(h);
    const r = await runCompression(
      options(h, 'trade,1,default,zstd,,9\n', {
        hooks: {
          // One price changed in the staged file, everything else as written: codec, level,
          // row groups and metadata all pass, only the column checksum can catch it.
          beforeVerify: async (newDir) => {
            const f = join(newDir, 'part-000.parquet');
            const m = await fileMeta(f);
            const kv = Object.entries(m.kv)
              .map(([k, v]) => `'${k}': '${v.replaceAll("'", "''")}'`)
              .join(', ');
            await con.run(
              `COPY (SELECT * EXCLUDE (file_row_number) REPLACE (CASE WHEN file_row_number = 7 THEN price + 0.01 ELSE price END AS price) FROM read_parquet('${f}', file_row_number = true, hive_partitioning = false)) ` +
                `TO '${f}.bad' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 9, ROW_GROUP_SIZE ${Math.max(...m.groups)}, KV_METADATA {${kv}})`,
            );
            await rename(`${f}.bad`, f);
          },
        },
      }),
    );
    const trade = r.rows.find((x) => x.table === 'trade')!;
    expect(trade.action).toBe('failed');
    expect(trade.reason).toMatch(/part-000\.parquet failed verification \(checksum of column price\); the original is kept/);
    expect(r.failed).toBe(1);
    expect(await fingerprint(h)).toEqual(print);
    expect(await readdir(stagingDirFor(h))).toEqual([]);
    expectSame(before, await answers(h));
  }, 120_000);

  it('compression: a process SIGKILLed between moving the old table aside and moving the new one in is recovered on the next open', async () => {
    const h = await makeHdb('crash');
    const before = await answers(h);
    const tdir = join(h, `date=${D}`, 'trade');
    const script = join(dir, 'compress_child.mts');
    const imp = (p: string) => JSON.stringify(pathToFileURL(join(repo, p)).href);
    await writeFile(
      script,
      [
        `import { runCompression } from ${imp('actors/compression/run.ts')};`,
        `import { parseCompressionCsv } from ${imp('actors/compression/config.ts')};`,
        `import { silentLogger } from ${imp('bus/log.ts')};`,
        `await runCompression({ hdbDir: ${JSON.stringify(h)}, rules: parseCompressionCsv(${JSON.stringify(HEAD + 'trade,1,default,zstd,,9\n')}, 'c.csv'),`,
        `  today: ${JSON.stringify(TODAY)}, maxAgeDays: 30, partitionsPerRunMax: 10, sampleRows: 4096, threads: 1, memoryLimit: '256MB', dryRun: false, logger: silentLogger,`,
        `  hooks: { midSwap: () => { process.kill(process.pid, 'SIGKILL'); return new Promise(() => {}); } } });`,
        `process.exit(3);`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.once('exit', (c, s) => r([c, s])));
    expect(stderr).toBe('');
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
    // The crash window: the table dir is gone from the HDB, the old one sits in staging.
    expect(existsSync(tdir)).toBe(false);
    expect((await readdir(stagingDirFor(h))).length).toBe(1);
    // The next open recovers the original; a new run then compresses it.
    expectSame(before, await answers(h));
    expect(await readdir(stagingDirFor(h))).toEqual([]);
    expect((await fileMeta(join(tdir, 'part-000.parquet'))).codecs).toEqual(['ZSTD']);
    const r = await runCompression(options(h, 'trade,1,default,zstd,,9\n'));
    expect(r.rows.find((x) => x.table === 'trade')!.action).toBe('compressed');
    expectSame(before, await answers(h));
  }, 120_000);

  it('compression: a dry run plans and estimates sizes and changes nothing', async () => {
    const h = await makeHdb('dry');
    const print = await fingerprint(h);
    const staging = stagingDirFor(h);
    const stagingBefore = existsSync(staging) ? await readdir(staging) : undefined;
    const r = await runCompression(options(h, 'trade,1,default,zstd,,9\nquote,1,default,uncompressed,,\n', { dryRun: true }));
    expect(r.rows.map((x) => [x.table, x.current, x.planned, x.action])).toEqual([
      ['quote', 'zstd(3)', 'uncompressed', 'compress'],
      ['trade', 'zstd(3)', 'zstd(9)', 'compress'],
    ]);
    const quote = r.rows.find((x) => x.table === 'quote')!;
    // Uncompressed is larger than zstd, and the estimate says so.
    expect(quote.plannedBytes!).toBeGreaterThan(quote.currentBytes);
    expect(r.rows.every((x) => (x.plannedBytes ?? 0) > 0)).toBe(true);
    expect(r.compressed).toBe(0);
    expect(await fingerprint(h)).toEqual(print);
    expect(existsSync(staging) ? await readdir(staging) : undefined).toEqual(stagingBefore);
  }, 120_000);
});

describe('compression: the process and the CLI', () => {
  it('compression: the process runs when its injected clock passes its runtime, and tells the HDBs to reload each partition', async () => {
    const h = await makeHdb('proc');
    const before = await answers(h);
    const csv = join(dir, 'proc.csv');
    await writeFile(csv, HEAD + 'default,1,default,zstd,,7\n');
    const notices: { date: string; tables: string[] }[] = [];
    const sub = nc.subscribe('hdb.reload');
    void (async () => {
      for await (const m of sub) notices.push(decode(m.data));
    })();
    // Two seconds before 03:00 UTC on TODAY: the scheduled run happens two seconds in.
    const clock = clockAt(Date.parse(`${TODAY}T03:00:00Z`) - 2_000);
    const rt = await startRuntime(server.url, 'compression', 'cmp1', { hdbDir: h, csv, runtimes: ['03:00'], scheduleCheckMs: 1_000, threads: 1, memoryLimit: '256MB' }, { tables: {}, clock });
    try {
      const call = async (api: string, args: unknown[]) => decode<any>((await nc.request('q.compression.cmp1', encode({ type: 'tickbus.v1.call', api, args }), { timeout: 30_000 })).data);
      await until(async () => (await call('lastReport', [])) !== null, 60_000, 200);
      const last = (await call('lastReport', [])) as CompressionReport;
      expect(last.today).toBe(TODAY);
      expect(last.compressed).toBe(2);
      await until(() => notices.length >= 2, 20_000);
      expect(notices.map((n) => [n.date, n.tables]).sort()).toEqual([
        [D, ['quote']],
        [D, ['trade']],
      ]);
      expectSame(before, await answers(h));
      const plan = (await call('plan', [])) as CompressionReport;
      expect(plan.rows.map((x) => x.reason)).toEqual(['already zstd(7)', 'already zstd(7)']);
    } finally {
      sub.unsubscribe();
      await rt.stop();
    }
  }, 120_000);

  it('cli: actors compress --dry-run prints the plan and changes nothing; without it the partitions are rewritten', async () => {
    const h = await makeHdb('cli');
    const csv = join(dir, 'cli.csv');
    await writeFile(csv, HEAD + 'trade,1,default,zstd,,9\n');
    const print = await fingerprint(h);
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(repo, 'ops', 'actors.mjs'), 'compress', '--hdb', h, '--config', csv, '--today', TODAY, ...args], {
        encoding: 'utf8',
        env: { ...process.env, LOG_LEVEL: 'warn', NATS_URL: server.url },
        timeout: 120_000,
      });
    const dry = cli('--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${D}\\s+trade\\s+3\\s+12000\\s+zstd\\(3\\)\\s+\\S+ KiB\\s+zstd\\(9\\)\\s+\\S+ KiB\\s+compress`));
    expect(dry.stdout).toMatch(new RegExp(`${D}\\s+quote\\s+3\\s+\\d+\\s+zstd\\(3\\)\\s+\\S+ KiB\\s+skip\\s+no rule for this table`));
    expect(dry.stdout).toMatch(/dry run, nothing changed: would compress 1 partition\(s\)/);
    expect(await fingerprint(h)).toEqual(print);
    const json = cli('--dry-run', '--json');
    expect((JSON.parse(json.stdout) as CompressionReport).rows.filter((x) => x.action === 'compress').map((x) => x.table)).toEqual(['trade']);
    const real = cli('--json');
    expect(real.status).toBe(0);
    expect((JSON.parse(real.stdout) as CompressionReport).compressed).toBe(1);
    expect(real.stderr).toMatch(/told the HDBs to reload 1 partition/);
    expect((await fileMeta(join(h, `date=${D}`, 'trade', 'part-000.parquet'))).kv.tickbus_compression).toBe('{"codec":"zstd","level":9}');
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, HEAD + 'trade,one,default,zstd,,9\ntrade2,1,default,zip,,\n');
    const refused = cli('--config', bad, '--dry-run');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^actors: BAD_CONFIG: .*bad\.csv: 2 bad row\(s\): line 2: minage: .*; line 3: calgo: "zip" is not a codec/);
  }, 180_000);
});

