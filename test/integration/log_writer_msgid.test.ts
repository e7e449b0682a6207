// The log writer with a caller's Nats-Msg-Id (buffer events' held parts, decision 108) against a
// real nats-server: an append JetStream finds a duplicate of does not advance the stream, and the
// appends pipelined after it still land once each, in order, with the sequences the stream gave
// them (the expected-last-sequence chain heals through the ordered retry).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Pipeline } from '../../bus/pipeline.ts';
import { ensureStream, logStreamConfig, manager } from '../../bus/streams.ts';
import { streams } from '../../bus/subjects.ts';
import type { TickbusError } from '../../bus/errors.ts';
import { LogWriter } from '../../actors/tickerplant/log_writer.ts';
import { connectTo, silentLogger, startServer } from '../support/bus.ts';

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

describe('log writer', () => {
  it('log writer: a duplicate of a caller msgId leaves the stream as it is; later appends land once, in order', async () => {
    const jsm = await manager(nc);
    await ensureStream(jsm, logStreamConfig('lw', { retentionMs: 60_000, duplicateWindowMs: 60_000, maxMsgBytes: 1 << 20, replicas: 1 }));
    const pipeline = new Pipeline(nc, { timeoutMs: 5_000, maxInflight: 64 });
    const fatal: TickbusError[] = [];
    const writer = new LogWriter(pipeline, {
      appendTimeoutMs: 5_000,
      appendRetryWindowMs: 10_000,
      appendRetryDelayMs: 50,
      logger: silentLogger,
      lastSeq: 0,
      streamLastSeq: async () => (await jsm.streams.info(streams.log('lw'))).state.last_seq,
      onFatal: (e) => fatal.push(e),
    });
    const append = (data: string, msgId?: string) =>
      new Promise<{ seq: number; duplicate: boolean }>((resolve, reject) =>
        writer.append({ subject: 'tick.lw.trade', data: new TextEncoder().encode(data), headers: {}, ...(msgId ? { msgId } : {}), done: (err, seq, duplicate) => (err ? reject(err) : resolve({ seq, duplicate })) }),
      );
    expect(await append('a', 'h.k1')).toEqual({ seq: 1, duplicate: false });
    // The duplicate, then two appends pipelined behind it (sent before its ack came back).
    const [dup, c, d] = await Promise.all([append('a-again', 'h.k1'), append('c'), append('d')]);
    expect(dup).toEqual({ seq: 1, duplicate: true });
    expect([c.seq, d.seq]).toEqual([2, 3]);
    // A duplicate as the last append: the next one expects the right sequence at once.
    expect(await append('a-third', 'h.k1')).toEqual({ seq: 1, duplicate: true });
    expect(await append('e')).toEqual({ seq: 4, duplicate: false });
    expect(fatal).toEqual([]);
    const bodies: string[] = [];
    for (let seq = 1; seq <= 4; seq++) bodies.push(new TextDecoder().decode((await jsm.streams.getMessage(streams.log('lw'), { seq }))!.data));
    expect(bodies).toEqual(['a', 'c', 'd', 'e']);
    expect((await jsm.streams.info(streams.log('lw'))).state.messages).toBe(4);
    writer.close();
    pipeline.close();
  });
});
