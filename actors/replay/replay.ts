// Log replay into the HDB (TorQ's tickerlogreplay): reads the JetStream log, a day or a sequence
// range, into per-(day, table) columnar tables and writes them as HDB partitions exactly as the
// RDB's end of day does. Memory is bounded by chunkRows: past it, what is held is written as
// sorted chunk files and the day's chunks are merged (sorted, out of core) at the end. Messages
// that cannot be read or do not fit the schema are skipped and reported, never fatal.
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeliverPolicy, jetstream, type JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { ensureStream, isNotFound, logStreamConfig, manager } from '../../bus/streams.ts';
import { Header, assertName, parseTickSubject, streams, subjects } from '../../bus/subjects.ts';
import { multiBodies } from '../../bus/log_batch.ts';
import { isSymColumn, type Batch, type Column } from '../../storage/batch.ts';
import { activeWrites, stagingDirFor, INTENT_FILE } from '../../storage/hdb/layout.ts';
import { mergePartition } from '../../storage/hdb/merge.ts';
import type { SortConfig } from '../../storage/hdb/sort_config.ts';
import { writePartition, type WriteReport } from '../../storage/hdb/writer.ts';
import { defineSchema, type Schema, type TableSchema, type TablesConfig } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { announceReload, type SaveHook } from '../rdb/write_down.ts';

export interface DayRange {
  day: string;
  fromSeq: number;
  toSeq: number;
  /** Rows per table according to the end-of-day marker (absent for the day still open). */
  counts?: Record<string, number>;
  /** False when the log no longer holds the day's first messages (retention). */
  complete: boolean;
}

export interface ReplayOptions {
  tp: string;
  hdbDir: string;
  tables: TablesConfig;
  /** A trading day (its range comes from the end-of-day markers) ... */
  date?: string;
  /** ... or a sequence range (inclusive); rows go to the partition of their batch's day. */
  fromSeq?: number;
  toSeq?: number;
  /** Replay only these tables. */
  only?: string[];
  /** Bound on rows held in memory (all tables); beyond it chunks go to disk. */
  chunkRows?: number;
  sort?: SortConfig;
  /** Per-table hooks: before a table is saved (may return a replacement) and after. */
  beforeSave?: Record<string, SaveHook>;
  afterSave?: (report: WriteReport) => void | Promise<void>;
  onProgress?: (p: { seq: number; fromSeq: number; toSeq: number; rows: number; skipped: number }) => void;
  /**
   * Check only (`actors replay --check`, KX's log check / TorQ's `.tplog.check`): read and
   * validate every message of the range, count rows per day and table against the end-of-day
   * markers, and write nothing (no memory held for rows either).
   */
  check?: boolean;
  /**
   * Repair (KX's logRecoveryFunct, TorQ's `.tplog.repair`): copy the range's valid messages (batches
   * that decode and fit the schema, readable end-of-day/period markers, in order) into the log of a
   * new tickerplant name `repairTo` (stream TICK_<repairTo>, subjects tick.<repairTo>.…), so every
   * reader (replay, subscribers, `--check`) can read the repaired day as it reads any log. Writes
   * no HDB partition. The target stream must not exist.
   */
  repairTo?: string;
  /** Tell HDB processes to reload after each day is written. */
  nc?: NatsConnection;
  logger?: Logger;
}

export interface Skipped {
  seq: number;
  subject: string;
  reason: string;
}

export interface ReplayReport {
  fromSeq: number;
  toSeq: number;
  rows: Record<string, Record<string, number>>;
  written: WriteReport[];
  skipped: Skipped[];
  /** The number of unreadable or foreign messages (skipped holds the first SKIPPED_KEPT_MAX). */
  skippedCount: number;
  /** Check mode: readable rows per day and table against the day's end-of-day marker (none for an open day). */
  check?: Array<{ day: string; table: string; rows: number; marker: number | null; match: boolean }>;
  /** Repair mode: the stream written and the messages copied into it. */
  repair?: { tp: string; stream: string; copied: number };
  ms: number;
}

export const defaultChunkRows = 20_000_000;
/** Skipped messages kept in the report (the count is exact; the list is bounded). */
const SKIPPED_KEPT_MAX = 1_000;

