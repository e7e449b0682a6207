// Proves the embedded cluster (bus/nats_cluster.ts) is a real JetStream cluster: three
// nats-servers on free ports elect a meta leader, an R3 stream is placed on all three, an append
// is acked with one node SIGKILLed (a quorum of two remains), and the node comes back on the same
// ports and store and catches up (every replica current again, bounded wait).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster } from '../../bus/nats_cluster.ts';
import { until } from '../support/bus.ts';

let cluster: NatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  cluster = await NatsCluster.start({ size: 3 });
  nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.dispose();
});

describe('nats cluster', () => {
  it('cluster: an R3 stream keeps acking with one node SIGKILLed, and the node catches up when back', async () => {
    expect(cluster.urls).toHaveLength(3);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: 'CLU_TEST', subjects: ['clu.test'], num_replicas: 3 });
    expect(info.config.num_replicas).toBe(3);
    const js = jetstream(nc, { timeout: 5_000 });
    await js.publish('clu.test', 'a', { msgID: 'a' });
    // Kill a node that is not the stream leader (the append needs no new election), then the leader.
    const leader = (await jsm.streams.info('CLU_TEST')).cluster!.leader!;
    const victim = cluster.names.findIndex((n) => n !== leader);
    await cluster.stopNode(victim, 'SIGKILL');
    // The client may have been on the killed node: it reconnects to another, the publish is retried
    // with the same id (deduplicated), bounded.
    await until(async () => (await js.publish('clu.test', 'b', { msgID: 'b' }).then(() => true, () => false)), 20_000, 200);
    await cluster.startNode(victim);
    await until(async () => {
      const c = (await jsm.streams.info('CLU_TEST').catch(() => undefined))?.cluster;
      return (c?.replicas ?? []).length === 2 && c!.replicas!.every((r) => r.current);
    }, 20_000, 200);
    const li = cluster.indexOf((await jsm.streams.info('CLU_TEST')).cluster!.leader!);
    await cluster.stopNode(li, 'SIGKILL');
    // A new stream leader is elected among the two left; the publish retries until it is (bounded).
    await until(async () => (await js.publish('clu.test', 'c', { msgID: 'c' }).then(() => true, () => false)), 20_000, 200);
    await cluster.startNode(li);
    await until(async () => (await jsm.streams.info('CLU_TEST').catch(() => undefined))?.state.messages === 3, 20_000, 200);
    const si = await jsm.streams.info('CLU_TEST');
    expect(si.state.messages).toBe(3);
  }, 90_000);
});
