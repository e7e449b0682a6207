// `actors up --cluster N`: N embedded nats-servers as one JetStream cluster (bus/nats_cluster.ts),
// every process given all N URLs, and every stream and bucket the system creates replicated on N
// servers (TICKBUS_REPLICAS, read by `actors start`). Single-node `actors up` does not use this.
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { NatsCluster } from '../../bus/nats_cluster.ts';
import { kv } from '../../bus/subjects.ts';

/** The environment variable that carries the replica count from the launcher to each process. */
export const REPLICAS_ENV = 'TICKBUS_REPLICAS';

/** Most replicas JetStream allows for a stream. */
const REPLICAS_MAX = 5;

/** Parses `--cluster N` (1..9 servers); undefined when the flag is absent. */
export function clusterSize(flag: string | undefined): number | undefined {
  if (flag === undefined) return undefined;
  const n = Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 9) {
    throw new TickbusError(ErrorCode.BAD_USAGE, `--cluster takes a number of servers from 1 to 9, got ${flag}`, { flag: 'cluster', value: flag });
  }
  return n;
}

/**
 * The replica count every process uses for the streams and buckets it creates (the tickerplant's
 * log, the registry, the usage stream): TICKBUS_REPLICAS if set (by `actors up --cluster`), else
 * undefined (each setting keeps its own default, 1).
 */
export function replicasFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[REPLICAS_ENV];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > REPLICAS_MAX) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${REPLICAS_ENV} must be an integer from 1 to ${REPLICAS_MAX}, got ${v}`, { env: REPLICAS_ENV, value: v });
  }
  return n;
}

/** Settings with the cluster's replica count filled in where the config leaves it unset. */
export function withReplicas(proctype: string, settings: Record<string, unknown>, replicas: number | undefined): Record<string, unknown> {
  if (replicas === undefined) return settings;
  const usage = { replicas, ...((settings.usage as Record<string, unknown> | undefined) ?? {}) };
  return { ...(proctype === 'tickerplant' || proctype === 'chainedtp' ? { replicas } : {}), ...settings, usage };
}

export interface EmbeddedCluster {
  /** Every node's URL, comma separated (NATS_URL for the children). */
  url: string;
  /** Environment for the children: NATS_URL and the replica count. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts N servers under `<dataDir>/nats-cluster/node-<i>` and creates the registry and supervisor
 * buckets with N replicas before any process starts (whoever creates a bucket first sets its
 * replicas, and a watcher such as the gateway, or the supervisor's store, would create it with one).
 */
export async function startEmbeddedCluster(size: number, dataDir: string, logger: Logger, port?: string): Promise<EmbeddedCluster> {
  // `--port P` gives the first node its client port (the others take free ones).
  const ports = port ? [Number(port)] : [];
  const cluster = await NatsCluster.start({ size, ports, storeDir: join(dataDir, 'nats-cluster'), detached: true, startTimeoutMs: 30_000 });
  const replicas = Math.min(size, REPLICAS_MAX);
  const nc = await connect({ servers: cluster.urls, name: 'actors-up', timeout: 5_000 });
  try {
    // The registry and the supervisor's state (`sup`); a later create() uses the existing bucket.
    await new Kvm(nc).create(kv.registryBucket, { history: 1, replicas });
    await new Kvm(nc).create(kv.supervisorBucket, { history: 1, replicas });
  } finally {
    await nc.close();
  }
  logger.info({ urls: cluster.urls, replicas, store: cluster.storeDir }, `embedded ${size}-node nats cluster started`);
  const url = cluster.urls.join(',');
  return { url, env: { NATS_URL: url, [REPLICAS_ENV]: String(replicas) }, stop: () => cluster.stop() };
}