/** The days the log holds, from its end-of-day markers (the open day last, without counts). */
export async function listDays(nc: NatsConnection, tp: string): Promise<DayRange[]> {
  const jsm = await manager(nc);
  const info = await jsm.streams.info(streams.log(tp));
  const first = info.state.first_seq;
  const last = info.state.last_seq;
  const out: DayRange[] = [];
  if (last === 0) return out;
  const c = await jetstream(nc).consumers.get(streams.log(tp), { filter_subjects: subjects.eod(tp), deliver_policy: DeliverPolicy.All });
  let prev = 0;
  // One marker a day: a bounded fetch holds them all (retention keeps a few days).
  const it = await c.fetch({ max_messages: 10_000, expires: 2_000 });
  for await (const m of it) {
    const e = decode<{ day: string; counts: Record<string, number> }>(m.data);
    out.push({ day: e.day, fromSeq: prev + 1, toSeq: m.seq - 1, counts: e.counts, complete: prev + 1 >= first });
    prev = m.seq;
    if (m.info.pending === 0) break;
  }
  if (prev < last) out.push({ day: '', fromSeq: prev + 1, toSeq: last, complete: prev + 1 >= first });
  return out;
}

class Holder {
  readonly tables = new Map<string, { day: string; t: MemTable; rows: number }>();
  held = 0;
  constructor(
    private readonly schema: Schema,
    private readonly syms: SymbolTable,
  ) {}

  append(day: string, b: Batch): void {
    const key = `${day}/${b.table}`;
    let e = this.tables.get(key);
    if (!e) this.tables.set(key, (e = { day, t: new MemTable(this.schema.get(b.table)!, this.syms), rows: 0 }));
    e.t.append(b);
    e.rows += b.n;
    this.held += b.n;
  }
}

/** Checks a decoded batch against the table schema (a corrupt or foreign message is skipped). */
function checkBatch(schema: TableSchema, b: { n?: unknown; cols?: Record<string, Column> }): string | undefined {
  if (typeof b.n !== 'number' || !b.cols) return 'not a batch';
  for (const c of schema.columns) {
    const v = b.cols[c.name];
    if (v === undefined) return `missing column ${c.name}`;
    const len = isSymColumn(v) ? v.codes.length : (v as ArrayLike<unknown>).length;
    if (len !== b.n) return `column ${c.name} has ${len} rows, batch says ${b.n}`;
    if (c.type === 'symbol' && !isSymColumn(v)) return `column ${c.name} is not a symbol column`;
  }
  return undefined;
}

