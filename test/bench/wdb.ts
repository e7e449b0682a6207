// WDB benchmarks (issue 10 part 5):
//  - wdb_eod_100m_rows_s: the end-of-day merge of a 100M-row trade day (50 syms) from intraday
//    files (1M-row write-downs, each sorted by sym then time, as the WDB writes them) into a sorted
//    HDB partition, run alone in a child process with the WDB's default merge settings;
//  - wdb_eod_peak_rss_mib: that child's VmHWM (/proc/<pid>/status);
//  - wdb_ingest_rows_per_s: rows/s through a tickerplant into a WDB (writing down as it goes),
//    against rdb_ingest_rows_per_s, the same rows into an RDB in the same run.
// The intraday files are generated directly with DuckDB (not through the bus). Sizes scale with
// BENCH_SCALE; BENCH_WDB_ROWS overrides the day's rows (quick runs). Called by test/bench/run.ts;
// runnable alone: `npx tsx test/bench/wdb.ts`.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { sqlString } from '../../storage/hdb/duck.ts';
import { defaultSortConfig } from '../../storage/hdb/sort_config.ts';
import { SCHEMA_KV_KEY } from '../../storage/hdb/writer.ts';
import { dayDir, emptyManifest, partFileName, writeManifest } from '../../storage/intraday/manifest.ts';
import { nodeFlags } from '../../ops/node_flags.mjs';
import { spawnProc, status, stopProc, waitUp } from '../support/procs.ts';
import { pump, tradeCols } from './drive.ts';
import type { Metric } from './metric.ts';

const here = import.meta.dirname;
const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };

/** Bench settings, scaled by BENCH_SCALE. */
const settings = {
  /** Rows of the merged day (the 100M). */
  eodRows: 100_000_000,
  /** Rows per intraday file (one write-down of maxRows). */
  partRows: 1_000_000,
  /** Distinct syms. */
  syms: 50,
  /** Rows fed through the tickerplant for the ingest comparison. */
  ingestRows: 5_000_000,
  /** Rows per feed update. */
  batchRows: 1_000,
};

function scale(): number {
  const s = Number(process.env.BENCH_SCALE ?? '1');
  return Number.isFinite(s) && s > 0 ? s : 1;
}

