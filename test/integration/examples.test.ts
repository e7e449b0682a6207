// Proves every script in examples/ runs as written: each is run the way the README says (`node
// --import tsx examples/<file>`, a child process importing 'tickbus' through package.json exports)
// with a temp data dir, starts its own real nats-server and processes, and prints what it should.
// An example without expectations here fails the test, so a new example cannot go unchecked.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const dirs: string[] = [];

/** What each example must print (stdout, in order). */
const expected: Record<string, RegExp[]> = {
  'basic.ts': [
    /^trades by sym: AAPL=2\/400 MSFT=1\/250$/m,
    /^rdb1 runs in its own process: true$/m,
    /^scale\(21, 2\) = 42$/m,
    /^after restart: scale\(5, 3\) = 15; trades by sym: AAPL=2\/400 MSFT=1\/250$/m,
    /^stopped$/m,
  ],
  'processes.ts': [
    /^started: tp1\(tickerplant\) hdb1\(hdb\) rdb1\(rdb\) gw1\(gateway\)$/m,
    /^timer ran in rdb1: true$/m,
    /^rdb1's output went to its log file: true$/m,
    /^after kill, rdb1 call: NO_RESPONDERS$/m,
    /^after start, rdb1 apis: apis,ticks,timed$/m,
    /^stopped$/m,
  ],
  'threads.ts': [
    /^published from 4 threads: 20000 rows; queried meanwhile$/m,
    /^rdb holds 20000 rows, 20000 distinct ids: none lost, none twice$/m,
    /^stopped$/m,
  ],
};

function run(file: string): Promise<{ code: number | null; out: string; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tickbus-ex-'));
  dirs.push(dir);
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('examples', file), join(dir, 'data')], { cwd: root, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4_000)));
    // Bounded: an example that hangs is killed and fails on its exit code.
    const t = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('exit', (code) => (clearTimeout(t), done({ code, out, err })));
  });
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const files = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts')).sort();

describe('examples', () => {
  it('examples: every example script has expectations here', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !expected[f])).toEqual([]);
  });

  for (const f of files) {
    it(`examples: ${f} runs as written and prints what it should`, { timeout: 180_000 }, async () => {
      const r = await run(f);
      expect({ code: r.code, err: r.code === 0 ? '' : r.err }).toEqual({ code: 0, err: '' });
      let at = 0;
      for (const re of expected[f] ?? []) {
        const m = re.exec(r.out.slice(at));
        expect(m, `${f}: ${re} after offset ${at} in:\n${r.out}`).not.toBeNull();
        at += m!.index + m![0].length;
      }
      // basic.ts runs with processLogs: false: its four processes print nothing at all, so the
      // script's output is its own lines only (no process log line on stdout or stderr).
      if (f === 'basic.ts') expect({ lines: r.out.trim().split('\n').length, err: r.err }).toEqual({ lines: expected[f]!.length, err: '' });
    });
  }
});
