// PyKX's multithreading page from TypeScript: no threading mode to switch on. Four worker threads
// publish at once, each on its own connection, while the main thread queries the RDB and the
// gateway concurrently on one connection; then every row is there exactly once.
//
//   node --import tsx examples/threads.ts [dataDir]      (default: a fresh temp dir)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { ErrorCode, Publisher, System, TickbusError, tsWorker } from 'tickbus';

const WORKERS = 4;
const BATCHES = 20;
const ROWS = 250;

if (!isMainThread) {
  // A worker: its own connection and publisher; rows carry a unique id (worker * 1e6 + i).
  const { url, tp, worker } = workerData as { url: string; tp: string; worker: number };
  const nc = await connect({ servers: url });
  const pub = new Publisher(nc, { tp });
  const acks = [];
  for (let b = 0; b < BATCHES; b++) {
    const id = Array.from({ length: ROWS }, (_, i) => worker * 1_000_000 + b * ROWS + i);
    acks.push(pub.publish('trade', { cols: { sym: id.map((i) => `S${i % 5}`), price: id.map((i) => 100 + (i % 7)), id } }));
  }
  await Promise.all(acks);
  pub.close();
  await nc.close();
  parentPort!.postMessage(BATCHES * ROWS);
} else {
  const dataDir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'tickbus-example-'));
  const system = System.basic({ tables: { trade: { time: 'timestamp', sym: 'symbol', price: 'float', id: 'long' } }, dataDir, processLogs: false });
  await system.start();
  try {
    const run = (worker: number) =>
      new Promise<number>((resolve, reject) => {
        // The worker runs this file (tsWorker: through tsx, which worker threads do not inherit).
        const w = tsWorker(new URL(import.meta.url), { workerData: { url: system.natsUrl, tp: system.tickerplant.name, worker } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const count = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', aggregations: [{ op: 'count' }] };
    const ids = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', columns: ['id'] };
    type Result = { n: number; columns: string[]; cols: Record<string, ArrayLike<unknown>> };
    // Queries while the workers publish: the RDB and the gateway at once, on one connection.
    let querying = true;
    let queries = 0;
    const asking = (async () => {
      while (querying) {
        try {
          await Promise.all([system.rdb.call('apis'), system.query(count), system.query(count, 'rdb')]);
          queries += 3;
        } catch (e) {
          // Before the first row the RDB holds no day yet: the gateway says so.
          if (!(e instanceof TickbusError && e.code === ErrorCode.NO_MATCHING_PROCESS)) throw e;
          await new Promise((res) => setTimeout(res, 10));
        }
      }
    })();
    let published = 0;
    try {
      published = (await Promise.all(Array.from({ length: WORKERS }, (_, w) => run(w)))).reduce((a, b) => a + b, 0);
    } finally {
      querying = false;
      await asking;
    }
    console.log(`published from ${WORKERS} threads: ${published} rows; ${queries > 0 ? 'queried meanwhile' : 'no query ran'}`);
    // The RDB takes the rows moments after their acks: ask until it holds them all (bounded).
    const none: Result = { n: 0, columns: [], cols: {} };
    let r = await system.query<Result>(ids).catch(() => none);
    for (let tries = 0; r.n < published && tries < 300; tries++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await system.query<Result>(ids).catch(() => none);
    }
    const seen = new Set(Array.from(r.cols.id ?? [], (v) => String(v)));
    console.log(`rdb holds ${r.n} rows, ${seen.size} distinct ids: ${r.n === published && seen.size === published ? 'none lost, none twice' : 'MISMATCH'}`);
  } finally {
    await system.stop();
  }
  console.log('stopped');
}
