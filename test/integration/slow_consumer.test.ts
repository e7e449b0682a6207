// Slow consumers (issue 9 part 4): a subscriber that stops reading falls behind the log; the
// tickerplant's consumer watch reports it (`slow-consumer` alert) past consumerAlertBytes and
// deletes its consumer past consumerDisconnectBytes (`consumer-disconnected`). The subscriber,
// reading again, re-joins from the log: every message once, in order, none lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Alert } from '../../bus/alerts.ts';
import { logLag } from '../../bus/consumer_lag.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { subjects } from '../../bus/subjects.ts';
import { subscribe } from '../../bus/subscriber.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { connectTo, readLog, silentLogger, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;
let tp: Tickerplant;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  tp = await startTickerplant(
    nc,
    { name: 'slow', tables: testTables, mode: 'immediate', consumerAlertBytes: 300_000, consumerDisconnectBytes: 1_500_000, consumerCheckMs: 200 },
    silentLogger,
  );
  await tp.ready();
});

afterAll(async () => {
  await tp?.stop();
  await nc?.close();
  await server?.dispose();
});

describe('slow consumers', () => {
  it('a stalled subscriber is reported, cut off past the bound, and re-joins from the log with every message once', async () => {
    const alerts: Alert[] = [];
    const alertSub = nc.subscribe(subjects.alert('tickerplant', 'slow'), { callback: (_e, m) => void alerts.push(m.json<Alert>()) });
    // A small read-ahead buffer, so the stall shows as lag on the server, not as buffered bytes here.
    const sub = await subscribe(nc, { tp: 'slow', from: 'today', name: 'stalled', bufferBytes: 64 * 1024, stallMs: 1_000 });
    const pub = new Publisher(nc, { tp: 'slow' });
    const rowsPer = 500;
    const sends = 120;
    for (let k = 0; k < sends; k++) {
      const rows = Array.from({ length: rowsPer }, (_, i) => [`S${i % 50}`, 100 + i / 7, i, k * rowsPer + i]);
      await pub.publish('trade', { rows });
    }
    // Nothing read yet: the watch sees the consumer fall behind, warns, then deletes it.
    await until(() => alerts.some((a) => a.kind === 'consumer-disconnected'), 30_000);
    const slow = alerts.find((a) => a.kind === 'slow-consumer');
    const cut = alerts.find((a) => a.kind === 'consumer-disconnected')!;
    expect(slow?.subject.startsWith('stalled_')).toBe(true);
    expect(slow!.level).toBe('warning');
    expect(cut.subject.startsWith('stalled_')).toBe(true);
    expect(cut.level).toBe('error');
    expect(cut.details.bytesBehind as number).toBeGreaterThanOrEqual(1_500_000);
    expect((tp.status().consumers as { disconnected: number }).disconnected).toBeGreaterThanOrEqual(1);
    // The lag figure other tools show (monitor, actors ps) reads the same consumer info.
    const lag = await logLag(await manager(nc));
    expect(lag.every((r) => r.streamLast >= sends)).toBe(true);

    // Reading again: the subscriber re-creates its consumer from the next sequence (its stall
    // bound) and gets the whole log once, in order.
    const fids: bigint[] = [];
    const seqs: number[] = [];
    const reading = (async () => {
      for await (const e of sub) {
        if (e.type !== 'batch') continue;
        seqs.push(e.seq);
        fids.push(...(e.batch.cols.fid as BigInt64Array));
      }
    })();
    await until(() => fids.length >= sends * rowsPer, 60_000);
    const log = await readLog(nc, 'slow');
    expect(seqs).toEqual(log.batches.map((b) => b.seq));
    expect(fids).toEqual(Array.from({ length: sends * rowsPer }, (_, i) => BigInt(i)));
    expect(sub.resumes).toBeGreaterThanOrEqual(1);
    await sub.close();
    await reading;
    alertSub.unsubscribe();
    pub.close();
  }, 120_000);
});
