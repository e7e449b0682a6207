// The WDB's write worker: a write-down's sort and Parquet encoding run on one worker thread, so the
// WDB's event loop keeps taking the log while a table is written (decision 116). The buffer is a
// MemTable whose chunks are SharedArrayBuffers: the worker is handed the chunks, not a copy, and
// the WDB starts a new buffer for the table (it never touches a handed-over one again, except to
// put it back after a write-down failed for good, once the worker has let it go). One write-down at
// a time (the WDB's write chain), each bounded by writeTimeoutMs (then the worker is terminated and
// replaced, and the write-down fails: TIMEOUT, retried as any failure). Sources that are not a
// shared MemTable (batches) are encoded on this thread.
import { Worker } from 'node:worker_threads';
import { ErrorCode, TickbusError, type ErrorEnvelope } from '../../bus/errors.ts';
import type { SortConfig } from '../../storage/hdb/sort_config.ts';
import type { SortedFilesReport } from '../../storage/hdb/writer.ts';
import { encodeHere, type SortedFilesEncoder } from '../../storage/intraday/writer.ts';
import type { TablesConfig } from '../../storage/schema.ts';
import { CHUNK_ROWS, MemTable } from '../../storage/table.ts';

/** One table's write-down as the worker gets it (structured clone; shared chunks are not copied). */
export interface WriteJob {
  id: number;
  table: string;
  n: number;
  /** Each column's chunks holding rows [0, n). */
  chunks: Record<string, unknown[]>;
  /** The buffer's symbol list, in code order. */
  syms: string[];
  dir: string;
  filePerRun: boolean;
  sort?: SortConfig;
  what: string;
}

export type WriteReply = { id: number; report: SortedFilesReport } | { id: number; error: ErrorEnvelope };

interface Pending {
  id: number;
  table: string;
  resolve: (r: SortedFilesReport) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class WritePool {
  private worker: Worker | undefined;
  private job: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private closed = false;
  readonly stats = { offThread: 0, onThread: 0, timeouts: 0, workerLosses: 0 };

  constructor(
    private readonly tables: TablesConfig,
    private readonly timeoutMs: number,
  ) {}

  /** The encoder the WDB hands writeDown: shared MemTables go to the worker, anything else is encoded here. */
  readonly encode: SortedFilesEncoder = (source, dir, o, what) => {
    if (this.closed) return Promise.reject(new TickbusError(ErrorCode.NOT_READY, 'wdb is stopping: its write worker is closed', {}));
    if (!(source instanceof MemTable) || !source.syms.sharedChunks) {
      this.stats.onThread++;
      return encodeHere(source, dir, o, what);
    }
    const t = source;
    const chunks: Record<string, unknown[]> = {};
    const needed = Math.ceil(t.n / CHUNK_ROWS);
    for (const [name, col] of t.columns) chunks[name] = col.chunks.slice(0, needed);
    const job: Omit<WriteJob, 'id'> = { table: t.schema.name, n: t.n, chunks, syms: t.syms.names, dir, filePerRun: o.filePerRun, ...(o.sort ? { sort: o.sort } : {}), what };
    const p = this.chain.then(() => this.run(job));
    this.chain = p.catch(() => {});
    return p;
  };

  private run(body: Omit<WriteJob, 'id'>): Promise<SortedFilesReport> {
    if (this.closed) return Promise.reject(new TickbusError(ErrorCode.NOT_READY, 'wdb is stopping: its write worker is closed', {}));
    const w = this.spawned();
    const id = this.nextId++;
    this.stats.offThread++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.timeout(), this.timeoutMs);
      this.job = { id, table: body.table, resolve, reject, timer };
      w.postMessage({ id, ...body } satisfies WriteJob);
    });
  }

  private spawned(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./write_worker.mjs', import.meta.url), { workerData: { tables: this.tables } });
    w.unref();
    w.on('message', (r: WriteReply) => this.settle(r));
    w.on('error', (e) => this.lose(w, new TickbusError(ErrorCode.INTERNAL, `wdb write worker failed: ${e.message}`, {}, { cause: e })));
    w.on('exit', (code) => this.lose(w, new TickbusError(ErrorCode.INTERNAL, `wdb write worker exited with ${code}`, { code })));
    this.worker = w;
    return w;
  }

  private settle(r: WriteReply): void {
    const job = this.job;
    if (!job || job.id !== r.id) return;
    clearTimeout(job.timer);
    this.job = undefined;
    if ('error' in r) job.reject(TickbusError.fromEnvelope(r.error));
    else job.resolve(r.report);
  }

  private timeout(): void {
    const job = this.job;
    if (!job) return;
    this.stats.timeouts++;
    const w = this.worker;
    this.worker = undefined;
    this.job = undefined;
    void w?.terminate();
    job.reject(new TickbusError(ErrorCode.TIMEOUT, `wdb write-down of ${job.table} ran past writeTimeoutMs (${this.timeoutMs} ms); its worker was stopped`, { table: job.table, writeTimeoutMs: this.timeoutMs }));
  }

  /** The worker failed or exited unasked: the write-down in flight fails, the next one starts a new worker. */
  private lose(w: Worker, e: TickbusError): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    if (!this.closed) this.stats.workerLosses++;
    const job = this.job;
    this.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      job.reject(e);
    }
  }

  /** Ends the worker; a write-down still in flight (the WDB waited for it as long as its stop allows) fails with NOT_READY. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    const job = this.job;
    this.worker = undefined;
    this.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      job.reject(new TickbusError(ErrorCode.NOT_READY, `wdb is stopping: the write-down of ${job.table} was abandoned (the next start reads its rows from the log)`, { table: job.table }));
    }
    await w?.terminate();
  }
}
