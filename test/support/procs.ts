// Child processes for tests and benchmarks: `actors start <type> --name <name>` with a config
// file, waiting until the process answers ctl.<name>.status.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { subjects } from '../../bus/subjects.ts';
import { nodeFlags } from '../../ops/node_flags.mjs';

const root = resolve(import.meta.dirname, '..', '..');

export interface Proc {
  name: string;
  proctype: string;
  child: ChildProcess;
  exited: Promise<void>;
  output: string[];
}

export function spawnProc(proctype: string, name: string, cfg: string, url: string, env: Record<string, string> = {}, args: string[] = []): Proc {
  // TICKBUS_CHILD_PROF=<dir> writes a V8 CPU profile of each child there (for profiling benches).
  const prof = process.env.TICKBUS_CHILD_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TICKBUS_CHILD_PROF}`] : [];
  const child = spawn(process.execPath, [...nodeFlags(), ...prof, '--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'start', proctype, '--name', name, '--config', cfg, ...args], {
    // TICKBUS_PARENT_PID: the child stops itself when this test process is gone (no orphans even
    // when a test fails before its cleanup).
    env: { ...process.env, NATS_URL: url, LOG_LEVEL: 'warn', TICKBUS_PARENT_PID: String(process.pid), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (b: Buffer) => {
    if (output.length < 200) output.push(b.toString());
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { name, proctype, child, exited, output };
}

export async function status<T = Record<string, unknown>>(nc: NatsConnection, name: string, timeoutMs = 1_000): Promise<T | undefined> {
  try {
    const m = await nc.request(subjects.ctl(name, 'status'), '', { timeout: timeoutMs });
    return (JSON.parse(new TextDecoder().decode(m.data)) as { status: T }).status;
  } catch {
    return undefined;
  }
}

export async function waitUp(nc: NatsConnection, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await status(nc, name, 300)) === undefined) {
    if (Date.now() > deadline) throw new Error(`${name} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopProc(p: Proc, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

/** Runs the real `actors` CLI (node ops/actors.mjs) as a child with `env` added; resolves with its exit code and output. */
export function runActorsCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'ops', 'actors.mjs'), ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => done({ code, out, err }));
  });
}
