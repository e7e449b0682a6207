// Proves `actors up --cluster 3`: three embedded nats-servers form one JetStream cluster, the
// processes of the process table start against all three URLs, the tickerplant's log and the
// registry and supervisor buckets are replicated on three servers, the demo feed's rows reach the RDB, and
// SIGINT stops everything, servers included.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { decode, encode } from '../../bus/codec.ts';
import { freePort } from '../../bus/nats_server.ts';
import { until } from '../support/bus.ts';

const root = resolve(import.meta.dirname, '..', '..');

describe('actors up --cluster', () => {
  it('cli: actors up --cluster 3 runs the system on a 3-node cluster with R3 streams and buckets', async () => {
    const port = await freePort();
    const data = mkdtempSync(join(tmpdir(), 'tickbus-upc-'));
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
    delete env.NATS_URL;
    delete env.TICKBUS_REPLICAS;
    const up = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--cluster', '3', '--port', String(port), '--data', data], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    up.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    up.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
    try {
      await until(() => /feed1\s+feed\s+\d+\s+up/.test(out), 90_000, 100);
      expect(out).toMatch(/tp1\s+tickerplant\s+\d+\s+up/);
      const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
      const jsm = await jetstreamManager(nc);
      const log = await jsm.streams.info('TICK_tp1');
      expect(log.config.num_replicas).toBe(3);
      expect(log.cluster?.replicas?.length).toBe(2);
      expect((await jsm.streams.info('KV_proc')).config.num_replicas).toBe(3);
      expect((await jsm.streams.info('KV_sup')).config.num_replicas).toBe(3);
      await until(async () => {
        const m = await nc.request('q.rdb.rdb1', encode({ type: 'tickbus.v1.query', table: 'quote', count: true }), { timeout: 2_000 });
        return (decode<{ n?: number }>(m.data).n ?? 0) > 0;
      }, 20_000, 200);
      await nc.close();
    } finally {
      up.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    await expect(connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false, timeout: 500 })).rejects.toThrow();
    rmSync(data, { recursive: true, force: true });
  }, 150_000);
});
