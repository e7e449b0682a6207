// Proves the end of day works under `actors up --secure`, the one path of the system that only
// runs at a day's roll: the RDB writes the day to the HDB, reads the registry for an HDB holding it
// (KV `proc`), publishes `hdb.reload`, and the HDB reloads and answers for the day. Demo days
// (`demoDayMs`) roll every few seconds, so the test waits for a partition instead of a midnight.
// The nats-server runs the config the same setup generated, and its log must show no permission
// violation at all.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../../bus/nats_server.ts';
import { nodeFlags } from '../../ops/node_flags.mjs';
import { prepareSecurity, type SecureSetup } from '../../ops/security/setup.ts';
import { RawNats } from '../support/raw_nats.ts';

const root = resolve(import.meta.dirname, '..', '..');
let dir: string;
let setup: SecureSetup;
let server: NatsServer;
let up: ChildProcess;
let upExited: Promise<void>;
let admin: RawNats;
const serverLog: string[] = [];
const upOutput: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickbus-sec-eod-'));
  const cfg = JSON.parse(readFileSync(join(root, 'ops', 'config.json'), 'utf8')) as { defaults: Record<string, Record<string, unknown>> };
  cfg.defaults.tickerplant = { mode: 'immediate', demoDayMs: 4_000 };
  cfg.defaults.feed = { tp: 'tp1', syms: 5, quotesPerSec: 20, tradesPerSec: 20 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  writeFileSync(join(dir, 'process.csv'), ['proctype,procname,startwithall', 'tickerplant,tp1,1', 'rdb,rdb1,1', 'hdb,hdb1,1', 'feed,feed1,1'].join('\n') + '\n');
  setup = prepareSecurity({ dir: join(dir, 'secure'), users: true, tls: false, tps: ['tp1'] });
  server = await NatsServer.start({ storeDir: join(dir, 'nats'), config: setup.serverConfig, configPath: setup.serverConfigPath, onLog: (l) => serverLog.length < 10_000 && serverLog.push(l) });
  up = spawn(process.execPath, [...nodeFlags(), '--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--secure', '--data', dir, '--config', join(dir, 'config.json'), '--procs', join(dir, 'process.csv')], {
    env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'warn', TICKBUS_CREDS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const keep = (b: Buffer) => upOutput.length < 2_000 && upOutput.push(b.toString());
  up.stdout!.on('data', keep);
  up.stderr!.on('data', keep);
  upExited = new Promise((r) => up.once('exit', () => r()));
  const c = JSON.parse(readFileSync(setup.credsFiles.admin, 'utf8')) as { user: string; password: string };
  admin = await RawNats.connect(server.port, { user: c.user, pass: c.password });
}, 60_000);

afterAll(async () => {
  admin?.close();
  if (up && up.exitCode === null) {
    try {
      process.kill(-up.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    const t = setTimeout(() => up.kill('SIGKILL'), 30_000);
    await upExited;
    clearTimeout(t);
  }
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('security: end of day under --secure', () => {
  it('security: the RDB writes a day, the HDB reloads and answers it; no permission violation', async () => {
    const deadline = Date.now() + 120_000;
    let hdb: { status: { partitions: number; tables: string[] } } | undefined;
    while (Date.now() < deadline) {
      const r = await admin.request('ctl.hdb1.status', {}, 1_000).catch(() => undefined);
      hdb = r?.body ? (JSON.parse(r.body) as typeof hdb) : undefined;
      // The first demo days may pass before the feed runs: wait for one with trades.
      if (hdb && hdb.status.partitions >= 1 && hdb.status.tables.includes('trade')) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(hdb?.status.tables, upOutput.slice(-5).join('')).toContain('trade');
    const q = JSON.parse((await admin.request('q.hdb.hdb1', { type: 'tickbus.v1.sql', sql: 'SELECT count(*) AS n FROM trade' }, 30_000)).body) as { type: string; n: number };
    expect(q).toMatchObject({ type: 'tickbus.v1.result', n: 1 });
    expect(serverLog.filter((l) => /Violation/.test(l))).toEqual([]);
  }, 150_000);
});
