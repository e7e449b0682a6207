// The RDB's query pool: heavy getdata queries (a table of at least queryPoolRowsMin rows) run on
// worker threads, so the event loop keeps taking the log while they scan. No copy of the data:
// the RDB's chunks are SharedArrayBuffers (SymbolTable.sharedChunks), each worker is sent only the
// chunks and symbols it has not seen, and reads rows [0, n) as of the moment the query was taken,
// which the RDB never rewrites (it only appends). Bounded everywhere: queryPoolSize workers
// (started once a table holds half of queryPoolRowsMin rows, or on first use), queryPoolQueueMax waiting queries (then OVERLOADED), queryPoolTimeoutMs
// per query (then the worker is terminated and replaced, and the caller gets TIMEOUT). Each worker
// thread runs queryPoolNice steps below the RDB's loop (Linux: that thread alone; thread_nice.ts),
// so on a machine short of cores ingest takes the CPU first and queries take what is left.
import { Worker } from 'node:worker_threads';
import { ErrorCode, TickbusError, type ErrorEnvelope } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { GETDATA_TYPE } from '../../storage/query/request.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import type { TablesConfig } from '../../storage/schema.ts';
import { CHUNK_ROWS, type MemTable } from '../../storage/table.ts';
import type { RdbSettings } from './settings.ts';
import { checkNiceIncrement, type ThreadNice } from './thread_nice.ts';

export type QueryPoolSettings = Pick<RdbSettings, 'queryPoolSize' | 'queryPoolRowsMin' | 'queryPoolQueueMax' | 'queryPoolTimeoutMs'> & Partial<Pick<RdbSettings, 'queryPoolNice'>>;

export interface QueryPoolStatus {
  workers: number;
  busy: number;
  queued: number;
  offloaded: number;
  refused: number;
  timeouts: number;
  failed: number;
  threads: ThreadNice[];
}

/** A worker's first message: its thread id and nice value, or why its priority is unchanged. */
export interface PoolHello {
  hello: ThreadNice;
}

/** What a worker is sent per query (structured clone; the chunks' SharedArrayBuffers are shared, not copied). */
export interface PoolJob {
  id: number;
  request: unknown;
  table: string;
  /** The RDB's table, by a number stable for its life. */
  tableId: number;
  /** Rows the query reads. */
  n: number;
  /** Chunks of each column the worker has not been sent yet, in order. */
  chunks: Record<string, unknown[]>;
  /** Symbols interned since the worker's last job, in code order. */
  newSyms: string[];
  /** The tables the RDB still holds that this worker was sent: any other it drops. */
  keep: number[];
}

export type PoolReply = { id: number; result: QueryResult } | { id: number; error: ErrorEnvelope };

interface Job {
  id: number;
  tables: ReadonlyMap<string, MemTable>;
  table: MemTable;
  name: string;
  request: unknown;
  resolve: (r: QueryResult) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  job: Job | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Chunks sent per table and column. */
  sent: Map<MemTable, Map<string, number>>;
  symsSent: number;
  /** What the thread reported of its priority (its first message). */
  thread?: ThreadNice;
}

const tableIds = new WeakMap<MemTable, number>();
let nextTableId = 1;
const tableId = (t: MemTable) => tableIds.get(t) ?? (tableIds.set(t, nextTableId), nextTableId++);

