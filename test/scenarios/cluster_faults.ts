// A fault on a cluster: kill one nats-server node (by index, or the one leading the tickerplant's
// log stream at that moment), bring it back on the same ports and store after `downMs`, and
// measure how long until its replica of the log is current again (bounded wait).
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { NatsCluster } from '../../bus/nats_cluster.ts';
import { streams } from '../../bus/subjects.ts';
import type { Scenario } from '../../scenarios/types.ts';
import { until } from '../support/bus.ts';

/** Bound on the wait for the killed node's replica of the log to be current again. */
const REJOIN_WAIT_MS = 30_000;

async function logCluster(nc: NatsConnection, tp: string) {
  const jsm = await jetstreamManager(nc, { timeout: 2_000 });
  return (await jsm.streams.info(streams.log(tp))).cluster;
}

export async function killClusterNode(nc: NatsConnection, cluster: NatsCluster, tp: string, f: Scenario['faults'][number]): Promise<Record<string, number>> {
  let i = typeof f.node === 'number' ? f.node : 0;
  if (f.node === 'log-leader') {
    const leader = (await logCluster(nc, tp))?.leader;
    i = leader ? cluster.indexOf(leader) : -1;
    if (i < 0) throw new TickbusError(ErrorCode.NOT_READY, `the log stream of ${tp} has no known leader (${leader ?? 'none'}) among ${cluster.names.join(', ')}`, { tp, leader: leader ?? null });
  }
  await cluster.restartNode(i, { signal: f.signal, downMs: f.downMs });
  const back = Date.now();
  const name = cluster.names[i]!;
  // Current again: the stream lists the node as leader or as a current replica.
  await until(async () => {
    const c = await logCluster(nc, tp).catch(() => undefined);
    return c?.leader === name || (c?.replicas ?? []).some((r) => r.name === name && r.current);
  }, REJOIN_WAIT_MS, 100).catch(() => {
    throw new TickbusError(ErrorCode.TIMEOUT, `node ${name}'s replica of ${streams.log(tp)} was not current within ${REJOIN_WAIT_MS} ms of its restart`, { node: name, waitMs: REJOIN_WAIT_MS });
  });
  return { killedNode: i, killedLogLeader: f.node === 'log-leader' ? 1 : 0, nodeRejoinMs: Date.now() - back };
}
