// gateway_3tier_query_ms (issue 10): a getdata over the HDB's past days, the IDB's written part of
// today and the RDB's recent window, split and merged as the gateway does (splitByTime over the
// processes' advertised attributes: HDB days, IDB `upToSeq: S`, RDB `afterSeq: S`), against the
// same query on one HDB holding the same rows. The parts run on the real readers: the HDB and the
// IDB are each an Hdb (the IDB's over the intraday manifest, cut at S, as actors/idb does), the
// RDB is the memory engine over a MemTable whose window overlaps what is written (the row floor
// from its sequence index). In-process: the bus hop is gateway_overhead_p50_ms's business.
// Sizes scale with BENCH_SCALE (1: 5 past days of 2M rows, today 2M written in 20 parts + 200k
// in the RDB). Runnable alone: `npx tsx test/bench/tiers.ts`.
import { link, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { splitByTime, type DataAccessContext } from '../../actors/gateway/data_access.ts';
import { coverage, cutFilter, readView } from '../../actors/idb/coverage.ts';
import { fromRowFor, SeqIndex } from '../../actors/rdb/window.ts';
import type { Batch } from '../../storage/batch.ts';
import { Hdb } from '../../storage/hdb/hdb.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { emptyManifest } from '../../storage/intraday/manifest.ts';
import { planFor, runPlan } from '../../storage/query/memory.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { defineSchema, defineTable } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { writePart } from '../support/intraday.ts';
import type { Metric } from './metric.ts';
import { backendView as view } from '../support/backend_view.ts';

/** Bench settings: scaled by BENCH_SCALE. */
const settings = {
  /** Past days in the HDB and rows in each. */
  pastDays: 5,
  dayRows: 2_000_000,
  /** Today: rows written (in `parts` write-downs) and rows only in the RDB. */
  writtenRows: 2_000_000,
  parts: 20,
  unwrittenRows: 200_000,
  /** Rows per log batch. */
  batchRows: 10_000,
  syms: 50,
  /** Timed runs after one warm-up; the median is reported. */
  queryRuns: 7,
};

const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };
const schema = defineTable('trade', tables.trade);
const DAY_NS = 86_400_000_000_000n;
const TODAY = '2024-03-11';

function scale(): number {
  const s = Number(process.env.BENCH_SCALE ?? '1');
  return Number.isFinite(s) && s > 0 ? s : 1;
}

function dayNs(date: string): bigint {
  return BigInt(Date.parse(`${date}T00:00:00Z`)) * 1_000_000n;
}

function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** `rows` trades of `date` from row `from` of the day (times 9:00 on, 1 ms apart), in batches. */
function batches(date: string, from: number, rows: number): Batch[] {
  const dict = Array.from({ length: settings.syms }, (_, i) => `S${String(i).padStart(3, '0')}`);
  const out: Batch[] = [];
  for (let off = 0; off < rows; off += settings.batchRows) {
    const n = Math.min(settings.batchRows, rows - off);
    const time = new BigInt64Array(n);
    const codes = new Uint32Array(n);
    const price = new Float64Array(n);
    const size = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const r = from + off + i;
      time[i] = dayNs(date) + 9n * 3_600_000_000_000n + BigInt(r) * 1_000_000n;
      codes[i] = (r * 7) % settings.syms;
      price[i] = 50 + codes[i]! + (r % 1000) / 100;
      size[i] = BigInt(100 * (1 + (r % 20)));
    }
    out.push({ table: 'trade', n, cols: { time, sym: { dict, codes }, price, size } });
  }
  return out;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function timeRuns(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < settings.queryRuns; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Hard-links every file of `src` into `dst` (the same past days in both HDBs without a copy). */
async function linkTree(src: string, dst: string): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const e of await readdir(src, { withFileTypes: true })) {
    if (e.isDirectory()) await linkTree(join(src, e.name), join(dst, e.name));
    else await link(join(src, e.name), join(dst, e.name));
  }
}


