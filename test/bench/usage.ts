// The usage log's CPU cost per record, in one process against a real nats-server: the query path's
// part (recordReply: header reads, one object, one push) and the flush's part (JSON encoding and the
// JetStream publish of batches), each as process CPU time per record. Run alone:
//   node --import tsx test/bench/usage.ts [records]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../../bus/nats_server.ts';
import { recordReply, UsageLog } from '../../bus/usage.ts';
import type { Metric } from './metric.ts';

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export async function benchUsage(records = 200_000): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-usagebench-'));
  const server = await NatsServer.start({ storeDir: join(dir, 'nats') });
  const nc = await connect({ servers: server.url });
  try {
    const log = new UsageLog(nc, 'bench', 'u1', { queueMax: records, flushMs: 3_600_000 });
    const h = headers();
    h.set('Tb-User', 'bench');
    h.set('Tb-Query-Id', 'gw1-123');
    const m = { subject: 'q.rdb.rdb1', headers: h };
    const query = { type: 'tickbus.v1.getdata', table: 'trade', start: '2026-01-01' };
    const reply = { type: 'tickbus.v1.result', n: 10 };
    for (let i = 0; i < 10_000; i++) recordReply(log, m, Date.now(), performance.now(), query, reply, 512); // warm up
    await log.flush();
    const c0 = cpuUs();
    for (let i = 0; i < records; i++) recordReply(log, m, Date.now(), performance.now(), query, reply, 512);
    const c1 = cpuUs();
    await log.flush();
    const c2 = cpuUs();
    await log.close();
    if (log.stats.published !== records + 10_000) throw new Error(`published ${log.stats.published}`);
    return [
      { metric: 'usage_record_cpu_us', value: (c1 - c0) / records, unit: 'us', target: 'info (query path: per answered query)' },
      { metric: 'usage_flush_cpu_us_per_record', value: (c2 - c1) / records, unit: 'us', target: 'info (timer: JSON + JetStream publish, off the query path)' },
    ];
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const m of await benchUsage(Number(process.argv[2] ?? 200_000))) process.stdout.write(`${m.metric} = ${m.value.toFixed(3)} ${m.unit}\n`);
  process.exit(0);
}
