// Proves the `actors` CLI's contract as a user meets it, by running the real CLI (node ops/actors.mjs,
// a child process): `--help` on every command and `actors help <cmd>` print that command's usage and
// exit 0; an unknown flag is a BAD_USAGE error naming the flag and the valid ones; an unknown
// command names the commands; a typed error prints `actors: <CODE>: <message>` with no stack, and
// with --verbose its detail and stack; an error that is not typed (no server) prints its message
// only, exit 1. No nats-server is needed except for the last case, which points at a closed port.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from '../../bus/nats_server.ts';

const root = resolve(import.meta.dirname, '..', '..');

function actors(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'ops', 'actors.mjs'), ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => done({ code, out, err }));
  });
}

const COMMANDS = ['up', 'start', 'restart', 'kill', 'eop', 'ps', 'query', 'tail', 'replay', 'usage', 'help', 'buffer'];
const STACK_LINE = /^\s+at /m;

describe('actors CLI', () => {
  it('actors: --help on every command prints its usage and exits 0; actors help <cmd> the same', async () => {
    const runs = await Promise.all(COMMANDS.flatMap((c) => [actors([c, '--help']), actors(['help', c])]));
    COMMANDS.forEach((c, i) => {
      const [flag, help] = [runs[2 * i]!, runs[2 * i + 1]!];
      expect(flag.code, c).toBe(0);
      expect(flag.out, c).toMatch(new RegExp(`^  actors ${c}\\b`));
      expect(help.out, c).toBe(flag.out);
      expect(flag.err, c).toBe('');
    });
    const all = await actors(['help']);
    expect(all.code).toBe(0);
    for (const c of COMMANDS) expect(all.out).toMatch(new RegExp(`^  actors ${c}\\b`, 'm'));
    expect(all.out).toMatch(/--verbose/);
  }, 180_000); // 26 CLI start-ups at once: generous on a shared, slow machine

  it('actors: an unknown flag is BAD_USAGE naming the flag and the valid ones, with no stack', async () => {
    const r = await actors(['usage', '--sinse', '1h']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^actors: BAD_USAGE: unknown flag --sinse for actors usage; valid: --since, --user, --proc, --status, --limit, --json, --help, --verbose$/m);
    expect(r.err).not.toMatch(STACK_LINE);
    const ps = await actors(['ps', '--target', 'rdb']);
    expect(ps.err).toMatch(/unknown flag --target for actors ps; valid: --json, --help, --verbose/);
    const cmd = await actors(['stauts']);
    expect(cmd.code).toBe(2);
    expect(cmd.err).toMatch(/^actors: BAD_USAGE: unknown command "stauts"; commands: up, start, restart, kill, eop, ps, query, tail, replay, usage, help, housekeeping, compress, buffer$/m);
  }, 30_000);

  it('actors: a typed error prints its code and message without a stack; --verbose adds the detail and the stack', async () => {
    const plain = await actors(['query', '{not json']);
    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/^actors: BAD_USAGE: the query is not JSON: /);
    expect(plain.err).not.toMatch(STACK_LINE);
    const verbose = await actors(['query', '{not json', '--verbose']);
    expect(verbose.code).toBe(2);
    expect(verbose.err).toMatch(/^actors: BAD_USAGE: the query is not JSON: /);
    expect(verbose.err).toMatch(/^detail: \{"param":"query"\}$/m);
    expect(verbose.err).toMatch(STACK_LINE);
    expect(verbose.err).toMatch(/TickbusError/);
    const missing = await actors(['start', 'rdb']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^actors: BAD_USAGE: actors start needs a process type and --name/);
  }, 30_000);

  it('actors: an untyped error (no server) prints its message only, exit 1', async () => {
    const port = await freePort();
    const r = await actors(['ps', '--json'], { NATS_URL: `nats://127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^actors: \S/);
    expect(r.err).not.toMatch(/^actors: [A-Z_]+: /);
    expect(r.err).not.toMatch(STACK_LINE);
  }, 30_000);
});
