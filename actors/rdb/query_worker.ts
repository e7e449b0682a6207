// An RDB query-pool worker thread (actors/rdb/query_pool.ts): runs getdata on the RDB's own
// columnar chunks, which live in SharedArrayBuffers and are read here without a copy. Each job
// brings what this worker has not seen yet: new symbols (the dictionary only grows), new chunks
// of the table (rows below `n` never change), and which tables to keep (a finished day is dropped,
// so its memory can be freed). The engine is the RDB's (storage/query/memory.ts), unchanged.
// First thing, the thread lowers its own priority by queryPoolNice (actors/rdb/thread_nice.ts)
// and tells the pool its task id and nice value (or why it could not).
import { parentPort, workerData } from 'node:worker_threads';
import { toTickbusError } from '../../bus/errors.ts';
import { runQuery } from '../../storage/query/memory.ts';
import { defineSchema } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import type { PoolHello, PoolJob, PoolReply } from './query_pool.ts';
import { lowerThreadPriority } from './thread_nice.ts';

const data = workerData as { tables: Parameters<typeof defineSchema>[0]; nice: number };
parentPort!.postMessage({ hello: lowerThreadPriority(data.nice) } satisfies PoolHello);
const schema = defineSchema(data.tables);
const syms = new SymbolTable();
const held = new Map<number, MemTable>();

parentPort!.on('message', (job: PoolJob) => {
  for (const s of job.newSyms) syms.intern(s);
  for (const id of [...held.keys()]) if (!job.keep.includes(id)) held.delete(id);
  let t = held.get(job.tableId);
  if (!t) {
    t = new MemTable(schema.get(job.table)!, syms);
    held.set(job.tableId, t);
  }
  for (const [name, chunks] of Object.entries(job.chunks)) t.columns.get(name)!.chunks.push(...(chunks as never[]));
  t.n = job.n;
  // The result is copied back (not transferred: its arrays may be the engine's cached ones).
  let reply: PoolReply;
  try {
    reply = { id: job.id, result: runQuery(new Map([[job.table, t]]), job.request) };
  } catch (e) {
    reply = { id: job.id, error: toTickbusError(e).toEnvelope() };
  }
  parentPort!.postMessage(reply);
});
