// Proves `actors kill` on processes no launcher supervises (started one by one, as `actors start`
// does), against a real nats-server: a process that answers stops over ctl.<name>.stop; a process
// that does not answer (paused with SIGSTOP) gets SIGTERM and then SIGKILL after the stated
// bound; --type selects every process of a type; an unknown name is a typed error.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { connectTo, startServer } from '../support/bus.ts';
import { spawnProc, stopProc, waitUp, type Proc } from '../support/procs.ts';

const root = resolve(import.meta.dirname, '..', '..');
const cfg = join(root, 'ops', 'config.json');

describe('actors kill', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const procs: Proc[] = [];
  const kill = (...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'ops', 'actors.mjs'), 'kill', ...args], { env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 60_000 });

  beforeAll(async () => {
    server = await startServer();
    nc = await connectTo(server);
    for (const name of ['monk1', 'monk2', 'monk3']) procs.push(spawnProc('monitor', name, cfg, server.url));
    for (const p of procs) await waitUp(nc, p.name, 60_000);
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) await stopProc(p, 2_000);
    await nc?.close();
    await server?.dispose();
  });

  it('kill: --name stops a process over ctl stop', async () => {
    const r = kill('--name', 'monk1');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/monk1\s+monitor\s+yes\s+\d+\s+stopped over ctl stop/);
    await procs[0]!.exited;
    expect(procs[0]!.child.exitCode).toBe(0);
  }, 60_000);

  it('kill: a process that does not answer gets SIGTERM, then SIGKILL after the bound', async () => {
    const p = procs[1]!;
    process.kill(p.child.pid!, 'SIGSTOP'); // paused: no answer to ctl stop, SIGTERM stays pending
    const r = kill('--name', 'monk2', '--timeout', '1000');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/monk2\s+monitor\s+yes\s+\d+\s+no answer to ctl stop; no exit 1000 ms after SIGTERM; killed by SIGKILL/);
    await p.exited;
    expect(p.child.signalCode).toBe('SIGKILL');
  }, 60_000);

  it('kill: --type selects every live process of the type; an unknown name is NO_MATCHING_PROCESS', async () => {
    const none = kill('--name', 'nosuch');
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/NO_MATCHING_PROCESS.*nosuch/);
    const usage = kill('--name', 'a', '--all');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/BAD_USAGE/);
    const r = kill('--type', 'monitor');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/monk3\s+monitor\s+yes/);
    await procs[2]!.exited;
  }, 60_000);
});
