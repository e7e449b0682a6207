// The WDB's write worker thread (actors/wdb/write_pool.ts): sorts and encodes one table's
// write-down as Parquet (storage/hdb/writer.ts writeSortedFiles, unchanged) off the WDB's event
// loop. The rows arrive as the chunks of the WDB's buffer, SharedArrayBuffers read here without a
// copy (the WDB never writes a buffer again once handed over), with the buffer's symbol list.
import { parentPort, workerData } from 'node:worker_threads';
import { toTickbusError } from '../../bus/errors.ts';
import { writeSortedFiles } from '../../storage/hdb/writer.ts';
import { defineSchema } from '../../storage/schema.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import type { WriteJob, WriteReply } from './write_pool.ts';

const schema = defineSchema((workerData as { tables: Parameters<typeof defineSchema>[0] }).tables);

parentPort!.on('message', (job: WriteJob) => {
  void (async () => {
    let reply: WriteReply;
    try {
      const syms = new SymbolTable(true);
      for (const s of job.syms) syms.intern(s);
      const t = new MemTable(schema.get(job.table)!, syms);
      for (const [name, chunks] of Object.entries(job.chunks)) t.columns.get(name)!.chunks.push(...(chunks as never[]));
      t.n = job.n;
      const report = await writeSortedFiles(t, job.dir, { schema: t.schema, writeThreads: 1, filePerRun: job.filePerRun, ...(job.sort ? { sort: job.sort } : {}) }, job.what);
      reply = { id: job.id, report };
    } catch (e) {
      reply = { id: job.id, error: toTickbusError(e).toEnvelope() };
    }
    parentPort!.postMessage(reply);
  })();
});