/** Writes `rows` trade rows as intraday files of `partRows` and a flushed manifest (eodSeq set). */
async function makeIntradayDay(wdbDir: string, day: string, rows: number, partRows: number, nsyms: number): Promise<void> {
  const per = Math.max(1, Math.floor(partRows / nsyms)); // rows per sym in a file
  const fileRows = per * nsyms;
  const files = Math.max(1, Math.round(rows / fileRows));
  const total = files * fileRows;
  const t0 = BigInt(Date.parse(`${day}T09:00:00Z`)) * 1_000_000n;
  const step = (8n * 3_600_000_000_000n) / BigInt(total); // 8 hours of trading
  const kv = JSON.stringify({ table: 'trade', columns: Object.entries(tables.trade).map(([name, type]) => ({ name, type })), sort: defaultSortConfig, rows: fileRows });
  const m = emptyManifest('bench', 'benchwdb', day);
  m.startSeq = 1;
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await db.connect();
  try {
    mkdirSync(join(dayDir(wdbDir, day), 'trade'), { recursive: true });
    for (let k = 0; k < files; k++) {
      const file = partFileName('trade', k);
      // Sym-major within the file, time ascending within a sym: the order a write-down leaves.
      const s = `(i // ${per})`;
      const q =
        `SELECT make_timestamp_ns((${t0} + ((${k * per} + i % ${per}) * ${nsyms} + ${s}) * ${step})::BIGINT) AS time, ` +
        `'S' || lpad(${s}::VARCHAR, 3, '0') AS sym, 50 + ${s} + (hash(i + ${k * fileRows}) % 1000) / 100.0 AS price, ` +
        `(100 * (1 + hash(i * 7 + ${k}) % 20))::BIGINT AS size FROM range(${fileRows}) t(i)`;
      await con.run(`COPY (${q}) TO ${sqlString(join(dayDir(wdbDir, day), file))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536, KV_METADATA {${SCHEMA_KV_KEY}: ${sqlString(kv)}})`);
      m.files.push({ file, table: 'trade', rows: fileRows, firstSeq: k + 1, lastSeq: k + 1 });
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
  m.tables.trade = { lastSeq: files, rows: total, nextPart: files };
  m.eodSeq = files + 1;
  m.eodCounts = { trade: total };
  await writeManifest(wdbDir, m);
}

/** Runs the merge in a child process; its wall time and peak RSS. */
async function eodChild(wdbDir: string, hdbDir: string, day: string): Promise<{ ms: number; rows: number; outcomes: string[]; vmHwmKiB: number }> {
  const child = spawn(process.execPath, [...nodeFlags(), '--import', 'tsx', join(here, 'wdb_eod_child.ts'), wdbDir, hdbDir, day, JSON.stringify(tables)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`wdb eod child exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as { ms: number; rows: number; outcomes: string[]; vmHwmKiB: number };
}

/** Rows/s from the first update sent until the process's status `rows` reaches them all. */
async function ingestInto(nc: NatsConnection, url: string, dir: string, name: string, proctype: 'rdb' | 'wdb', rows: number): Promise<number> {
  const cfg = join(dir, `${name}.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      tables,
      defaults: {
        tickerplant: { mode: 'batch' },
        rdb: { tp: name, subscribeTables: ['trade'] },
        // The WDB's defaults, writing down as it ingests (maxRows 100k).
        wdb: { tp: name, subscribeTables: ['trade'], wdbDir: join(dir, `${name}-wdb`), hdbDir: join(dir, `${name}-hdb`) },
      },
    }),
  );
  const tp = spawnProc('tickerplant', name, cfg, url);
  await waitUp(nc, name);
  const proc = spawnProc(proctype, `${name}${proctype}`, cfg, url);
  await waitUp(nc, `${name}${proctype}`);
  try {
    const n = settings.batchRows;
    const cols = tradeCols(n, false);
    const pub = new Publisher(nc, { tp: name, inflightMax: 1024 });
    const t0 = performance.now();
    const sending = pump(rows / n, 48, () => pub.publish('trade', { cols }));
    const deadline = Date.now() + 300_000;
    while (((await status<{ rows: number }>(nc, `${name}${proctype}`))?.rows ?? 0) < rows) {
      if (Date.now() > deadline) throw new Error(`${proctype} ingest timed out`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const secs = (performance.now() - t0) / 1000;
    await sending;
    pub.close();
    return rows / secs;
  } finally {
    await stopProc(proc);
    await stopProc(tp);
  }
}

export async function benchWdb(): Promise<Metric[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tickbus-bench-wdb-'));
  const out: Metric[] = [];
  const eodRows = Number(process.env.BENCH_WDB_ROWS) || Math.round(settings.eodRows * scale());
  try {
    const day = '2026-11-23';
    const wdbDir = join(dir, 'wdb');
    const t0 = performance.now();
    await makeIntradayDay(wdbDir, day, eodRows, Math.min(settings.partRows, eodRows), settings.syms);
    process.stderr.write(`  (wdb bench: ${eodRows} rows of intraday files generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    const r = await eodChild(wdbDir, join(dir, 'hdb'), day);
    if (r.outcomes.some((o) => !o.endsWith(':merged'))) throw new Error(`wdb eod: ${r.outcomes.join(', ')}`);
    out.push({ metric: 'wdb_eod_100m_rows_s', value: (r.ms / 1000) * (100_000_000 / r.rows), unit: 's', target: r.rows === 100_000_000 ? undefined : `measured on ${r.rows} rows, scaled to 100M` });
    out.push({ metric: 'wdb_eod_peak_rss_mib', value: r.vmHwmKiB / 1024, unit: 'MiB' });
    await rm(join(dir, 'hdb'), { recursive: true, force: true });
    await rm(wdbDir, { recursive: true, force: true });

    const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
    const nc = await connect({ servers: server.url });
    try {
      const rows = Math.max(settings.batchRows, Math.round((settings.ingestRows * scale()) / settings.batchRows) * settings.batchRows);
      const rdb = await ingestInto(nc, server.url, dir, 'bwr', 'rdb', rows);
      const wdb = await ingestInto(nc, server.url, dir, 'bww', 'wdb', rows);
      out.push({ metric: 'rdb_ingest_rows_per_s', value: rdb, unit: 'rows/s', target: 'baseline (the same rows into an RDB)' });
      out.push({ metric: 'wdb_ingest_rows_per_s', value: wdb, unit: 'rows/s', baseline: 'rdb_ingest_rows_per_s', ratio: wdb / rdb });
    } finally {
      await nc.close();
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const m of await benchWdb()) process.stdout.write(`${JSON.stringify(m)}\n`);
}