export async function replay(nc: NatsConnection, o: ReplayOptions): Promise<ReplayReport> {
  const t0 = performance.now();
  const schema = defineSchema(o.tables);
  const chunkRows = o.chunkRows ?? defaultChunkRows;
  let fromSeq = o.fromSeq;
  let toSeq = o.toSeq;
  let expected: Record<string, number> | undefined;
  if (o.date) {
    const d = (await listDays(nc, o.tp)).find((x) => x.day === o.date);
    if (!d) throw new TickbusError(ErrorCode.BAD_QUERY, `date: the log has no end-of-day marker for ${o.date}`, { param: 'date', date: o.date });
    if (!d.complete) throw new TickbusError(ErrorCode.BAD_QUERY, `date: the log no longer holds the start of ${o.date} (retention)`, { param: 'date' });
    fromSeq = d.fromSeq;
    // A repaired day carries its end-of-day marker (the message after the day's last batch).
    toSeq = o.repairTo === undefined ? d.toSeq : d.toSeq + 1;
    expected = d.counts;
  }
  if (fromSeq === undefined || toSeq === undefined) throw new TickbusError(ErrorCode.BAD_QUERY, 'replay needs a date or fromSeq and toSeq', { param: 'date' });
  if (fromSeq > toSeq) throw new TickbusError(ErrorCode.BAD_QUERY, `fromSeq ${fromSeq} is after toSeq ${toSeq}`, { param: 'fromSeq' });
  const only = o.only ? new Set(o.only) : undefined;
  for (const t of only ?? []) if (!schema.has(t)) throw new TickbusError(ErrorCode.BAD_QUERY, `tables: unknown table ${t}`, { param: 'tables', table: t });

  const repair = o.repairTo === undefined ? undefined : await openRepairTarget(nc, o.tp, o.repairTo);
  const syms = new SymbolTable();
  let holder = new Holder(schema, syms);
  const work = join(stagingDirFor(o.hdbDir), `replay-${randomUUID().slice(0, 8)}`);
  const chunks = new Map<string, { day: string; table: string; files: string[]; rows: number }>();
  const rows: Record<string, Record<string, number>> = {};
  const skipped: Skipped[] = [];
  let skippedCount = 0;
  const written: WriteReport[] = [];
  let chunkNo = 0;

  const spill = async () => {
    if (chunkNo === 0) {
      await mkdir(work, { recursive: true });
      activeWrites.add(work);
      await writeFile(join(work, INTENT_FILE), JSON.stringify({ pid: process.pid, date: '', table: '', target: '', startedAt: new Date().toISOString() }));
    }
    const dir = join(work, `chunk-${chunkNo++}`);
    for (const [key, e] of holder.tables) {
      const r = await writePartition(dir, e.day, e.t.schema.name, e.t, o.sort ? { sort: o.sort } : {});
      let c = chunks.get(key);
      if (!c) chunks.set(key, (c = { day: e.day, table: e.t.schema.name, files: [], rows: 0 }));
      c.files.push(...r.files);
      c.rows += r.rows;
    }
    holder = new Holder(schema, syms);
  };

  try {
    const c = await jetstream(nc).consumers.get(streams.log(o.tp), {
      filter_subjects: subjects.tickAll(o.tp),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
    });
    // Bounded in bytes (the server drops a connection that falls 64 MB behind).
    const it = await c.consume({ max_bytes: 16 * 1024 * 1024, expires: 4_000 });
    let lastReport = 0;
    for await (const m of it) {
      if (m.seq > toSeq) break;
      const s = parseTickSubject(m.subject);
      // One table's batch, or each table's batch of a multi-table message (decoded once).
      let bodies: Array<[string, unknown]> = [];
      let unreadable: string | undefined;
      if (s?.kind === 'table') bodies = [[s.table, m.data]];
      else if (s?.kind === 'multi') {
        try {
          bodies = multiBodies(decode(m.data)).map((b) => [b.table, b]);
        } catch (e) {
          unreadable = (e as Error).message;
        }
      }
      if (unreadable) {
        skippedCount++;
        if (skipped.length < SKIPPED_KEPT_MAX) skipped.push({ seq: m.seq, subject: m.subject, reason: unreadable });
      }
      let bad = false;
      for (const [table, raw] of bodies) {
        if (only && !only.has(table)) continue;
        const t = schema.get(table);
        let reason: string | undefined;
        let b: { table: string; day: string; n: number; cols: Record<string, Column> } | undefined;
        if (!t) reason = `table ${table} is not in the schema`;
        else {
          try {
            b = raw instanceof Uint8Array ? decode(raw) : (raw as typeof b);
            reason = checkBatch(t, b!) ?? (typeof b!.day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(b!.day) ? undefined : 'no day');
          } catch (e) {
            reason = (e as Error).message;
          }
        }
        if (reason) {
          bad = true;
          skippedCount++;
          if (skipped.length < SKIPPED_KEPT_MAX) skipped.push({ seq: m.seq, subject: m.subject, reason });
        } else {
          (rows[b!.day] ??= {})[table] = (rows[b!.day]![table] ?? 0) + b!.n;
          if (!repair && !o.check) {
            holder.append(b!.day, { table, n: b!.n, cols: b!.cols });
            if (holder.held >= chunkRows) await spill();
          }
        }
      }
      // Repair copies a message once, whole, when every batch in it is readable (a multi-table
      // message is all or nothing, as it was appended).
      if (repair && bodies.length && !bad && !unreadable) await repair.copy(m);
      else if (repair && s && s.kind !== 'table' && s.kind !== 'multi') {
        // Markers and other control messages: copied when readable (a marker must decode).
        const reason = s.kind === 'eod' || s.kind === 'eop' ? markerProblem(s.kind, m.data) : undefined;
        if (reason) {
          skippedCount++;
          if (skipped.length < SKIPPED_KEPT_MAX) skipped.push({ seq: m.seq, subject: m.subject, reason });
        } else await repair.copy(m);
      }
      if (o.onProgress && (m.seq === toSeq || performance.now() - lastReport > 200)) {
        lastReport = performance.now();
        o.onProgress({ seq: m.seq, fromSeq, toSeq, rows: Object.values(rows).reduce((a, d) => a + Object.values(d).reduce((x, y) => x + y, 0), 0), skipped: skippedCount });
      }
      if (m.seq >= toSeq || m.info.pending === 0) break;
    }
    await it.close();
    if (repair) return { fromSeq, toSeq, rows, written, skipped, skippedCount, repair: repair.report(), ms: performance.now() - t0 };
    if (o.check) {
      const markers = new Map((await listDays(nc, o.tp)).filter((d) => d.counts).map((d) => [d.day, d.counts!]));
      const check: NonNullable<ReplayReport['check']> = [];
      for (const day of Object.keys(rows).sort()) {
        const counts = markers.get(day);
        const tables = new Set([...Object.keys(rows[day]!), ...Object.keys(counts ?? {}).filter((t) => (counts![t] ?? 0) > 0 && (!only || only.has(t)))]);
        for (const table of [...tables].sort()) {
          const n = rows[day]![table] ?? 0;
          const marker = counts ? (counts[table] ?? 0) : null;
          check.push({ day, table, rows: n, marker, match: marker === null || marker === n });
        }
      }
      return { fromSeq, toSeq, rows, written, skipped, skippedCount, check, ms: performance.now() - t0 };
    }

    // Write: a day-table held whole goes straight to the HDB (as the RDB writes it); one that
    // spilled is finished as a chunk and merged.
    const days = new Set([...holder.tables.values()].map((e) => e.day).concat([...chunks.values()].map((c) => c.day)));
    for (const day of [...days].sort()) {
      for (const table of schema.keys()) {
        const key = `${day}/${table}`;
        const held = holder.tables.get(key);
        const spilled = chunks.get(key);
        if (!held && !spilled) continue;
        let report: WriteReport;
        if (!spilled) {
          const t = (await o.beforeSave?.[table]?.(held!.t, day)) ?? held!.t;
          report = await writePartition(o.hdbDir, day, table, t, o.sort ? { sort: o.sort } : {});
        } else {
          if (held) {
            const dir = join(work, `chunk-${chunkNo++}`);
            const r = await writePartition(dir, day, table, held.t, o.sort ? { sort: o.sort } : {});
            spilled.files.push(...r.files);
            spilled.rows += r.rows;
          }
          report = await mergePartition(o.hdbDir, day, schema.get(table)!, spilled.files, spilled.rows, o.sort ? { sort: o.sort } : {});
        }
        const skippedHere = skipped.some((x) => x.subject.endsWith(`.${table}`));
        if (expected && o.date === day && expected[table] !== undefined && !skippedHere && report.rows !== expected[table]) {
          o.logger?.warn({ day, table, rows: report.rows, marker: expected[table] }, 'replayed rows differ from the end-of-day marker');
        }
        written.push(report);
        await o.afterSave?.(report);
      }
      if (o.nc) announceReload(o.nc, { date: day, tables: Object.keys(rows[day] ?? {}), rows: rows[day] ?? {} });
    }
  } finally {
    activeWrites.delete(work);
    await rm(work, { recursive: true, force: true });
  }
  return { fromSeq, toSeq, rows, written, skipped, skippedCount, ms: performance.now() - t0 };
}


