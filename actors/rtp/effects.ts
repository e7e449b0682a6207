// The real-time processor (PyKX's RTP): the RDB's log loop, columnar tables and query serving
// (actors/rdb/effects.ts, through its RdbIngest hook), with a user processor between the log and
// the tables: pre(table, batch) -> batch | null before a batch is kept, post(table, original
// batch, state) after it, on every batch of the replay and of the live log. Derived updates are
// grouped across input batches by rules of the input log alone (groups.ts) and each group is
// published to a tickerplant with an id from its input sequences (published.ts, sender.ts): a
// restart's replay forms the same groups and publishes nothing that is already in the log.
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { resolveLog, type BatchEvent } from '../../bus/subscriber.ts';
import type { UsageLog } from '../../bus/usage.ts';
import { toColumn, type Batch, type Column } from '../../storage/batch.ts';
import { runAsof, runQuery } from '../../storage/query/memory.ts';
import { ASOF_TYPE } from '../../storage/query/request.ts';
import { defineSchema, type TableSchema } from '../../storage/schema.ts';
import type { ApiTable, RunningProcess } from '../common/runtime.ts';
import { startRdb, type RdbIngest } from '../rdb/effects.ts';
import { loadProcessor, type DerivedCols, type RtpBatchContext, type RtpContext, type RtpProcessor } from './processor.ts';
import { DerivedGroups } from './groups.ts';
import { LoggedIds } from './published.ts';
import { DerivedSender, inputAfter, type SendCounts } from './sender.ts';
import { rtpSettings, type RtpSettings } from './settings.ts';

/** Processor errors logged one by one; past it, every 1000th (all are counted in status). */
const ERRORS_LOGGED = 10;
/** Idle flushes put off (each by groupMs) while the log had more to deliver after the last input. */
const IDLE_DEFER_MAX = 3;
/** Bound on the wait between idle checks that found more log (doubling from groupMs while the last input stays the same). */
const IDLE_BACKOFF_MAX_MS = 1_000;

export interface RtpCounts extends SendCounts {
  /** Batches dropped by the pre-processor (null). */
  dropped: number;
  /** Derived updates not sent: already in today's log (found by the start-up scan). */
  derivedSkipped: number;
  /** pre/post/init/endOfDay threw, or pre returned a batch that is not of the table's schema. */
  processorErrors: number;
}

