// PyKX's BASIC from TypeScript: a tickerplant, RDB, HDB and gateway, each a child OS process on an
// embedded nats-server, from one call. Publishes a few trades, queries them through the gateway,
// calls a named API given at construction (it runs in the RDB's own process, with a library in
// scope), restarts the RDB (the API survives and the RDB replays its day from the log), stops.
//
//   node --import tsx examples/basic.ts [dataDir]      (default: a fresh temp dir)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System } from 'tickbus';

const dataDir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'tickbus-example-'));
const tables = { trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } };

const system = System.basic({
  tables,
  dataDir,
  processLogs: false, // the processes' own log lines go nowhere (true: here; a path: that file)
  libraries: { os: 'node:os' }, // imported in each process, in scope of its APIs as `os`
  apis: {
    rdb: {
      // Shipped to the RDB's process as source: self-contained apart from the libraries.
      whoami: () => ({ pid: process.pid, host: os.hostname() }),
      scale: (x: number, by: number) => x * by,
    },
  },
});
// `os` above is a library of the RDB's process; TypeScript sees it here:
declare const os: typeof import('node:os');

await system.start();
try {
  const pub = await system.publisher();
  await pub.publish('trade', { rows: [['AAPL', 189.5, 100], ['MSFT', 411.25, 250], ['AAPL', 190.0, 300]] });
  pub.close();

  // A day range that holds today whatever the date: the gateway asks the RDB (and the HDB for
  // any past day in it) and merges.
  const getdata = { type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }] };
  const byBus = async () => {
    const r = await system.query<{ n: number; columns: string[]; cols: Record<string, ArrayLike<unknown>> }>(getdata);
    // One row per sym: sym=count/sum of size.
    const row = (i: number) => r.columns.map((c) => String(r.cols[c]![i])).join('/').replace('/', '=');
    return Array.from({ length: r.n }, (_, i) => row(i)).sort().join(' ');
  };
  // A publish resolves once the rows are durable in the log; the RDB takes them, and the gateway
  // learns the RDB's day, moments later: ask until the answer holds them (bounded).
  const settled = async () => {
    for (let i = 0; ; i++) {
      const got = await byBus().catch((e: unknown) => (i < 300 ? '' : Promise.reject(e)));
      if (got.includes('MSFT') || i >= 300) return got;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  console.log(`trades by sym: ${await settled()}`);

  const who = await system.rdb.call<{ pid: number; host: string }>('whoami');
  console.log(`rdb1 runs in its own process: ${who.pid !== process.pid}`);
  console.log(`scale(21, 2) = ${await system.rdb.call('scale', 21, 2)}`);

  await system.rdb.restart();
  console.log(`after restart: scale(5, 3) = ${await system.rdb.call('scale', 5, 3)}; trades by sym: ${await settled()}`);
} finally {
  await system.stop();
}
console.log('stopped');
