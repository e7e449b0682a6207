#!/usr/bin/env node
// The one entry point behind `npm start`, `npm test` and `npm run bench` on a fresh machine:
// it installs what is missing (npm packages, then nats-server from Debian's packages when
// running as root) and then runs the requested command. It uses only Node's standard library
// because it runs before node_modules exists.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const command = process.argv[2] ?? 'up';
const rest = process.argv.slice(3);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function onPath(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const needed = ['xstate', '@nats-io/jetstream', 'cbor-x', 'tsx', 'vitest', '@duckdb/node-api'];
  if (existsSync(marker) && needed.every((p) => existsSync(join(root, 'node_modules', p)))) return;
  // `npm ci` installs exactly the lock file (it lists every optional platform package of DuckDB,
  // so macOS and Linux arm64 install too) and fails loudly when package.json and the lock differ.
  console.error('[tickbus] installing npm packages (npm ci) ...');
  const status = run('npm', ['ci', '--no-audit', '--no-fund']);
  if (status !== 0) {
    console.error('[tickbus] npm ci failed (is package-lock.json in step with package.json? `npm install` updates it)');
    process.exit(status);
  }
}

function ensureNatsServer() {
  if (process.env.NATS_URL && command === 'up') return; // an external server is used
  if (process.env.NATS_SERVER_BIN || onPath('nats-server')) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.error(
      '[tickbus] nats-server is not on PATH. Install it (Debian: `sudo apt-get install -y nats-server`,\n' +
        'or download from https://github.com/nats-io/nats-server/releases) or set NATS_SERVER_BIN.',
    );
    process.exit(2);
  }
  console.error('[tickbus] installing nats-server with apt-get ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update'], { env }) !== 0 || run('apt-get', ['install', '-y', 'nats-server'], { env }) !== 0) {
    console.error('[tickbus] apt-get install nats-server failed');
    process.exit(2);
  }
}

// The monitor page's browser test (test/integration/monitor_web.test.ts) drives Debian's
// headless Chromium with playwright-core; only `npm test` needs it.
const CHROMIUM_PATHS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];

function ensureChromium() {
  if (command !== 'test') return;
  if (process.env.TICKBUS_CHROMIUM || CHROMIUM_PATHS.some((p) => existsSync(p))) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.error(
      '[tickbus] no Chromium for the monitor page test (looked for ' + CHROMIUM_PATHS.join(', ') + ').\n' +
        'Install it (Debian: `sudo apt-get install -y chromium-headless-shell`) or set TICKBUS_CHROMIUM; that test fails without it.',
    );
    return;
  }
  console.error('[tickbus] installing chromium-headless-shell with apt-get ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (pkg) => run('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env }) === 0;
  // Older releases lack the headless-shell package: the full chromium then.
  if (run('apt-get', ['update'], { env }) !== 0 || !(install('chromium-headless-shell') || install('chromium'))) {
    console.error('[tickbus] apt-get install chromium-headless-shell (or chromium) failed; the monitor page test will fail');
  }
}

ensureNodeModules();
ensureNatsServer();
ensureChromium();

// The final command runs as a child that owns the terminal: Ctrl-C reaches it through the
// process group, and a SIGTERM sent to this wrapper is forwarded, so it can stop cleanly.
const tsx = ['--import', 'tsx'];
const args =
  command === 'test'
    ? [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...rest]
    : command === 'bench'
      ? [...tsx, join(root, 'test', 'bench', 'run.ts'), ...rest]
      : [...tsx, join(root, 'ops', 'cli', 'main.ts'), command, ...rest];
const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: root });
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