/** Why an end-of-day or end-of-period marker cannot be read (undefined: readable). */
function markerProblem(kind: 'eod' | 'eop', data: Uint8Array): string | undefined {
  let e: Record<string, unknown>;
  try {
    e = decode(data);
  } catch (err) {
    return `unreadable ${kind} marker: ${(err as Error).message}`;
  }
  const need = kind === 'eod' ? ['day', 'nextDay'] : ['day', 'period', 'nextPeriod'];
  const missing = need.filter((k) => typeof e?.[k] !== 'string');
  return missing.length ? `${kind} marker without ${missing.join(', ')}` : undefined;
}

/** Headers a copy must not carry: the original writer's dedupe id and ordering expectations. */
const NOT_COPIED = new Set(['nats-msg-id', 'nats-expected-last-sequence', 'nats-expected-last-subject-sequence', 'nats-expected-stream', 'nats-expected-last-msg-id']);

/** The repair target: a new log stream, with the source's limits; copies keep order (one at a time, each acked). */
async function openRepairTarget(nc: NatsConnection, tp: string, to: string) {
  assertName('repair target', to);
  if (to === tp) throw new TickbusError(ErrorCode.BAD_QUERY, `repairTo: ${to} is the log being repaired; name a new one`, { param: 'repairTo' });
  const jsm = await manager(nc);
  const target = streams.log(to);
  try {
    await jsm.streams.info(target);
    throw new TickbusError(ErrorCode.BAD_QUERY, `repairTo: stream ${target} exists; repair into a new name (or delete it first)`, { param: 'repairTo', stream: target });
  } catch (e) {
    if (e instanceof TickbusError) throw e;
    if (!isNotFound(e)) throw e;
  }
  const src = (await jsm.streams.info(streams.log(tp))).config;
  await ensureStream(
    jsm,
    logStreamConfig(to, {
      retentionMs: Math.round(src.max_age / 1e6) || 7 * 86_400_000,
      duplicateWindowMs: Math.max(1_000, Math.round((src.duplicate_window ?? 120e9) / 1e6)),
      maxMsgBytes: src.max_msg_size,
      replicas: src.num_replicas,
    }),
  );
  const js = jetstream(nc);
  const fromPrefix = `tick.${tp}.`;
  const toPrefix = `tick.${to}.`;
  let copied = 0;
  return {
    async copy(m: JsMsg): Promise<void> {
      const h = natsHeaders();
      if (m.headers) for (const [k, vs] of m.headers) if (!NOT_COPIED.has(k.toLowerCase())) for (const v of vs) h.append(k, v);
      h.set(Header.repairedFrom, `${tp}:${m.seq}`);
      await js.publish(toPrefix + m.subject.slice(fromPrefix.length), m.data, { headers: h, timeout: 10_000 });
      copied++;
    },
    report: () => ({ tp: to, stream: target, copied }),
  };
}
