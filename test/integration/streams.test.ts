// Proves the stream processors (Kemux's Manager) in process against a real nats-server: start()
// with no streams is a typed error; a cycle is a typed error naming its streams; Kemux's splitter
// (one input, three outputs by filter, fan-out) with an input validator and an output validator
// that reject: each rejected message is in the dead-letter subject with its reason, counted, and
// the stream keeps running; a streamsDir with a broken file and a file without an input loads the
// others, reports both by name, and starts the chained streams producer-first; a tick-table input
// (an in-process tickerplant) derives messages from rows, and a restarted manager resumes after
// its recorded position (each output once). Waits are bounded polls; nothing asserts on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { z } from 'zod';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { defineInput, defineOutputs } from '../../actors/streams/define.ts';
import { StreamManager } from '../../actors/streams/manager.ts';
import { StreamHeader } from '../../actors/streams/settings.ts';
import * as splitter from '../fixtures/streams/kemux/splitter.ts';
import { connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { drained, onSubject, publishInputs, readStreamMsgs } from '../support/streams.ts';

const fixtures = resolve(import.meta.dirname, '..', 'fixtures', 'streams', 'kemux');
let server: NatsServer;
let nc: NatsConnection;
let tmp: string;

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  tmp = mkdtempSync(join(tmpdir(), 'tickbus-streams-'));
});

afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const animal = (name: string, value: number) => ({ name, value, timestamp: '2026-01-01T00:00:00Z', labels: { habitat: 'x' } });
const names = (xs: Array<{ value: unknown }>) => xs.map((m) => (m.value as { name: string }).name);