export async function benchTiers(): Promise<Metric[]> {
  const k = scale();
  const n = (x: number) => Math.max(settings.batchRows, Math.round((x * k) / settings.batchRows) * settings.batchRows);
  const dayRows = n(settings.dayRows);
  const writtenRows = n(settings.writtenRows);
  const unwrittenRows = n(settings.unwrittenRows);
  const dir = await mkdtemp(join(tmpdir(), 'tickbus-bench-tiers-'));
  const refDir = join(dir, 'ref');
  const hdbDir = join(dir, 'hdb');
  const wdbDir = join(dir, 'wdb');
  const opened: Hdb[] = [];
  try {
    // Past days: in the reference HDB, linked into the 3-tier HDB.
    for (let d = settings.pastDays; d >= 1; d--) await writePartition(refDir, addDays(TODAY, -d), 'trade', batches(addDays(TODAY, -d), 0, dayRows), { schema });
    await linkTree(refDir, hdbDir);
    // Today: log batch i has sequence i + 1. The WDB wrote the first writtenRows in `parts` parts;
    // the RDB holds the last two parts' batches (its window overlaps what is written) and the rest.
    const today = batches(TODAY, 0, writtenRows + unwrittenRows);
    const written = writtenRows / settings.batchRows;
    const perPart = Math.max(1, Math.floor(written / settings.parts));
    const m = emptyManifest('tp', 'wdb', TODAY);
    for (let first = 0; first < written; first += perPart) {
      const last = Math.min(written, first + perPart);
      await writePart(wdbDir, m, schema, today.slice(first, last), first + 1, last);
    }
    const rdb = new MemTable(schema, new SymbolTable());
    const idx = new SeqIndex();
    const windowFrom = Math.max(0, written - 2 * perPart);
    today.slice(windowFrom).forEach((b, i) => {
      idx.add(windowFrom + i + 1, rdb.n, b, true);
      rdb.append(b);
    });
    idx.droppedSeq = windowFrom; // batches 1..windowFrom are gone from the window
    await writePartition(refDir, TODAY, 'trade', today, { schema });

    const ref = await Hdb.open(refDir, { recoverOnOpen: false });
    const hdb = await Hdb.open(hdbDir, { recoverOnOpen: false });
    const idbView = await readView(wdbDir, undefined);
    const idb = await Hdb.open(wdbDir, { recoverOnOpen: false, listing: async () => idbView.listing });
    opened.push(ref, hdb, idb);

    const backends = [
      view('hdb', 'hdb', { ...hdb.info(), tables: hdb.tables() }),
      view('idb', 'idb', { dates: [TODAY], tables: idb.tables(), days: coverage(idbView) }),
      view('rdb', 'rdb', { tables: ['trade'], dates: [TODAY], first: TODAY, last: '9999-12-31', heldFrom: { [TODAY]: { trade: windowFrom + 1 } } }),
    ];
    const ctx: DataAccessContext = { schema: defineSchema(tables), eodTime: '00:00', eodZone: 'UTC', dataTypes: ['rdb', 'hdb', 'idb'], partsPerQueryMax: 64 };
    const rdbTables = new Map([['trade', rdb]]);
    const run = async (name: string, request: Record<string, unknown>): Promise<QueryResult> => {
      const { upToSeq, afterSeq, fromDay, ...q } = request;
      if (name === 'hdb') return await hdb.query(q);
      // The RDB's own check of the route (decision 112): it holds today only.
      if (name === 'rdb' && fromDay !== undefined && fromDay !== TODAY) throw new Error(`rdb part routed from ${String(fromDay)}, it holds ${TODAY}`);
      if (name === 'idb') return await idb.query(q, cutFilter(idbView, 'trade', upToSeq));
      const plan = planFor(rdbTables, q);
      plan.fromRow = fromRowFor(idx, rdb, 'trade', afterSeq as number);
      return runPlan(rdb, plan);
    };
    const query = {
      type: 'tickbus.v1.getdata',
      table: 'trade',
      start: dayNs(addDays(TODAY, -settings.pastDays)).toString(),
      end: (dayNs(TODAY) + DAY_NS - 1n).toString(),
      grouping: ['sym'],
      aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }, { op: 'avg', column: 'price' }, { op: 'last', column: 'price' }],
    };
    const threeTier = async (): Promise<QueryResult> => {
      const o = splitByTime(query, backends, ctx);
      if (o.kind !== 'parts') throw new Error(`held: ${o.day}`);
      const names = o.parts.map((p) => p.names![0]!);
      const results = await Promise.all(o.parts.map((p, i) => run(names[i]!, p.request as Record<string, unknown>)));
      return o.merge(results, { parts: names.map((name) => ({ name, proctype: name })), query }) as QueryResult;
    };
    // The answers agree (no row twice, none missing) before anything is timed.
    const [a, b] = [await threeTier(), await ref.query(query)];
    const total = (r: QueryResult) => Array.from(r.cols.count as BigInt64Array).reduce((x, y) => x + y, 0n);
    if (total(a) !== total(b) || total(b) !== BigInt(settings.pastDays * dayRows + writtenRows + unwrittenRows)) {
      throw new Error(`3-tier count ${total(a)} differs from one HDB's ${total(b)}`);
    }
    const tiersMs = await timeRuns(threeTier);
    const refMs = await timeRuns(() => ref.query(query));
    const rows = settings.pastDays * dayRows + writtenRows + unwrittenRows;
    return [
      { metric: 'gateway_3tier_query_ms', value: tiersMs, unit: 'ms', baseline: 'one_hdb_query_ms', ratio: tiersMs / refMs, target: `ratio <= 1.5 (${rows.toLocaleString('en-US')} rows, group by sym: count sum avg last)` },
      { metric: 'one_hdb_query_ms', value: refMs, unit: 'ms', target: 'info (the same query on one HDB holding the same rows)' },
    ];
  } finally {
    for (const h of opened) h.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const m of await benchTiers()) console.log(JSON.stringify(m));
}
