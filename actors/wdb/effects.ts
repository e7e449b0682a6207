// The WDB (TorQ's write database): follows a tickerplant's log through bus/subscriber.ts, appends
// each table's batches to a columnar buffer (a MemTable in SharedArrayBuffers, as the RDB holds a
// table), writes a table down into the intraday area when it passes maxRows (checked every
// saveIntervalMs) or on every check (immediate), the sort and Parquet encoding on a worker thread
// (write_pool.ts), and at end of day flushes, merges the day into the HDB (or, mode save, asks a
// sort process) and runs the reload sequence. A clean stop writes down what it buffers (bounded by
// stopTimeoutMs). Killed at any point and restarted, it resumes from the manifest: subscribes
// from min(tables' lastSeq) + 1, skips per table what is written, removes orphans, finishes a
// flushed day's merge. Nothing is written twice, nothing is lost.
import type { NatsConnection } from '@nats-io/nats-core';
import { createActor, fromCallback, waitFor, type Actor } from 'xstate';
import { encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { manager } from '../../bus/streams.ts';
import { streams, subjects } from '../../bus/subjects.ts';
import { subscribe, type EodEvent, type Subscription } from '../../bus/subscriber.ts';
import { intradayDays, readManifest, WRITTEN_TYPE, type IntradayManifest, type WrittenNotice } from '../../storage/intraday/manifest.ts';
import { openDay, writeDown, type WriteDownPart } from '../../storage/intraday/writer.ts';
import { defineSchema } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { alert, endOfDay, type EodReport } from './eod.ts';
import { wdbMachine, type WdbEvent } from './machine.ts';
import { wdbSettings, type WdbSettings } from './settings.ts';
import { WritePool } from './write_pool.ts';

interface Buffer {
  /** The rows since the table's last write-down; shared chunks (handed to the write worker as they are). */
  table: MemTable;
  rows: number;
  firstSeq: number;
  lastSeq: number;
}

export interface Wdb {
  actor: Actor<typeof wdbMachine>;
  ready(timeoutMs?: number): Promise<void>;
  /** A clean stop: stops reading the log, writes down what it buffers (bounded by stopTimeoutMs), ends. */
  stop(): Promise<void>;
  /** A crash's effect in-process: stops without writing what it buffers (the next start reads it from the log). */
  kill(): Promise<void>;
  status(): Record<string, unknown>;
  attributes(): Record<string, unknown>;
  /** Settles when every end of day queued so far is done (tests, bench). */
  idle(): Promise<void>;
  /** The manifest of the day being written (undefined before its first write-down). */
  manifest(): IntradayManifest | undefined;
}

/** Where to resume: the open day's manifest (if any) and the first log sequence to read. */
interface ResumePoint {
  from: 'today' | { seq: number };
  open?: IntradayManifest;
  /** Flushed days whose merge did not finish (crash mid end of day). */
  unmerged: IntradayManifest[];
}

async function resumePoint(s: WdbSettings, tables: readonly string[], logger: Logger, o: Parameters<typeof openDay>[5]): Promise<ResumePoint> {
  const days = await intradayDays(s.wdbDir);
  const unmerged: IntradayManifest[] = [];
  let latest: IntradayManifest | undefined;
  for (const day of days) {
    const m = await readManifest(s.wdbDir, day);
    if (!m) continue;
    if (m.eodSeq !== undefined && !m.merged) unmerged.push(m);
    latest = m;
  }
  if (!latest) return { from: 'today', unmerged };
  if (latest.eodSeq !== undefined) return { from: { seq: latest.eodSeq + 1 }, unmerged };
  const { manifest, orphans } = await openDay(s.wdbDir, s.tp, s.name, latest.day, latest.startSeq ?? 1, o);
  if (orphans.length) logger.warn({ day: manifest.day, orphans }, 'wdb removed files of a write-down that never reached the manifest');
  const base = (manifest.startSeq ?? 1) - 1;
  const seq = Math.min(...tables.map((t) => manifest.tables[t]?.lastSeq ?? base)) + 1;
  return { from: { seq: Math.max(1, seq) }, open: manifest, unmerged };
}

export async function startWdb(
  nc: NatsConnection,
  settings: Partial<WdbSettings> & Pick<WdbSettings, 'name' | 'tp' | 'tables'>,
  logger: Logger,
  opts: { onAttributesChanged?: () => void } = {},
): Promise<Wdb> {
  const s = wdbSettings(settings);
  const schema = defineSchema(s.tables);
  for (const t of s.subscribeTables ?? []) {
    if (!schema.has(t)) throw new TickbusError(ErrorCode.UNKNOWN_TABLE, `wdb ${s.name}: subscribeTables names ${t}, which is not in the schema`, { table: t });
  }
  const tables = s.subscribeTables ?? [...schema.keys()];
  const pool = new WritePool(s.tables, s.writeTimeoutMs);
  /** Aborted when a stop has waited for the write-downs as long as it may: one still running records nothing. */
  const abandon = new AbortController();
  const wopts = {
    signal: abandon.signal,
    writedownmode: s.writedownmode,
    partColumn: s.partColumn,
    ...(s.sort ? { sort: s.sort } : {}),
    ...(s.writeDelayMs ? { writeDelayMs: s.writeDelayMs } : {}),
    ...(s.writeOffThread ? { encode: pool.encode } : {}),
  };
  const onAttributesChanged = opts.onAttributesChanged ?? (() => {});
  const stats = { batches: 0, rows: 0, skippedWritten: 0, skipped: 0, writeDowns: 0, rowsWritten: 0, writeFailures: 0, eods: [] as EodReport[] };

  let manifest: IntradayManifest | undefined;
  let dayStart = 1;
  let buffers = new Map<string, Buffer>();
  let buffered = 0;
  let seenSeq = 0;
  let sub: Subscription | undefined;
  /** The log loop of the current follow (settles once it stopped reading). */
  let loop: Promise<void> = Promise.resolve();
  let live = false;
  let writeChain: Promise<unknown> = Promise.resolve();
  let writing = false;
  /** Stopping: a failed write-down is not retried (the next start reads its rows from the log). */
  let halted = false;
  let eodChain: Promise<unknown> = Promise.resolve();
  const merging = new Set<string>();

  const maxRowsFor = (t: string) => s.maxRowsByTable?.[t] ?? s.maxRows;

  /** Writes down the tables that are due (all: every buffered row); with `eod`, also closes the day. */
  async function flush(all: boolean, eod?: EodEvent): Promise<void> {
    if (!manifest) {
      if (!eod) return;
      manifest = (await openDay(s.wdbDir, s.tp, s.name, eod.day, dayStart, wopts)).manifest;
    }
    const m = manifest;
    const parts = new Map<string, WriteDownPart>();
    for (const [t, b] of buffers) {
      if (b.rows === 0 || !(all || s.immediate || b.rows >= maxRowsFor(t))) continue;
      parts.set(t, { schema: schema.get(t)!, source: b.table, rows: b.rows, firstSeq: b.firstSeq, lastSeq: b.lastSeq });
      buffers.delete(t);
      buffered -= b.rows;
    }
    if (parts.size === 0 && !eod) return;
    // Every table's batches up to `upTo` are written once this write-down is: those still
    // buffered start later.
    const upTo = eod ? eod.seq : seenSeq;
    const lastSeqs: Record<string, number> = {};
    for (const t of tables) lastSeqs[t] = buffers.has(t) ? buffers.get(t)!.firstSeq - 1 : upTo;
    const extra = eod ? { eodSeq: eod.seq, eodCounts: Object.fromEntries(tables.map((t) => [t, eod.counts[t] ?? 0])) } : {};
    let delay = s.retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const added = await writeDown(s.wdbDir, m, parts, lastSeqs, wopts, extra);
        stats.writeDowns++;
        stats.rowsWritten += added.reduce((a, f) => a + f.rows, 0);
        const notice: WrittenNotice = {
          type: WRITTEN_TYPE,
          wdb: s.name,
          tp: s.tp,
          day: m.day,
          tables: Object.fromEntries(Object.entries(m.tables).map(([t, st]) => [t, { lastSeq: st.lastSeq, rows: st.rows }])),
          added: added.length,
        };
        try {
          nc.publish(subjects.wdbWritten(s.name), encode(notice));
        } catch {
          // disconnected: IDBs reload on the next notice
        }
        return;
      } catch (e) {
        stats.writeFailures++;
        logger.error({ day: m.day, tables: [...parts.keys()], attempt, err: (e as Error).message }, 'wdb write-down failed');
        if (attempt >= s.writeAttempts || halted) {
          // The rows go back in front of what came since: the next check tries again.
          // (The worker is done with the handed-over buffer: it only ever read rows below its n.)
          for (const [t, p] of parts) {
            const b = buffers.get(t);
            const back = p.source as MemTable;
            if (b) back.appendTable(b.table);
            buffers.set(t, { table: back, rows: p.rows + (b?.rows ?? 0), firstSeq: p.firstSeq, lastSeq: b?.lastSeq ?? p.lastSeq });
            buffered += p.rows;
          }
          throw e;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  /** Queues a write-down behind any in flight (one at a time, in log order). */
  function queueFlush(all: boolean, eod?: EodEvent): Promise<void> {
    const p = writeChain.then(() => flush(all, eod));
    writeChain = p.catch(() => {});
    return p;
  }

  function queueEod(m: IntradayManifest): void {
    merging.add(m.day);
    onAttributesChanged();
    eodChain = eodChain
      .then(() => endOfDay(nc, s, schema, m, logger))
      .then(
        (r) => void stats.eods.push(r),
        (e: Error) => {
          logger.error({ day: m.day, err: e.message }, 'wdb end of day failed; the intraday files stay (a restart retries)');
          alert(nc, 'wdb', s.name, 'eod', `${m.day}: end of day failed: ${e.message}`);
        },
      )
      .finally(() => {
        merging.delete(m.day);
        onAttributesChanged();
      });
  }

  const timer = setInterval(() => {
    if (writing || !live || buffered === 0) return;
    writing = true;
    queueFlush(false).then(
      () => (writing = false),
      () => (writing = false),
    );
  }, s.saveIntervalMs);
  timer.unref?.();

  const follow = fromCallback<WdbEvent>(({ sendBack }) => {
    let stopped = false;
    loop = (async () => {
      // (Re)start from what the intraday area says is written: buffered rows of a failed run are
      // dropped and read again.
      await writeChain;
      buffers = new Map();
      buffered = 0;
      live = false;
      const r = await resumePoint(s, tables, logger, wopts);
      for (const m of r.unmerged) if (!merging.has(m.day)) queueEod(m);
      manifest = r.open;
      if (stopped) return;
      sub = await subscribe(nc, { name: `wdb_${s.name}`, tp: s.tp, tables: s.subscribeTables, syms: s.syms, from: r.from, bufferBytes: s.bufferBytes, stallMs: Math.max(1_000, s.logStallMs) });
      if (stopped) return void (await sub.close());
      dayStart = r.open?.startSeq ?? sub.startSeq;
      seenSeq = sub.startSeq - 1;
      logger.info({ startSeq: sub.startSeq, day: manifest?.day, unmerged: r.unmerged.map((m) => m.day) }, 'wdb following the log');
      const info = await (await manager(nc)).streams.info(streams.log(s.tp));
      if (info.state.last_seq < sub.startSeq) {
        live = true;
        sendBack({ type: 'log.caughtUp', day: manifest?.day ?? '' });
      }
      for await (const e of sub) {
        if (stopped) break;
        if (e.type === 'batch') {
          seenSeq = e.seq;
          if (!manifest) {
            manifest = (await openDay(s.wdbDir, s.tp, s.name, e.day, dayStart, wopts)).manifest;
            onAttributesChanged();
          }
          if (manifest.eodSeq !== undefined || e.seq <= (manifest.tables[e.table]?.lastSeq ?? 0)) {
            stats.skippedWritten++;
          } else {
            let b = buffers.get(e.table);
            if (!b) buffers.set(e.table, (b = { table: new MemTable(schema.get(e.table)!, new SymbolTable(true)), rows: 0, firstSeq: e.seq, lastSeq: e.seq }));
            b.table.append(e.batch);
            b.rows += e.batch.n;
            b.lastSeq = e.seq;
            buffered += e.batch.n;
            stats.batches++;
            stats.rows += e.batch.n;
            // The bound on memory: past bufferRowsMax the write-down happens now, and the log waits.
            if (buffered >= s.bufferRowsMax) await queueFlush(false).catch(() => {});
            if (buffered >= s.bufferRowsMax) await queueFlush(true);
          }
        } else if (e.type === 'eod') {
          // seenSeq moves past the marker only once the day is flushed: a stop's write-down after a
          // failed flush must not record the marker as read (the next start reads it again).
          if (!(manifest?.day === e.day && manifest.eodSeq !== undefined && manifest.eodSeq >= e.seq)) await queueFlush(true, e);
          seenSeq = e.seq;
          const done = manifest!;
          sendBack({ type: 'log.eod', day: e.day, nextDay: e.nextDay });
          if (!done.merged) queueEod(done);
          manifest = undefined;
          dayStart = e.seq + 1;
        } else if (e.type === 'skipped') {
          seenSeq = e.seq;
          stats.skipped++;
          logger.warn({ seq: e.seq, subject: e.subject, reason: e.reason }, 'wdb skipped an unreadable log message');
        } else seenSeq = e.seq;
        if (!live && e.pending === 0) {
          live = true;
          logger.info({ seq: e.seq, buffered }, 'wdb caught up with the log; live');
          sendBack({ type: 'log.caughtUp', day: manifest?.day ?? '' });
        }
      }
      if (!stopped) throw new Error('the log subscription ended');
    })().catch((err: Error) => {
      if (stopped) return;
      logger.error({ err: err.message }, 'wdb lost the log (or a write-down failed for good); resuming from the manifest');
      sendBack({ type: 'log.failed', error: err.message });
    });
    return () => {
      stopped = true;
      void sub?.close();
    };
  });

  /** A clean stop: once the log loop stopped reading, every buffered row is written down (all tables then written up to the last sequence read), within the deadline. */
  async function flushOnStop(deadline: number): Promise<void> {
    if (!(await settlesWithin(loop, deadline - Date.now()))) {
      logger.warn({ stopTimeoutMs: s.stopTimeoutMs }, 'wdb stop: the log loop did not stop within stopTimeoutMs; the buffered rows will be read from the log again');
      return;
    }
    if (!manifest || buffered === 0) return;
    const rows = buffered;
    const upTo = seenSeq;
    const flushed = queueFlush(true).then(
      () => true,
      (e: Error) => {
        logger.error({ rows, err: e.message }, 'wdb stop: the write-down of the buffered rows failed; the next start reads them from the log');
        return false;
      },
    );
    if (!(await settlesWithin(flushed, deadline - Date.now()))) logger.warn({ rows, stopTimeoutMs: s.stopTimeoutMs }, 'wdb stop: the write-down of the buffered rows ran past stopTimeoutMs; the next start reads them from the log');
    else if (await flushed) logger.info({ rows, upToSeq: upTo, day: manifest?.day }, 'wdb stop: buffered rows written down');
  }

  async function halt(clean: boolean): Promise<void> {
    clearInterval(timer);
    const deadline = Date.now() + s.stopTimeoutMs;
    actor.send({ type: 'wdb.stop' });
    if (clean) await flushOnStop(deadline);
    halted = true;
    if (!(await settlesWithin(writeChain, Math.max(0, deadline - Date.now())))) logger.warn({ stopTimeoutMs: s.stopTimeoutMs }, 'wdb stop: a write-down ran past stopTimeoutMs; abandoned (its rows stay in the log)');
    abandon.abort();
    await eodChain;
    await pool.close();
  }

  const actor = createActor(wdbMachine.provide({ actors: { follow } }));
  actor.start();

  return {
    actor,
    async ready(timeoutMs = 60_000) {
      await waitFor(actor, (x) => x.matches({ following: 'live' }) || x.status === 'done', { timeout: timeoutMs });
      if (actor.getSnapshot().status === 'done') throw new Error(`wdb stopped: ${actor.getSnapshot().context.lastError}`);
    },
    // The runtime's kill() (SIGKILL's effect in-process) closes the connection before it stops the
    // process: nothing is written then, the log has it.
    stop: () => halt(!nc.isClosed()),
    kill: () => halt(false),
    idle: async () => {
      await writeChain;
      await eodChain;
    },
    manifest: () => manifest,
    attributes() {
      return { tp: s.tp, mode: s.mode, writedownmode: s.writedownmode, tables, ...(manifest ? { day: manifest.day } : {}), ...(merging.size ? { merging: [...merging] } : {}) };
    },
    status() {
      const snap = actor.getSnapshot();
      return {
        state: snap.value,
        day: manifest?.day,
        buffered,
        written: manifest ? Object.fromEntries(Object.entries(manifest.tables).map(([t, st]) => [t, st.rows])) : {},
        lastSeq: seenSeq,
        logResumes: sub?.resumes ?? 0,
        merging: [...merging],
        ...stats,
        writer: pool.stats,
        eods: stats.eods.slice(-5),
      };
    },
  };
}

/** True when `p` settles within `ms` (its outcome is the caller's business), false past it. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const past = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms))));
  try {
    return await Promise.race([p.then(() => true, () => true), past]);
  } finally {
    clearTimeout(timer);
  }
}