export async function startRtp(
  nc: NatsConnection,
  raw: Partial<RtpSettings> & Pick<RtpSettings, 'name' | 'tp' | 'tables'>,
  logger: Logger,
  opts: { apis?: ApiTable; usage?: UsageLog; onAttributesChanged?: () => void } = {},
): Promise<RunningProcess> {
  const s = rtpSettings(raw);
  const schema = defineSchema(s.tables);
  const loaded = s.vanilla ? undefined : await loadProcessor(s.processor!);
  const p: RtpProcessor | undefined = loaded?.processor;
  const publishTp = s.publishTp ?? s.tp;
  const counts: RtpCounts = { dropped: 0, derivedAcked: 0, groupsAcked: 0, derivedSkipped: 0, publishErrors: 0, processorErrors: 0 };
  const logged = new LoggedIds();
  const groups = new DerivedGroups({ rowsMax: s.groupRowsMax, bytesMax: s.groupBytesMax, inputsMax: s.groupInputsMax, ms: s.groupMs });
  const sender = p && new DerivedSender(nc, s.name, publishTp, { inflightMax: s.publishInflightMax, timeoutMs: s.publishTimeoutMs }, counts, logger);
  const inputTables = s.subscribeTables ?? Object.keys(s.tables);
  let stopped = false;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** The idle flush's deadline (performance.now()) and the open group's first input's log time (ns). */
  let idleAt = Infinity;
  let groupFirstNs = 0;
  /** The last input batch the processor saw (its log sequence), and the log messages still to come then. */
  let lastInput = 0;
  let lastPending = 0;
  /** Idle flushes put off for lastInput because more of the log was to come (bounded: IDLE_DEFER_MAX). */
  let deferred = 0;
  /** Idle checks that found more log for the same last input (the wait doubles). */
  let misses = 0;
  /** The tickerplant whose log is read: `tp`, or the parent a chained tickerplant without a log routes to. */
  let logTp = s.tp;
  let state: unknown;
  // Set once startRdb returns; the processor runs only on log events, which come after.
  let tablesOf: () => ReadonlyMap<string, import('../../storage/table.ts').MemTable> = () => new Map();

  const base: RtpContext = {
    name: s.name,
    config: s.processorConfig ?? {},
    tables: () => tablesOf(),
    query: (r) => {
      const t = tablesOf() as Map<string, import('../../storage/table.ts').MemTable>;
      return r.type === ASOF_TYPE ? runAsof(t, r) : runQuery(t, r);
    },
    logger,
  };

  function processorError(where: string, e: unknown, detail: Record<string, unknown>): void {
    counts.processorErrors++;
    if (counts.processorErrors <= ERRORS_LOGGED || counts.processorErrors % 1000 === 0) {
      const err = toTickbusError(e);
      logger.error({ ...detail, code: err.code, err: err.message, errors: counts.processorErrors, module: loaded?.source }, `rtp processor ${where} failed`);
    }
  }

  function initState(): void {
    try {
      state = p?.init?.(base);
    } catch (e) {
      state = undefined;
      processorError('init', e, {});
    }
  }

  /** A pre-processor's batch, checked against the table's schema (columns converted as a feed's). */
  function checked(table: TableSchema, b: Batch): Batch {
    if (typeof b !== 'object' || b === null || !Number.isInteger(b.n) || b.n < 0 || typeof b.cols !== 'object' || b.cols === null) {
      throw new TickbusError(ErrorCode.BAD_TYPE, `pre-processor of ${table.name}: returned something that is not a batch ({table, n, cols}) nor null`, { table: table.name });
    }
    const cols: Record<string, Column> = {};
    for (const c of table.columns) {
      if (b.cols[c.name] === undefined) throw new TickbusError(ErrorCode.MISSING_COLUMN, `pre-processor of ${table.name}: the batch lacks column ${c.name}`, { table: table.name, missing: [c.name] });
      cols[c.name] = toColumn(table.name, c, b.cols[c.name], b.n);
    }
    return { table: table.name, n: b.n, cols };
  }

  /** The last batch's context: pre and post of one batch share it (and its publish count, bounded by publishesPerBatchMax). */
  let last: { e: BatchEvent; ctx: RtpBatchContext & { published: number } } | undefined;

  function batchContext(e: BatchEvent, replaying: boolean): RtpBatchContext & { published: number } {
    if (last?.e === e) return last.ctx;
    // A multi-table log message (memorybatch, multiPublish) is several batch events with one
    // sequence: their publishes share the sequence's numbering, so ids never collide.
    const firstK = last && last.e.seq === e.seq ? last.ctx.published : 0;
    const ctx = {
      ...base,
      seq: e.seq,
      day: e.day,
      replaying,
      published: firstK,
      publish(table: string, cols: DerivedCols): void {
        const k = ctx.published++;
        if (k >= s.publishesPerBatchMax) {
          throw new TickbusError(ErrorCode.BAD_CONFIG, `rtp ${s.name}: more than publishesPerBatchMax (${s.publishesPerBatchMax}) derived updates for the batch at ${e.seq}`, { setting: 'publishesPerBatchMax', seq: e.seq });
        }
        const skip = logged.size > 0 && logged.has(e.seq, k);
        if (skip) counts.derivedSkipped++;
        const wasOpen = groups.lastSeq !== 0;
        const closed = groups.add(e.seq, e.logNs, table, cols, skip);
        sender!.send(closed);
        if (!wasOpen || closed) groupFirstNs = e.logNs;
        armIdle(e.logNs, !wasOpen || !!closed);
      },
    };
    last = { e, ctx };
    return ctx;
  }

  /**
   * The live idle flush of the open group. The log stored an input before the RTP got it, and its
   * clock runs as ours, so once `groupMs - (logNs - groupFirstNs)` has passed since an input of the
   * group arrived here (groupMs after the first, sooner after a later one), the log's clock is past
   * the group's first input by more than groupMs: if the log then holds no input after the last
   * one the processor saw, any later input is logged past the bound, and the rule of groups.ts closes the group
   * before it, as this flush does now (decision 113). Otherwise it waits again.
   */
  function armIdle(logNs: number, opened: boolean, extraMs = 0): void {
    const at = performance.now() + s.groupMs + 1 + extraMs - (logNs - groupFirstNs) / 1e6;
    if (!opened && at >= idleAt) return;
    clearTimeout(idleTimer);
    idleAt = at;
    const gen = groups.generation;
    idleTimer = setTimeout(() => void idleFlush(gen), Math.max(0, at - performance.now()));
    idleTimer.unref?.();
  }

  async function idleFlush(gen: number): Promise<void> {
    idleTimer = undefined;
    idleAt = Infinity;
    const seen = lastInput;
    if (stopped || groups.generation !== gen || groups.lastSeq === 0) return;
    // More log was to come after the last input (a replay): the next input is on its way, and the
    // check (a read of the last message of each subject) would find it. Put off, a few times at most:
    // what was to come may be messages of tables this RTP does not read.
    if (lastPending > 0 && deferred < IDLE_DEFER_MAX) {
      deferred++;
      armIdle(groupFirstNs, true);
      return;
    }
    const after = await inputAfter(nc, logTp, inputTables, seen);
    if (stopped || groups.generation !== gen) return; // closed meanwhile: the next group has its own timer
    if (lastInput !== seen) armIdle(groupFirstNs, true); // another groupMs: later than needed, never sooner
    else if (after) {
      // More log, but no input came: messages this RTP gets no batch of (`syms` filtered all their
      // rows). The next kept input closes the group by the rule; until then, check less often.
      misses++;
      armIdle(groupFirstNs, true, Math.min(IDLE_BACKOFF_MAX_MS, s.groupMs * 2 ** Math.min(misses, 10)));
    } else sender!.send(groups.close());
  }

  const ingest: RdbIngest | undefined = p && {
    async begin() {
      // A start, or a replay from the day's start after the log was lost: what this RTP already
      // published today is read back from the log, and the processor's state starts again.
      groups.drop(); // the replay forms it again
      logTp = (await resolveLog(nc, { tp: s.tp, tables: s.subscribeTables, syms: s.syms })).tp;
      await sender!.settle(s.publishTimeoutMs);
      const n = await logged.scan(nc, publishTp, s.name, s.replayIdsMax, s.replayScanTimeoutMs);
      logger.info({ loggedIds: n, tp: publishTp }, 'rtp found its derived updates already in the log');
      initState();
    },
    batch(e, _day, replaying) {
      if (!replaying && logged.size > 0) logged.clear(); // live: no input of the scanned range comes again
      if (e.seq !== lastInput) deferred = misses = 0;
      lastInput = e.seq;
      lastPending = e.pending;
      sender!.send(groups.beforeInput(e.seq, e.logNs));
      if (!p.pre) return e.batch;
      const table = schema.get(e.table);
      try {
        const out = p.pre(e.table, e.batch, batchContext(e, replaying));
        if (out === null || out === undefined) {
          counts.dropped++;
          return null;
        }
        return out === e.batch || !table ? out : checked(table, out);
      } catch (err) {
        processorError('pre', err, { table: e.table, seq: e.seq });
        counts.dropped++;
        return null;
      }
    },
    after(e, _day, replaying) {
      if (p.post) {
        try {
          p.post(e.table, e.batch, state, batchContext(e, replaying));
        } catch (err) {
          processorError('post', err, { table: e.table, seq: e.seq });
        }
      }
      // A group closes only after the last part of a log message (never inside one input).
      if (e.parts === undefined || e.part === e.parts - 1) sender!.send(groups.afterInput());
      // Backpressure: the log loop waits while too many derived groups are unacked.
      if (sender!.inflight.size >= s.publishInflightMax) return Promise.race(sender!.inflight);
    },
    eod(e) {
      sender!.send(groups.close()); // a group never spans days
      try {
        p.endOfDay?.(e.day, state, base);
      } catch (err) {
        processorError('endOfDay', err, { day: e.day });
      }
      logged.clear();
      initState();
    },
  };

  // The RTP holds today only: no write-down (derived tables are saved by the RDB, from the log).
  const rdb = await startRdb(nc, { ...s, hdbDir: undefined }, logger, async () => {}, opts.apis, {}, {
    kind: 'rtp',
    ingest,
    onAttributesChanged: opts.onAttributesChanged,
    usage: opts.usage,
    status: () => ({ vanilla: s.vanilla, ...(loaded ? { processor: loaded.source, publishTp } : {}), ...counts, inflight: sender?.inflight.size ?? 0, held: groups.held, loggedIdsFound: logged.found }),
  });
  tablesOf = () => rdb.current().tables;
  return {
    ready: (t) => rdb.ready(t),
    status: () => rdb.status(),
    attributes: () => rdb.attributes(),
    ownsQuerySubjects: true,
    async stop() {
      stopped = true;
      clearTimeout(idleTimer);
      await rdb.stop();
      // The open group is not sent: where it would end is not known yet; the next start's replay forms it.
      groups.drop();
      await sender?.settle(s.publishTimeoutMs);
      sender?.close();
    },
  };
}