describe('streams', () => {
  it('streams: start() with no streams is a typed error (Kemux: No streams have been loaded)', async () => {
    const m = StreamManager.init({ name: 'empty', nc, dataDir: join(tmp, 'empty') });
    const err = await m.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TickbusError);
    expect((err as TickbusError).code).toBe(ErrorCode.BAD_CONFIG);
    expect((err as TickbusError).message).toMatch(/no streams/);
  });

  it('streams: a cycle between streams is a BAD_CONFIG naming them', () => {
    const m = StreamManager.init({ name: 'cyc', nc, dataDir: join(tmp, 'cyc') });
    const s = z.object({ v: z.number() });
    m.addStream('ping', { subject: 'a', schema: s }, { out: { subject: 'b', schema: s } });
    let err: unknown;
    try {
      m.addStream('pong', { subject: 'b', schema: s }, { out: { subject: 'a', schema: s } });
    } catch (e) {
      err = e;
    }
    expect((err as TickbusError).code).toBe(ErrorCode.BAD_CONFIG);
    expect((err as TickbusError).detail.streams).toEqual(['ping', 'pong']);
  });

  it('streams: the types of filter and transform come from the schemas', () => {
    const input = defineInput({ subject: 'in', schema: z.object({ n: z.number() }), ingest: (m) => ({ twice: m.n * 2 }) });
    const outputs = defineOutputs(input, {
      // @ts-expect-error `n` is not on what ingest returns
      o: { subject: 'o', schema: z.object({ twice: z.number() }), filter: (m) => m.n > 0 },
      p: { subject: 'p', schema: z.object({ twice: z.number() }), filter: (m) => m.twice > 0 },
    });
    expect(Object.keys(outputs)).toEqual(['o', 'p']);
  });

  it('streams: Kemux splitter: fan-out by filter, rejected messages dead-lettered with their reason, the stream keeps running', async () => {
    // natsUrl: the manager opens (and at stop drains) its own connection.
    const m = StreamManager.init({ name: 'kemux', natsUrl: server.url, dataDir: join(tmp, 'kemux'), logger: silentLogger });
    m.addStream('splitter', splitter.input, splitter.outputs);
    await m.start();
    try {
      const inputs = [animal('fish', 1), animal('shark', 2), animal('bat', 3), animal('spider', 4), animal('bird', 5), animal('cat', 6), animal('Shark!', 7), animal('bat', -1)];
      await publishInputs(nc, 'kemux', 'animals', inputs);
      await until(async () => await drained(nc, 'kemux', 'splitter'));
      // The stream keeps running after its rejects.
      await publishInputs(nc, 'kemux', 'animals', [animal('fish', 9)]);
      await until(async () => m.status().streams[0]!.in === 9 && (await drained(nc, 'kemux', 'splitter')));

      const msgs = await readStreamMsgs(nc, 'kemux');
      expect(names(onSubject(msgs, 'kemux', 'aquatic'))).toEqual(['fish', 'shark', 'fish']);
      expect(names(onSubject(msgs, 'kemux', 'spooky'))).toEqual(['bat', 'spider']);
      expect(names(onSubject(msgs, 'kemux', 'flying'))).toEqual(['bat', 'bird']);
      const dead = msgs.filter((x) => x.subject === 'st.kemux.dead.splitter');
      expect(dead.map((d) => d.headers[StreamHeader.deadStage])).toEqual(['input', 'spooky', 'flying']);
      expect(dead[0]!.headers[StreamHeader.deadReason]).toMatch(/input schema: name: name must be lowercase letters/);
      expect((dead[0]!.value as { name: string }).name).toBe('Shark!');
      expect(dead[1]!.headers[StreamHeader.deadReason]).toMatch(/output spooky schema: value: value must not be negative/);
      expect(dead[2]!.headers[StreamHeader.deadReason]).toMatch(/output flying schema/);
      // Output ids are <stream>:<output>:<inputSeq>; the input seq is in a header too.
      const first = onSubject(msgs, 'kemux', 'aquatic')[0]!;
      expect(first.msgId).toBe(`splitter:aquatic:${first.headers[StreamHeader.inputSeq]}`);

      const st = m.status().streams[0]!;
      expect(st).toMatchObject({ name: 'splitter', in: 9, out: { aquatic: 3, spooky: 2, flying: 2 }, dropped: 3, duplicates: 0 });
    } finally {
      await m.stop();
    }
  });

  it('streams: streamsDir: broken files reported by name and skipped, chained streams started producer-first', async () => {
    const m = StreamManager.init({ name: 'dir', nc, dataDir: join(tmp, 'dir'), streamsDir: fixtures, logger: silentLogger });
    await m.start();
    try {
      const st = m.status();
      expect(st.order).toEqual(['splitter', 'haunt']); // haunt reads splitter's spooky: it starts after it
      expect(st.loadErrors.map((e) => [e.file.split('/').pop(), e.code])).toEqual([
        ['broken.ts', ErrorCode.BAD_CONFIG],
        ['noinput.ts', ErrorCode.BAD_CONFIG],
      ]);
      expect(st.loadErrors[0]!.message).toMatch(/broken on purpose/);
      expect(st.loadErrors[1]!.message).toMatch(/no input exported/);
      await publishInputs(nc, 'dir', 'animals', [animal('spider', 1), animal('bat', 2), animal('fish', 3)]);
      await until(async () => (await drained(nc, 'dir', 'splitter')) && (await drained(nc, 'dir', 'haunt')));
      await until(async () => onSubject(await readStreamMsgs(nc, 'dir'), 'dir', 'very-spooky').length >= 1);
      const msgs = await readStreamMsgs(nc, 'dir');
      expect(onSubject(msgs, 'dir', 'very-spooky').map((x) => x.value)).toEqual([{ name: 'spider', scary: true }]);
      expect(m.status().streams.map((s) => [s.name, s.in])).toEqual([
        ['splitter', 3],
        ['haunt', 2],
      ]);
    } finally {
      await m.stop();
    }
  });

  it('streams: a stream added after start() starts at once; removeStream stops it, a missing name is only a warning', async () => {
    const m = StreamManager.init({ name: 'live', nc, dataDir: join(tmp, 'live'), logger: silentLogger });
    m.addStream('splitter', splitter.input, splitter.outputs);
    await m.start();
    try {
      const Spooky = z.object({ name: z.string(), value: z.number() });
      m.addStream('echo', { subject: 'spooky', schema: Spooky }, { echoed: { subject: 'echoed', schema: Spooky } });
      expect(m.status().order).toEqual(['splitter', 'echo']);
      await publishInputs(nc, 'live', 'animals', [animal('bat', 1)]);
      await until(() => m.status().streams.find((x) => x.name === 'echo')?.out.echoed === 1);
      await m.removeStream('echo');
      await m.removeStream('nope');
      expect(m.status().streams.map((x) => x.name)).toEqual(['splitter']);
    } finally {
      await m.stop();
    }
  });

  describe('tick-table input', () => {
    let tp: Tickerplant;
    beforeAll(async () => {
      tp = await startTickerplant(nc, { name: 'tpst', tables: testTables, mode: 'immediate' }, silentLogger);
      await tp.ready(10_000);
    });
    afterAll(async () => await tp?.stop());

    const Trade = z.object({ time: z.bigint(), sym: z.string(), price: z.number(), size: z.bigint(), fid: z.bigint() });
    const input = defineInput({ table: 'trade', tp: 'tpst', schema: Trade, ingest: (t) => ({ sym: t.sym, notional: t.price * Number(t.size), fid: Number(t.fid) }) });
    const outputs = defineOutputs(input, {
      big: { subject: 'big', schema: z.object({ sym: z.string(), notional: z.number(), fid: z.number() }), filter: (t) => t.notional >= 1_000 },
    });

    it('streams: rows of a tick table in, derived messages out; a restarted manager resumes after its position', async () => {
      const pub = new Publisher(nc, { tp: 'tpst' });
      const dataDir = join(tmp, 'tick');
      // fid i: size 10*i at price 10: notional 100*i, so fid >= 10 is big.
      const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => ['AAPL', 10, BigInt(10 * (from + k)), BigInt(from + k)]);
      await pub.publish('trade', { rows: rows(1, 21) });
      let m = StreamManager.init({ name: 'tick', nc, dataDir, logger: silentLogger });
      m.addStream('bigtrades', input, outputs);
      await m.start();
      await until(() => m.status().streams[0]!.in === 20);
      await m.stop();

      await pub.publish('trade', { rows: rows(21, 31) });
      m = StreamManager.init({ name: 'tick', nc, dataDir, logger: silentLogger });
      m.addStream('bigtrades', input, outputs);
      await m.start();
      try {
        await until(() => m.status().streams[0]!.in === 10); // only the new rows: it resumed after its position
        const big = onSubject(await readStreamMsgs(nc, 'tick'), 'tick', 'big');
        expect(big.map((x) => (x.value as { fid: number }).fid)).toEqual(Array.from({ length: 21 }, (_, k) => k + 10));
        expect(big[0]!.msgId).toMatch(/^bigtrades:big:\d+:9$/); // <stream>:<output>:<logSeq>:<row>
        expect(m.status().streams[0]).toMatchObject({ out: { big: 10 }, dropped: 0, duplicates: 0 });
      } finally {
        await m.stop();
        pub.close();
      }
    });
  });
});
