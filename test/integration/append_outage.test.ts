// A feed is acknowledged only once its rows are in the log (issue 9 part 4, KX retryInterval):
// while the log refuses appends (here: the stream is full with discard-new, as a server whose
// store is out of space), the tickerplant re-sends in order every retryIntervalMs and the feed
// waits; when the log takes appends again the rows land once and only then is the feed acked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscardPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { streams } from '../../bus/subjects.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { column, connectTo, readLog, silentLogger, startServer, testTables } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let tp: Tickerplant;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  // retryIntervalMs: KX's name for the pause between re-sends of a failed log write.
  tp = await startTickerplant(nc, { name: 'outage', tables: testTables, mode: 'immediate', retryIntervalMs: 100, appendRetryWindowMs: 60_000 } as never, silentLogger);
  await tp.ready();
});

afterAll(async () => {
  await tp?.stop();
  await nc?.close();
  await server?.dispose();
});

describe('append outage', () => {
  it('the feed is not acked until its append lands after the outage, and the rows land once', async () => {
    const pub = new Publisher(nc, { tp: 'outage' });
    await pub.publish('trade', { rows: [['AAPL', 10.5, 100, 1]] });
    const jsm = await manager(nc);
    const name = streams.log('outage');
    const cfg = (await jsm.streams.info(name)).config;
    const before = (await jsm.streams.info(name)).state;
    // The outage: the log takes no more messages.
    await jsm.streams.update(name, { discard: DiscardPolicy.New, max_msgs: before.messages });
    let acked: { seq?: number } | undefined;
    let failed: unknown;
    const p = pub.publish('trade', { rows: [['MSFT', 20.5, 200, 2]] }).then(
      (a) => (acked = a as { seq?: number }),
      (e) => (failed = e),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    expect(acked).toBeUndefined();
    expect(failed).toBeUndefined();
    expect((await jsm.streams.info(name)).state.last_seq).toBe(before.last_seq);
    expect((tp.status() as { state: unknown }).state).toBe('live');
    // The log takes appends again: the waiting append lands, then the feed is acked.
    await jsm.streams.update(name, { discard: cfg.discard, max_msgs: cfg.max_msgs });
    await p;
    expect(failed).toBeUndefined();
    expect(acked).toBeDefined();
    const log = await readLog(nc, 'outage');
    expect(column(log.batches, 'fid', 'trade')).toEqual([1n, 2n]);
    expect(log.lastSeq).toBe(before.last_seq + 1);
    pub.close();
  }, 60_000);
});
