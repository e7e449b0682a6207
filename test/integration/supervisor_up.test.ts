// Proves supervision under `actors up` with real processes and a real (embedded) nats-server: a
// SIGKILLed child is restarted with a new pid while the others are untouched, and KV `sup` shows
// restarts=1 and the SIGKILL; killing it again and again is a crash loop that marks it failed and
// publishes a crash-loop alert on alert.>; `actors restart` brings it back; `actors kill --name`
// stops it and it stays stopped; `actors ps` shows the supervisor's columns; Ctrl-C stops all.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from '../../bus/nats_server.ts';
import { readSupRecord } from '../../ops/cli/sup_store.ts';
import type { Alert, SupRecord } from '../../ops/cli/supervisor.ts';
import { until } from '../support/bus.ts';

const root = resolve(import.meta.dirname, '..', '..');

function cli(env: NodeJS.ProcessEnv, ...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'ops', 'actors.mjs'), ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('actors up supervision', () => {
  let up: ChildProcess;
  let exited: Promise<number | null>;
  let nc: NatsConnection;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let out = '';
  const alerts: Alert[] = [];
  const sup = async (name: string): Promise<SupRecord | undefined> => await readSupRecord(nc, name);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickbus-sup-'));
    const procs = join(dir, 'process.csv');
    writeFileSync(procs, 'proctype,procname,startwithall,restartpolicy,notes\ntickerplant,tp1,1,always,\nrdb,rdb1,1,always,\n');
    const port = await freePort();
    env = { ...process.env, LOG_LEVEL: 'warn' };
    delete env.NATS_URL;
    up = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--procs', procs, '--port', String(port), '--data', join(dir, 'data'), '--backoff-ms', '200', '--crash-loop-restarts', '3', '--stop-grace-ms', '5000'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    up.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    exited = new Promise((r) => up.once('exit', (code) => r(code)));
    env = { ...env, NATS_URL: `nats://127.0.0.1:${port}` };
    await until(() => /rdb1\s+rdb\s+\d+\s+up/.test(out), 90_000, 100);
    nc = await connect({ servers: env.NATS_URL });
    const sub = nc.subscribe('alert.>');
    void (async () => {
      for await (const m of sub) alerts.push(m.json<Alert>());
    })();
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    up?.kill('SIGINT');
    if (up) expect(await exited).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('supervisor: a SIGKILLed child is restarted with a new pid, the others untouched', async () => {
    const tp = (await sup('tp1'))!;
    const rdb = (await sup('rdb1'))!;
    expect(rdb).toMatchObject({ type: 'tickbus.v1.sup', launcher: 'up', state: 'running', restarts: 0, policy: 'always' });
    process.kill(rdb.pid!, 'SIGKILL');
    await until(async () => {
      const r = await sup('rdb1');
      return r?.state === 'running' && r.pid !== rdb.pid;
    }, 60_000, 100);
    const after = (await sup('rdb1'))!;
    expect(after).toMatchObject({ restarts: 1, lastExit: { signal: 'SIGKILL', code: null } });
    expect(alive(after.pid!)).toBe(true);
    expect(await sup('tp1')).toMatchObject({ state: 'running', restarts: 0, pid: tp.pid });
    expect(alerts.some((a) => a.kind === 'restart' && a.subject === 'rdb1' && a.level === 'warning')).toBe(true);
    const ps = cli(env, 'ps');
    expect(ps.stdout).toMatch(/rdb1\s+rdb\s+\S+\s+[\d-]+ [\d:]+\s+\S+.*running\s+1\s+SIGKILL/);
  }, 90_000);

  it('supervisor: a crash loop marks the process failed and alerts; actors restart brings it back', async () => {
    const tp = (await sup('tp1'))!;
    // crash-loop-restarts 3: the fourth exit within the window is a loop (the previous test's
    // SIGKILL may count too, if within the window).
    let kills = 0;
    while ((await sup('rdb1'))?.state !== 'failed') {
      expect(kills).toBeLessThan(4);
      await until(async () => {
        const r = await sup('rdb1');
        return r?.pid !== undefined || r?.state === 'failed';
      }, 60_000, 50);
      const r = (await sup('rdb1'))!;
      if (r.state === 'failed') break;
      process.kill(r.pid!, 'SIGKILL');
      kills++;
      await until(async () => (await sup('rdb1'))?.pid !== r.pid, 30_000, 50);
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    await until(() => alerts.some((a) => a.kind === 'crash-loop'), 5_000, 50);
    const loop = alerts.find((a) => a.kind === 'crash-loop')!;
    expect(loop).toMatchObject({ type: 'tickbus.v1.alert', level: 'error', source: { proctype: 'launcher', name: 'up' }, subject: 'rdb1' });
    expect(Number.isNaN(Date.parse(loop.at))).toBe(false);
    expect(out).toMatch(/rdb1 failed: crash loop/);
    expect(await sup('tp1')).toMatchObject({ state: 'running', pid: tp.pid });
    const r = cli(env, 'restart', 'rdb1');
    expect(r.status, r.stderr).toBe(0);
    await until(async () => (await sup('rdb1'))?.state === 'running', 60_000, 100);
    const unknown = cli(env, 'restart', 'nosuch');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/BAD_QUERY.*nosuch/);
  }, 120_000);

  it('supervisor: actors kill --name stops a supervised process and it stays stopped', async () => {
    const before = (await sup('rdb1'))!;
    const k = cli(env, 'kill', '--name', 'rdb1');
    expect(k.status, k.stdout + k.stderr).toBe(0);
    expect(k.stdout).toMatch(/rdb1\s+rdb\s+yes\s+\d+\s+stopped by launcher up/);
    expect(alive(before.pid!)).toBe(false);
    // Well past the first backoff: still stopped.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await sup('rdb1')).toMatchObject({ state: 'stopped', lastExit: { code: 0 } });
    const s = cli(env, 'start', 'rdb1');
    expect(s.status, s.stderr).toBe(0);
    await until(async () => (await sup('rdb1'))?.state === 'running', 60_000, 100);
    const none = cli(env, 'kill', '--type', 'nosuch');
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/NO_MATCHING_PROCESS/);
  }, 120_000);
});
