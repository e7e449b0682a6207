// PyKX's fine-grained control from TypeScript: the tickerplant, HDB, RDB and gateway started one
// by one (each could run on another machine, given natsUrl), an RDB whose output goes to a file,
// a timer and a named API registered after construction, a hard kill, and a clean restart.
//
//   node --import tsx examples/processes.ts [dataDir]      (default: a fresh temp dir)
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, Hdb, NatsServer, Rdb, Tickerplant, TickbusError } from 'tickbus';

const dataDir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'tickbus-example-'));
const tables = {
  trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' },
  aggregate: { time: 'timestamp', sym: 'symbol', max_price: 'float', median_size: 'float' },
};

// Any nats-server will do (a cluster: comma separated URLs); here one of our own.
const server = await NatsServer.start({ storeDir: join(dataDir, 'nats') });
const common = { tables, dataDir, natsUrl: server.url, processLogs: false };

const tp = new Tickerplant({ ...common, settings: { mode: 'immediate' } });
const hdb = new Hdb({ ...common, settings: { hdbDir: 'db' } });
const logFile = join(dataDir, 'rdb1.log');
const rdb = new Rdb({ ...common, name: 'rdb1', processLogs: logFile, settings: { tp: tp.name, hdbDir: 'db' } });
const gw = new Gateway(common);

// Registered after construction, before start: kept for every start and restart.
rdb.registerApi('ticks', () => (globalThis as { ticks?: number }).ticks ?? 0, 'timer runs so far');
// PyKX's time_api: what the API prints goes to the process's output, here rdb1.log.
rdb.registerApi('timed', async (ms: number) => {
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  console.log(`timed: waited ${ms} ms in ${Math.round(performance.now() - t0)} ms`);
  return ms;
});
rdb.setTimer(50, () => {
  const g = globalThis as { ticks?: number };
  g.ticks = (g.ticks ?? 0) + 1;
});

try {
  for (const p of [tp, hdb, rdb, gw]) await p.start();
  console.log(`started: ${[tp, hdb, rdb, gw].map((p) => `${p.name}(${p.proctype})`).join(' ')}`);

  const t0 = Date.now();
  while ((await rdb.call<number>('ticks')) < 3 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
  console.log(`timer ran in rdb1: ${(await rdb.call<number>('ticks')) >= 3}`);
  await rdb.call('timed', 20);
  console.log(`rdb1's output went to its log file: ${readFileSync(logFile, 'utf8').includes('timed: waited 20 ms')}`);

  await rdb.kill(); // hard: SIGKILL, no flush, no deregistration
  const after = await rdb.call('ticks').then(
    () => 'answered',
    (e: unknown) => (e instanceof TickbusError ? e.code : String(e)),
  );
  console.log(`after kill, rdb1 call: ${after}`);

  await rdb.start(); // the API and timer come back with it
  console.log(`after start, rdb1 apis: ${(await rdb.call<Array<{ api: string }>>('apis')).map((a) => a.api).join(',')}`);
} finally {
  for (const p of [gw, rdb, hdb, tp]) await p.stop();
  await server.stop();
}
console.log('stopped');
