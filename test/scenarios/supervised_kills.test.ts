// Scenario "one crash never stops the system": the whole demo system under `actors up` (embedded
// nats-server and every process of ops/process.csv: tickerplant, RDB, HDB, gateway, monitor,
// reporter, housekeeping, file alerter, demo feed); while the feed runs and the
// gateway is queried, each process type is SIGKILLed in turn, then the embedded nats-server. Each
// comes back (a new pid, `running` in KV `sup`) and the gateway answers again before the next
// kill. At the end, with the feed stopped cleanly: no feed id is in the log twice, every Tb-Count
// equals the rows of its table before it, and the RDB holds exactly the log's rows. It prints the
// time from each SIGKILL to the process answering again and to the gateway answering again.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decode, encode } from '../../bus/codec.ts';
import { GatewayClient } from '../../bus/gateway_client.ts';
import { freePort } from '../../bus/nats_server.ts';
import { readSupRecord, readSupRecords } from '../../ops/cli/sup_store.ts';
import { readProcessTable } from '../../ops/config.ts';
import type { SupRecord } from '../../ops/cli/supervisor.ts';
import { readLog } from '../support/bus.ts';

const root = resolve(import.meta.dirname, '..', '..');
const TABLES = ['trade', 'quote'] as const;

/** Polls cond (a throw counts as not yet: nats-server may be down) until true or the bound. */
async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await Promise.resolve().then(cond).catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rdbCount(nc: NatsConnection, table: string): Promise<number> {
  const m = await nc.request('q.rdb.rdb1', encode({ type: 'tickbus.v1.query', table, count: true }), { timeout: 2_000 });
  return decode<{ n: number }>(m.data).n;
}

describe('scenario supervised-kills', () => {
  let up: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(0);
  let dir = '';
  afterAll(async () => {
    up?.kill('SIGINT');
    expect(await exited).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('scenario supervised-kills: SIGKILL each process type and nats-server under actors up; each comes back, the gateway answers, the log and the RDB agree', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickbus-supkill-'));
    const cfg = JSON.parse(readFileSync(join(root, 'ops', 'config.json'), 'utf8')) as { defaults: Record<string, Record<string, unknown>> };
    delete cfg.defaults.tickerplant!.demoDayMs; // no end of day under the kills: one day to compare
    cfg.defaults.feed = { ...cfg.defaults.feed, quotesPerSec: 200, tradesPerSec: 50 };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.SCENARIO_LOG_LEVEL ?? 'error' };
    delete env.NATS_URL;
    up = spawn(process.execPath, ['--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--config', join(dir, 'config.json'), '--port', String(port), '--data', join(dir, 'data')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    up.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    up.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    exited = new Promise((r) => up!.once('exit', (code) => r(code)));
    await until(() => /feed1\s+feed\s+\d+\s+up/.test(out), 90_000, 'the system is up');
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const gw = new GatewayClient(nc, { timeoutMs: 3_000 });
    const gatewayAnswers = async () => {
      const r = await gw.sync<{ n: number }>({ type: 'tickbus.v1.query', table: 'trade', count: true }, 'rdb', { timeoutMs: 3_000 });
      return r.result.n > 0;
    };
    await until(gatewayAnswers, 30_000, 'the gateway answers');
    const sup = async (name: string): Promise<SupRecord | undefined> => await readSupRecord(nc, name, 1_000);
    const figures: Record<string, { backMs: number; gatewayMs: number; backoffMs: number }> = {};
    // Every process of the shipped table, the tickerplant last of them, then the server.
    const table = readProcessTable(join(root, 'ops', 'process.csv')).filter((p) => p.startwithall);
    const names = [...table.filter((p) => p.proctype !== 'tickerplant'), ...table.filter((p) => p.proctype === 'tickerplant')].map((p) => p.procname);
    for (const name of [...names, 'nats-server']) {
      const before = (await sup(name))!;
      expect(before.state, name).toBe('running');
      const t0 = Date.now();
      process.kill(before.pid!, 'SIGKILL');
      let after: SupRecord | undefined;
      await until(async () => {
        after = await sup(name);
        return after?.state === 'running' && after.pid !== before.pid;
      }, 60_000, `${name} back`);
      const backMs = Date.now() - t0;
      await until(gatewayAnswers, 30_000, `gateway answers after ${name}`);
      figures[name] = { backMs, gatewayMs: Date.now() - t0, backoffMs: Date.parse(after!.startedAt!) - Date.parse(after!.lastExit!.at) };
      expect(after).toMatchObject({ restarts: before.restarts + 1, lastExit: { signal: 'SIGKILL' } });
    }
    if (process.env.SCENARIO_LOG_LEVEL) process.stderr.write(out);
    process.stderr.write(`scenario supervised-kills: ms from SIGKILL to running / gateway answering: ${JSON.stringify(figures)}\n`);
    // Every process still up, none restarted twice.
    const all = await readSupRecords(nc, 1_000);
    for (const r of all.values()) expect(r, r.procname).toMatchObject({ state: 'running', restarts: 1 });
    // Let the feed run a little on the restarted system, then stop it cleanly (its acks all in).
    await new Promise((r) => setTimeout(r, 1_000));
    const k = spawnSync(process.execPath, [join(root, 'ops', 'actors.mjs'), 'kill', '--name', 'feed1'], { env: { ...env, NATS_URL: url }, encoding: 'utf8', timeout: 60_000 });
    expect(k.status, k.stdout + k.stderr).toBe(0);
    const log = await readLog(nc, 'tp1');
    const ids = log.batches.flatMap((b) => b.ids);
    expect(ids.length).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
    const day = log.batches.at(-1)!.day;
    for (const t of TABLES) {
      let rows = 0;
      let cur = '';
      for (const b of log.batches.filter((x) => x.table === t)) {
        if (b.day !== cur) [cur, rows] = [b.day, 0];
        rows += b.n;
        expect(b.count, `Tb-Count of ${t} at seq ${b.seq}`).toBe(rows);
      }
      const logRows = log.batches.filter((b) => b.table === t && b.day === day).reduce((s, b) => s + b.n, 0);
      await until(async () => (await rdbCount(nc, t)) === logRows, 30_000, `RDB ${t} equals the log (${logRows})`);
    }
    gw.close();
    await nc.close();
  }, 300_000);
});
