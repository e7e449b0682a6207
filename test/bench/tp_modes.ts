// Batching modes compared on the same feed (issue 9 part 2): acked ingest of small updates (10
// rows) alternating two tables, through a tickerplant in `batch` mode (one log message per table
// per pubFreqMs) and in `memorybatch` mode (one multi-table message per tick), each on its own
// nats-server with the same settings otherwise. Reports rows/s (memorybatch as a ratio to batch)
// and the log messages each mode appends per 1000 updates.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { streams } from '../../bus/subjects.ts';
import { silentLogger } from '../../bus/log.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import type { Metric } from './metric.ts';

const tables = {
  trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' },
  quote: { time: 'timestamp', sym: 'symbol', bid: 'float', ask: 'float' },
};
const ROWS = 10;
const SYMS = ['AAPL', 'MSFT', 'IBM', 'GOOG', 'AMZN'];

async function run(mode: 'batch' | 'memorybatch', updates: number): Promise<{ rowsPerSec: number; messagesPer1k: number }> {
  const dir = mkdtempSync(join(tmpdir(), `tickbus-bench-modes-${mode}-`));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc = await connect({ servers: server.url });
  const tp = await startTickerplant(nc, { name: 'modes', tables, mode, pubFreqMs: 5 }, silentLogger);
  try {
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'modes', inflightMax: 4096 });
    const codes = Uint32Array.from({ length: ROWS }, (_, i) => i % SYMS.length);
    const trade = { sym: { dict: SYMS, codes }, price: new Float64Array(ROWS).fill(100), size: new BigInt64Array(ROWS).fill(10n) };
    const quote = { sym: { dict: SYMS, codes }, bid: new Float64Array(ROWS).fill(99), ask: new Float64Array(ROWS).fill(101) };
    const send = (i: number) => (i % 2 ? pub.publish('quote', { cols: quote }) : pub.publish('trade', { cols: trade }));
    const window = 2_000;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < updates) await send(next++);
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    pub.close();
    const info = await (await manager(nc)).streams.info(streams.log('modes'));
    return { rowsPerSec: (updates * ROWS) / secs, messagesPer1k: (info.state.messages / updates) * 1000 };
  } finally {
    await tp.stop();
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchTpModes(updates = 100_000): Promise<Metric[]> {
  const batch = await run('batch', updates);
  const mem = await run('memorybatch', updates);
  return [
    { metric: 'ingest_small_batch_rows_per_s', value: batch.rowsPerSec, unit: 'rows/s', target: 'info (10-row updates, two tables, acked)' },
    { metric: 'ingest_small_memorybatch_rows_per_s', value: mem.rowsPerSec, unit: 'rows/s', baseline: 'ingest_small_batch_rows_per_s', ratio: mem.rowsPerSec / batch.rowsPerSec, target: 'info' },
    { metric: 'batch_log_messages_per_1k_updates', value: batch.messagesPer1k, unit: 'messages', target: 'info' },
    { metric: 'memorybatch_log_messages_per_1k_updates', value: mem.messagesPer1k, unit: 'messages', target: 'info' },
  ];
}
