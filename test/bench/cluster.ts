// Ingest on a 3-node JetStream cluster with the log replicated three times (R3), against R1 on one
// node measured in the same run: the same `ingest` path as the ingest step (a feed in this
// process, a tickerplant and an RDB as child processes, rows/s until the RDB holds every row).
// Both runs share the machine's cores with the servers (three servers for R3, one for R1).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { NatsCluster } from '../../bus/nats_cluster.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { streams } from '../../bus/subjects.ts';
import type { Metric } from './metric.ts';

/** run.ts's ingest in batch mode with extra tickerplant settings; resolves rows/s. */
export type IngestFn = (nc: NatsConnection, url: string, dir: string, name: string, rows: number, tpSettings: Record<string, unknown>) => Promise<{ rowsPerSec: number }>;

export async function benchCluster(ingest: IngestFn, rows: number): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-clusterbench-'));
  try {
    // R1 on one node first, then R3 on three (each on fresh stores).
    const single = await NatsServer.start({ storeDir: join(dir, 'single') });
    let r1: number;
    try {
      const nc = await connect({ servers: single.url });
      r1 = (await ingest(nc, single.url, dir, 'clur1', rows, { replicas: 1 })).rowsPerSec;
      await nc.close();
    } finally {
      await single.stop();
    }
    const cluster = await NatsCluster.start({ size: 3, storeDir: join(dir, 'cluster') });
    let r3: number;
    try {
      const nc = await connect({ servers: cluster.urls });
      r3 = (await ingest(nc, cluster.urls.join(','), dir, 'clur3', rows, { replicas: 3 })).rowsPerSec;
      // The figure is only R3's if the log really had three replicas.
      const si = await (await jetstreamManager(nc)).streams.info(streams.log('clur3'));
      if (si.config.num_replicas !== 3 || (si.cluster?.replicas?.length ?? 0) !== 2) {
        throw new TickbusError(ErrorCode.INTERNAL, `the bench's log ${si.config.name} has ${si.config.num_replicas} replicas (${si.cluster?.replicas?.length ?? 0} followers), expected 3`, { stream: si.config.name });
      }
      await nc.close();
    } finally {
      await cluster.stop();
    }
    return [
      { metric: 'ingest_single_node_r1_rows_per_s', value: r1, unit: 'rows/s', target: 'baseline (one nats-server, log R1)' },
      { metric: 'ingest_cluster_r3_rows_per_s', value: r3, unit: 'rows/s', baseline: 'ingest_single_node_r1_rows_per_s', ratio: r3 / r1, target: 'info' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
