// A clean stop of the WDB (ctl.<name>.stop through the process runtime, as `actors kill`, SIGTERM
// and the System API stop it) on a real nats-server with real Parquet files: rows buffered below
// maxRows (no write-down would happen for an hour) are written down by the stop, the manifest then
// holds every row up to the last log sequence, the process deregisters, and a restart resumes after
// that sequence reading nothing again and re-writing no file. A kill (the runtime's hard stop, as
// SIGKILL) writes nothing: the restart reads those rows from the log, once. A stop's write-down that
// outlasts stopTimeoutMs is abandoned (it records nothing) and the stop goes on.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { startWdb } from '../../actors/wdb/effects.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { kv, streams, subjects } from '../../bus/subjects.ts';
import { checkManifest, dayDir, readManifest, type IntradayManifest } from '../../storage/intraday/manifest.ts';
import { clockAt, connectTo, dupes, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { openDuck, type Duck } from '../support/duck.ts';
import { feedWdb, writtenFids } from '../support/intraday.ts';
import { status } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let duck: Duck;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-wdb-stop-'));
  duck = await openDuck();
});
afterAll(async () => {
  duck?.close();
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const feed = (pub: Publisher, from: number, n: number) => feedWdb(pub, from, n, 50);
const fidsOf = async (wdbDir: string, m: IntradayManifest, table: string) => (await writtenFids(duck, wdbDir, m, table)).map(Number);

async function lastLogSeq(tp: string): Promise<number> {
  return (await (await manager(nc)).streams.info(streams.log(tp))).state.last_seq;
}

interface WdbStatus {
  rows: number;
  buffered: number;
  lastSeq: number;
  skippedWritten: number;
  writeDowns: number;
  writer: { offThread: number };
}

describe('wdb clean stop', () => {
  it('writes down what it buffers, deregisters, and a restart resumes after it without re-reading or re-writing; a kill writes nothing', async () => {
    const wdbDir = join(dir, 'wdb');
    const tp = await startTickerplant(nc, { name: 'wst', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clockAt(Date.parse('2026-03-10T10:00:00Z')));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'wst' });
    // maxRows and the timer never write during the test: only a stop can.
    const settings = { tp: 'wst', wdbDir, hdbDir: join(dir, 'hdb'), maxRows: 1_000_000_000, saveIntervalMs: 3_600_000, stopTimeoutMs: 60_000 };
    const registry = await new Kvm(nc).create(kv.registryBucket, { history: 1 });
    let rt: ProcessRuntime = await startRuntime(server.url, 'wdb', 'wst1', settings, { tables: testTables, readyTimeoutMs: 60_000 });
    try {
      const fed = await feed(pub, 0, 3_000);
      await until(async () => (await status<WdbStatus>(nc, 'wst1'))?.rows === 2 * fed, 60_000);
      const upTo = await lastLogSeq('wst');
      await until(async () => (await status<WdbStatus>(nc, 'wst1'))?.lastSeq === upTo, 60_000);
      const before = (await status<WdbStatus>(nc, 'wst1'))!;
      expect(before).toMatchObject({ buffered: 2 * fed, writeDowns: 0 });
      const day = (await status<{ day: string }>(nc, 'wst1'))!.day;
      expect(day).toBe('2026-03-10');
      expect(await readManifest(wdbDir, day)).toBeUndefined();
      expect(await registry.get(kv.registryKey('wdb', 'wst1'))).toBeTruthy();

      // The clean stop, as `actors kill` and the supervisor ask for it.
      await nc.request(subjects.ctl('wst1', 'stop'), '', { timeout: 10_000 });
      await rt.stopped;
      const m = (await readManifest(wdbDir, day))!;
      checkManifest(m);
      expect(m.tables.trade).toMatchObject({ lastSeq: upTo, rows: fed });
      expect(m.tables.quote).toMatchObject({ lastSeq: upTo, rows: fed });
      expect(m.files.length).toBe(2);
      for (const table of ['trade', 'quote']) {
        const fids = await fidsOf(wdbDir, m, table);
        expect(fids.sort((a, b) => a - b)).toEqual(Array.from({ length: fed }, (_, i) => i));
      }
      expect((await registry.get(kv.registryKey('wdb', 'wst1')))?.operation ?? 'DEL').not.toBe('PUT');

      // The restart resumes after the last sequence written: nothing read twice, no file rewritten.
      const filesBefore = readdirSync(join(dayDir(wdbDir, day), 'trade')).sort();
      rt = await startRuntime(server.url, 'wdb', 'wst1', settings, { tables: testTables, readyTimeoutMs: 60_000 });
      const after = (await status<WdbStatus>(nc, 'wst1'))!;
      expect(after).toMatchObject({ rows: 0, skippedWritten: 0, lastSeq: upTo, buffered: 0 });
      const fed2 = await feed(pub, fed, 1_000);
      await until(async () => (await status<WdbStatus>(nc, 'wst1'))?.rows === 2 * (fed2 - fed), 60_000);
      await until(async () => (await status<WdbStatus>(nc, 'wst1'))?.lastSeq === (await lastLogSeq('wst')), 60_000);
      expect((await status<WdbStatus>(nc, 'wst1'))!.skippedWritten).toBe(0);
      const upTo2 = await lastLogSeq('wst');
      await rt.stop();
      const m2 = (await readManifest(wdbDir, day))!;
      checkManifest(m2);
      expect(m2.files.length).toBe(4);
      expect(m2.files.slice(0, 2)).toEqual(m.files);
      expect(m2.tables.trade).toMatchObject({ lastSeq: upTo2, rows: fed2 });
      expect(readdirSync(join(dayDir(wdbDir, day), 'trade')).filter((f) => filesBefore.includes(f))).toEqual(filesBefore);
      expect(readdirSync(join(dayDir(wdbDir, day), 'trade')).length).toBe(2);

      // A kill writes nothing: the next start reads those rows from the log and writes them once.
      rt = await startRuntime(server.url, 'wdb', 'wst1', { ...settings, immediate: true, saveIntervalMs: 50 }, { tables: testTables, readyTimeoutMs: 60_000 });
      await rt.kill();
      const fed3 = await feed(pub, fed2, 500);
      expect((await readManifest(wdbDir, day))!.files.length).toBe(4);
      rt = await startRuntime(server.url, 'wdb', 'wst1', { ...settings, immediate: true, saveIntervalMs: 50 }, { tables: testTables, readyTimeoutMs: 60_000 });
      await until(async () => (await readManifest(wdbDir, day))?.tables.quote?.rows === fed3 && (await readManifest(wdbDir, day))?.tables.trade?.rows === fed3, 60_000);
      const m3 = (await readManifest(wdbDir, day))!;
      checkManifest(m3);
      for (const table of ['trade', 'quote']) {
        const fids = await fidsOf(wdbDir, m3, table);
        expect(dupes(fids.map(BigInt))).toEqual([]);
        expect(fids.sort((a, b) => a - b)).toEqual(Array.from({ length: fed3 }, (_, i) => i));
      }
      // The write-downs ran on the write worker.
      expect((await status<WdbStatus>(nc, 'wst1'))!.writer.offThread).toBeGreaterThan(0);
    } finally {
      await rt.stop();
      pub.close();
      await tp.stop();
    }
  });

  it('is bounded by stopTimeoutMs: a write-down outlasting it records nothing, and the restart writes its rows once', async () => {
    const wdbDir = join(dir, 'wdb-slow');
    const tp = await startTickerplant(nc, { name: 'wsb', tables: testTables, mode: 'batch', pubFreqMs: 5 }, silentLogger, clockAt(Date.parse('2026-03-11T10:00:00Z')));
    await tp.ready();
    const pub = new Publisher(nc, { tp: 'wsb' });
    const base = { name: 'wsb1', tp: 'wsb', tables: testTables, wdbDir, hdbDir: join(dir, 'hdb-slow') };
    // The fault: 6 s between a write-down's files and its manifest, against a 2 s stop bound (the
    // encoding fits in it, or the stop abandons the worker: either way nothing is recorded).
    const slow = await startWdb(nc, { ...base, maxRows: 1_000_000_000, saveIntervalMs: 3_600_000, writeDelayMs: 6_000, stopTimeoutMs: 2_000 }, silentLogger);
    let wdb = slow;
    try {
      await wdb.ready();
      const fed = await feed(pub, 0, 500);
      await until(() => wdb.status().rows === 2 * fed, 60_000);
      const day = wdb.manifest()!.day;
      await wdb.stop();
      expect(await readManifest(wdbDir, day)).toBeUndefined();
      wdb = await startWdb(nc, { ...base, immediate: true, saveIntervalMs: 50 }, silentLogger);
      await wdb.ready();
      await until(async () => {
        const m = await readManifest(wdbDir, day);
        return m?.tables.trade?.rows === fed && m.tables.quote?.rows === fed;
      }, 60_000);
      const m = (await readManifest(wdbDir, day))!;
      checkManifest(m);
      for (const table of ['trade', 'quote']) {
        expect((await fidsOf(wdbDir, m, table)).sort((a, b) => a - b)).toEqual(Array.from({ length: fed }, (_, i) => i));
        // The abandoned write-down's files were orphans: the restart removed them.
        expect(readdirSync(join(dayDir(wdbDir, day), table)).length).toBe(m.files.filter((f) => f.table === table).length);
      }
      // Once the abandoned write-down gets past its pause, it records nothing over the new writer's manifest.
      await slow.idle();
      expect(await readManifest(wdbDir, day)).toEqual(m);
      // (It was tried, and given up: not retried once stopping.)
      expect(slow.status()).toMatchObject({ writeFailures: 1, writeDowns: 0 });
    } finally {
      await wdb.stop();
      pub.close();
      await tp.stop();
    }
  });
});
