// A worker thread that runs a TypeScript file. Worker threads do not inherit the tsx loader of the
// thread that starts them, so the worker's first act is to load the file through tsx's tsImport
// (the same way the RDB's query pool starts its workers: actors/rdb/query_worker.mjs).
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function tsWorker(file: string | URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const url = String(file instanceof URL ? file : new URL(file, `file://${process.cwd()}/`));
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(url)}, ${JSON.stringify(url)}));`;
  return new Worker(boot, { ...options, eval: true });
}
