// Proves the quick start: `actors up` starts an embedded nats-server and the processes of the
// process table, prints a status table, the demo feed's rows reach the RDB, `actors ps` lists the
// registry, and SIGINT (Ctrl-C) stops everything in reverse order, leaving no process behind.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { decode, encode } from '../../bus/codec.ts';
import { freePort } from '../../bus/nats_server.ts';
import { until } from '../support/bus.ts';

const root = resolve(import.meta.dirname, '..', '..');

describe('actors up', () => {
  it('cli: actors up runs the system and Ctrl-C stops it cleanly', async () => {
    const port = await freePort();
    const data = mkdtempSync(join(tmpdir(), 'tickbus-up-'));
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
    delete env.NATS_URL;
    const up = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--port', String(port), '--data', data], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    up.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    up.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
    try {
      await until(() => /procname\s+proctype/.test(out) && /feed1\s+feed\s+\d+\s+up/.test(out), 60_000, 100);
      expect(out).toMatch(/tp1\s+tickerplant\s+\d+\s+up/);
      expect(out).toMatch(/rdb1\s+rdb\s+\d+\s+up/);
      // The monitor's page URL is printed, and the page is there.
      const page = /monitor page \(monitor1\): (http:\/\/\S+)/.exec(out)?.[1];
      expect(page, out).toBeDefined();
      expect(await (await fetch(page!)).text()).toContain('tickbus monitor');
      const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
      await until(async () => {
        const m = await nc.request('q.rdb.rdb1', encode({ type: 'tickbus.v1.query', table: 'quote', count: true }), { timeout: 2_000 });
        return (decode<{ n?: number }>(m.data).n ?? 0) > 0;
      }, 20_000, 200);
      await nc.close();
      const ps = spawnSync(process.execPath, [join(root, 'ops', 'actors.mjs'), 'ps'], { env: { ...env, NATS_URL: `nats://127.0.0.1:${port}` }, encoding: 'utf8' });
      expect(ps.stdout).toMatch(/tp1\s+tickerplant/);
      expect(ps.stdout).toMatch(/rdb1\s+rdb/);
    } finally {
      up.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    // Nothing listens on the port any more: the embedded server is gone too.
    await expect(connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false, timeout: 500 })).rejects.toThrow();
    rmSync(data, { recursive: true, force: true });
  }, 120_000);

  it('cli: actors up --json prints its status as JSON lines (tickbus.v1.up.status)', async () => {
    const port = await freePort();
    const data = mkdtempSync(join(tmpdir(), 'tickbus-upjson-'));
    const procs = join(data, 'process.csv');
    writeFileSync(procs, 'proctype,procname,startwithall,restartpolicy\ntickerplant,tpj,1,always\n');
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
    delete env.NATS_URL;
    const up = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--port', String(port), '--data', data, '--procs', procs, '--json', '--status-every-ms', '500'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    up.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
    try {
      const statusLines = () => out.split('\n').filter((l) => l.includes('"tickbus.v1.up.status"'));
      await until(() => statusLines().some((l) => (JSON.parse(l) as { processes: Array<{ procname: string; state: string }> }).processes.some((p) => p.procname === 'tpj' && p.state === 'running')), 60_000, 100);
      const last = JSON.parse(statusLines().at(-1)!) as { processes: Array<{ procname: string; restarts: number; status?: { state?: string } }> };
      expect(last.processes.map((p) => p.procname).sort()).toEqual(['nats-server', 'tpj']);
      expect(last.processes.find((p) => p.procname === 'tpj')).toMatchObject({ restarts: 0, status: { state: 'live' } });
      expect(out).not.toMatch(/procname\s+proctype/); // no table
    } finally {
      up.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    rmSync(data, { recursive: true, force: true });
  }, 90_000);
});