export class QueryPool {
  private readonly workers: PoolWorker[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private readonly stats = { offloaded: 0, refused: 0, timeouts: 0, failed: 0 };
  private readonly nice: number;
  private noted = false;
  private warmed = false;

  constructor(
    private readonly s: QueryPoolSettings,
    private readonly tables: TablesConfig,
    private readonly logger: Logger,
  ) {
    this.nice = checkNiceIncrement(s.queryPoolNice ?? 0);
  }

  /** True when this request goes to the pool: a getdata on a big table of shared chunks with no string column. */
  takes(tables: ReadonlyMap<string, MemTable>, request: unknown): boolean {
    if (this.closed || this.s.queryPoolSize <= 0) return false;
    const q = request as { type?: unknown; table?: unknown };
    if (q?.type !== GETDATA_TYPE || typeof q.table !== 'string') return false;
    const t = tables.get(q.table);
    if (!t || t.n < this.s.queryPoolRowsMin || !t.syms.sharedChunks) return false;
    return t.schema.columns.every((c) => c.type !== 'string');
  }

  /**
   * Starts the workers ahead of the first heavy query, once a table holds half of queryPoolRowsMin
   * rows (called per appended batch; a no-op after the first time): a worker's start (a new
   * isolate, loading and compiling the engine) then lands neither on that query nor on the ingest
   * running beside it.
   */
  warm(rows: number): void {
    if (this.warmed || this.closed || this.s.queryPoolSize <= 0 || rows < this.s.queryPoolRowsMin / 2) return;
    this.warmed = true;
    while (this.workers.length < this.s.queryPoolSize) this.spawn();
  }

  /** Runs a request takes() accepted; OVERLOADED at once when queryPoolQueueMax queries wait already. */
  run(tables: ReadonlyMap<string, MemTable>, request: unknown): Promise<QueryResult> {
    const name = (request as { table: string }).table;
    if (this.queue.length >= this.s.queryPoolQueueMax) {
      this.stats.refused++;
      return Promise.reject(
        new TickbusError(ErrorCode.OVERLOADED, `rdb query pool: ${this.queue.length} heavy queries wait already (queryPoolQueueMax ${this.s.queryPoolQueueMax}); retry later`, {
          queued: this.queue.length,
          queueMax: this.s.queryPoolQueueMax,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, tables, table: tables.get(name)!, name, request, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      let w = this.workers.find((x) => !x.job);
      if (!w && this.workers.length < this.s.queryPoolSize) w = this.spawn();
      if (!w) return;
      this.dispatch(w, this.queue.shift()!);
    }
  }

  private spawn(): PoolWorker {
    const worker = new Worker(new URL('./query_worker.mjs', import.meta.url), { workerData: { tables: this.tables, nice: this.nice } });
    worker.unref();
    const w: PoolWorker = { worker, job: undefined, timer: undefined, sent: new Map(), symsSent: 0 };
    worker.on('message', (r: PoolReply | PoolHello) => ('hello' in r ? this.hello(w, r.hello) : this.settle(w, r)));
    worker.on('error', (e) => this.lose(w, new TickbusError(ErrorCode.INTERNAL, `rdb query pool worker failed: ${e.message}`, {}, { cause: e })));
    worker.on('exit', (code) => this.lose(w, new TickbusError(ErrorCode.INTERNAL, `rdb query pool worker exited with ${code}`, { code })));
    this.workers.push(w);
    return w;
  }

  private dispatch(w: PoolWorker, job: Job): void {
    const t = job.table;
    const n = t.n;
    const keepTables = new Set(job.tables.values());
    for (const held of [...w.sent.keys()]) if (!keepTables.has(held)) w.sent.delete(held);
    const sent = w.sent.get(t) ?? new Map<string, number>();
    w.sent.set(t, sent);
    const needed = Math.ceil(n / CHUNK_ROWS);
    const chunks: Record<string, unknown[]> = {};
    for (const [name, col] of t.columns) {
      const from = sent.get(name) ?? 0;
      if (needed > from) chunks[name] = col.chunks.slice(from, needed);
      sent.set(name, Math.max(from, needed));
    }
    const names = t.syms.names;
    const msg: PoolJob = { id: job.id, request: job.request, table: job.name, tableId: tableId(t), n, chunks, newSyms: names.slice(w.symsSent), keep: [...w.sent.keys()].map(tableId) };
    w.symsSent = names.length;
    w.job = job;
    this.stats.offloaded++;
    w.timer = setTimeout(() => this.timeout(w), this.s.queryPoolTimeoutMs);
    w.worker.postMessage(msg);
  }

  private hello(w: PoolWorker, t: ThreadNice): void {
    w.thread = t;
    // Said once per pool: every worker of a pool meets the same platform.
    if (t.note && this.nice > 0 && !this.noted) {
      this.noted = true;
      this.logger.info({ queryPoolNice: this.nice, note: t.note }, 'rdb query pool: worker priority unchanged');
    }
  }

  private settle(w: PoolWorker, r: PoolReply): void {
    const job = w.job;
    if (!job || job.id !== r.id) return;
    clearTimeout(w.timer);
    w.job = undefined;
    if ('error' in r) {
      this.stats.failed++;
      job.reject(TickbusError.fromEnvelope(r.error));
    } else job.resolve(r.result);
    this.pump();
  }

  private timeout(w: PoolWorker): void {
    const job = w.job;
    if (!job) return;
    this.stats.timeouts++;
    this.drop(w);
    void w.worker.terminate();
    job.reject(new TickbusError(ErrorCode.TIMEOUT, `rdb query ran past queryPoolTimeoutMs (${this.s.queryPoolTimeoutMs} ms); stopped`, { timeoutMs: this.s.queryPoolTimeoutMs, table: job.name }));
    this.logger.warn({ table: job.name, timeoutMs: this.s.queryPoolTimeoutMs }, 'rdb pool query timed out; worker replaced');
    this.pump();
  }

  /** A worker that failed or exited unasked: its query fails, a new worker takes the next. */
  private lose(w: PoolWorker, e: TickbusError): void {
    if (!this.workers.includes(w)) return;
    this.drop(w);
    if (w.job) {
      this.stats.failed++;
      w.job.reject(e);
    }
    if (!this.closed) {
      this.logger.error({ err: e.message }, 'rdb query pool worker lost');
      this.pump();
    }
  }

  private drop(w: PoolWorker): void {
    clearTimeout(w.timer);
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
  }

  /** Counts, and each live worker's thread as it reported itself (tid and nice on Linux, or a note; {} until its first message). */
  status(): QueryPoolStatus {
    const threads = this.workers.map((w) => w.thread ?? {});
    return { workers: this.workers.length, busy: this.workers.filter((w) => w.job).length, queued: this.queue.length, ...this.stats, threads };
  }

  /** Refuses new queries, fails the waiting ones (NOT_READY), and ends the workers (a running query's caller gets NOT_READY too). */
  async close(): Promise<void> {
    this.closed = true;
    const stopping = new TickbusError(ErrorCode.NOT_READY, 'rdb is stopping', {});
    for (const j of this.queue.splice(0)) j.reject(stopping);
    const ws = this.workers.splice(0);
    for (const w of ws) {
      clearTimeout(w.timer);
      w.job?.reject(stopping);
    }
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }
}
