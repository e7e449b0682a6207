// Proves a whole secure system works and holds: `actors up --secure` (a real launcher, the real
// processes tickerplant, RDB, HDB, gateway, monitor, reporter, housekeeping, file alerter, stream
// processors and feed,
// each connected with its role's
// credentials file) against a nats-server running the configuration that the same setup generated.
// Clients written without the project's libraries (test/support/raw_nats.ts) then act as roles:
// a feed's update is acked by the tickerplant; the demo feed's and that update's rows reach the
// RDB; a client queries them through the gateway and reads the log by sequence, but cannot create
// a consumer, stop a process, query the RDB directly or publish into the log; admin
// can stop a process. The server logged no permission violation by any process (only the ones the
// test provoked as client and feed), and neither the server nor the launcher logged a password.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../../bus/nats_server.ts';
import { ROLES, type Role } from '../../ops/security/roles.ts';
import { prepareSecurity, type SecureSetup } from '../../ops/security/setup.ts';
import { nodeFlags } from '../../ops/node_flags.mjs';
import { RawNats } from '../support/raw_nats.ts';

const root = resolve(import.meta.dirname, '..', '..');
let dir: string;
let setup: SecureSetup;
let server: NatsServer;
let up: ChildProcess;
let upExited: Promise<void>;
const serverLog: string[] = [];
const upOutput: string[] = [];
const clients: RawNats[] = [];

function creds(role: Role): { user: string; pass: string } {
  const c = JSON.parse(readFileSync(setup.credsFiles[role], 'utf8')) as { user: string; password: string };
  return { user: c.user, pass: c.password };
}

async function as(role: Role): Promise<RawNats> {
  const c = await RawNats.connect(server.port, creds(role));
  clients.push(c);
  return c;
}

/** Retries `fn` until it returns a value (bounded); the last error is in the failure. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not within ${timeoutMs} ms: ${String((last as Error | undefined)?.message ?? last)}; launcher: ${upOutput.slice(-5).join('')}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickbus-sec-system-'));
  const cfg = JSON.parse(readFileSync(join(root, 'ops', 'config.json'), 'utf8')) as { defaults: Record<string, Record<string, unknown>> };
  cfg.defaults.tickerplant = { mode: 'immediate', eodTime: '00:00', eodZone: 'UTC', intradayFreqMs: 3_600_000 };
  cfg.defaults.feed = { tp: 'tp1', syms: 5, quotesPerSec: 20, tradesPerSec: 10 };
  cfg.defaults.monitor = { warnAfterBeats: 2, errorAfterBeats: 3 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  writeFileSync(
    join(dir, 'process.csv'),
    [
      'proctype,procname,startwithall',
      'tickerplant,tp1,1',
      'rdb,rdb1,1',
      'hdb,hdb1,1',
      'gateway,gw1,1',
      'monitor,monitor1,1',
      'reporter,reporter1,1',
      'housekeeping,housekeeping1,1',
      'filealerter,filealerter1,1',
      'streams,streams1,1',
      'feed,feed1,1',
    ].join('\n') + '\n',
  );
  // The same setup `actors up --secure --data <dir>` makes (it keeps what it finds): the server
  // runs it here so that the test reads the server's log.
  setup = prepareSecurity({ dir: join(dir, 'secure'), users: true, tls: false, tps: ['tp1'], streamManagers: ['streams1'] });
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
  const admin = await as('admin');
  // The launcher starts the processes one by one; the feed is the last.
  await eventually('feed1 up', async () => JSON.parse((await admin.request('ctl.feed1.status', {}, 1_000)).body) as unknown, 120_000);
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
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

const trade = (sym: string) => ({ type: 'tickbus.v1.upd', id: `sec-${sym}`, rows: [[sym, 1.5, 7, 'buy']] });
const gwQuery = (sym: string) => ({ type: 'tickbus.v1.gateway.request', target: ['rdb'], query: { type: 'tickbus.v1.query', table: 'trade', syms: [sym] } });

describe('security: a whole system under --secure', () => {
  it('security: a feed user updates the tickerplant and gets its ack; it may not publish into the log', async () => {
    const feed = await as('feed');
    const ack = JSON.parse((await feed.request('tp.tp1.upd.trade', trade('SECA'))).body) as { type: string; rows: number };
    expect(ack).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    feed.publish('tick.tp1.trade', { forged: true });
    feed.publish('q.rdb.rdb1', { type: 'tickbus.v1.query', table: 'trade' });
    await feed.ping();
    expect(feed.violations('Publish')).toEqual(['tick.tp1.trade', 'q.rdb.rdb1']);
  });

  it('security: a client queries the rows (its feed update and the demo feed) through the gateway', async () => {
    const client = await as('client');
    const r = await eventually(
      'SECA through the gateway',
      async () => {
        const reply = JSON.parse((await client.request('gw.gw1.sync', gwQuery('SECA'), 10_000)).body) as { type: string; result?: { n: number; cols: { sym: string[] } } };
        return reply.result && reply.result.n >= 1 ? reply : undefined;
      },
      30_000,
    );
    expect(r.type).toBe('tickbus.v1.gateway.reply');
    expect(r.result!.cols.sym).toEqual(['SECA']);
    const admin = await as('admin');
    const st = await eventually(
      'demo feed rows in the rdb',
      async () => {
        const s = JSON.parse((await admin.request('ctl.rdb1.status', {})).body) as { status: { tables: { trade: number; quote: number } } };
        return s.status.tables.trade > 1 && s.status.tables.quote > 0 ? s : undefined;
      },
      30_000,
    );
    expect(st.status.tables.trade).toBeGreaterThan(1);
  });

  it('security: a client reads the log by sequence (direct get) but cannot create a consumer that would push it to ctl.<name>.stop', async () => {
    const client = await as('client');
    const last = await client.request('$JS.API.DIRECT.GET.TICK_tp1', { last_by_subj: 'tick.tp1.trade' });
    expect(last.headers['Nats-Stream']).toBe('TICK_tp1');
    expect(last.headers['Nats-Subject']).toBe('tick.tp1.trade');
    const first = await client.request('$JS.API.DIRECT.GET.TICK_tp1', { seq: 1 });
    expect(first.headers['Nats-Sequence']).toBe('1');
    client.publish('$JS.API.CONSUMER.CREATE.TICK_tp1', { stream_name: 'TICK_tp1', config: { deliver_subject: 'ctl.rdb1.stop', deliver_policy: 'all', ack_policy: 'none' } });
    await client.ping();
    expect(client.violations('Publish')).toEqual(['$JS.API.CONSUMER.CREATE.TICK_tp1']);
  });

  it('security: an async gateway query posts back to an _INBOX subject the client listens on', async () => {
    const client = await as('client');
    const postback = `_INBOX.pb${process.pid}`;
    const result = client.nextMessage(postback, 30_000);
    const accepted = JSON.parse((await client.request('gw.gw1.async', { ...gwQuery('SECA'), id: 'pb-1', postback }, 10_000)).body) as { type: string };
    expect(accepted).toMatchObject({ type: 'tickbus.v1.gateway.accepted', postback });
    const m = await result;
    expect(m.headers['Tb-Query-Id']).toBe('pb-1');
    expect(JSON.parse(m.body)).toMatchObject({ type: 'tickbus.v1.gateway.reply', result: { n: 1 } });
  });

  it('security: a postback outside _INBOX is refused to the gateway by the server, and the gateway keeps serving', async () => {
    const client = await as('client');
    const accepted = JSON.parse((await client.request('gw.gw1.async', { ...gwQuery('SECA'), id: 'pb-2', postback: 'my.results' }, 10_000)).body) as { type: string };
    expect(accepted.type).toBe('tickbus.v1.gateway.accepted');
    await eventually('the gateway refused on my.results', async () => (serverLog.some((l) => /Publish Violation - User "gateway", Subject "my\.results"/.test(l)) ? true : undefined), 30_000);
    const reply = JSON.parse((await client.request('gw.gw1.sync', gwQuery('SECA'), 10_000)).body) as { result: { n: number } };
    expect(reply.result.n).toBe(1);
  });

  it('security: the reporter, housekeeping and file alerter do their work under their roles', async () => {
    const admin = await as('admin');
    const call = async (subject: string, api: string, args: unknown[]) => JSON.parse((await admin.request(subject, { type: 'tickbus.v1.call', api, args }, 30_000)).body) as Record<string, unknown>;
    // A report through the gateway, into a file.
    expect(await call('q.reporter.reporter1', 'runNow', ['tradesummary'])).toMatchObject({ stage: 'C' });
    expect(await call('q.housekeeping.housekeeping1', 'run', [{ dryRun: true }])).toMatchObject({ type: 'tickbus.v1.housekeeping.report', dryRun: true });
    // A CSV dropped into data/incoming reaches the RDB through the tickerplant.
    mkdirSync(join(dir, 'incoming'), { recursive: true });
    writeFileSync(join(dir, 'incoming', 'trade_sec.csv'), 'sym,price,size,side\nSECF,3.5,30,buy\n');
    await call('q.filealerter.filealerter1', 'poll', []);
    const client = await as('client');
    const r = await eventually(
      'SECF through the gateway',
      async () => {
        const reply = JSON.parse((await client.request('gw.gw1.sync', gwQuery('SECF'), 10_000)).body) as { result?: { n: number } };
        return reply.result && reply.result.n >= 1 ? reply : undefined;
      },
      30_000,
    );
    expect(r.result!.n).toBe(1);
    // The stream processors under their role: the shipped bigtrades stream reads the demo feed's
    // trades from the log (its own durable consumer) and publishes its outputs on st.streams1.>.
    let lastBody = '';
    const st = await eventually(
      'streams1 reading trades',
      async () => {
        const body = (lastBody = (await admin.request('ctl.streams1.status', {}, 5_000)).body);
        return /"in":[1-9]/.test(body) && /"aapl":[1-9]/.test(body) ? body : undefined;
      },
      25_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last status ${lastBody.slice(0, 1500)}`);
    });
    expect(st).toMatch(/"dropped":0/);
  });

  it('security: a client can neither stop a process nor query one directly; the process keeps serving', async () => {
    const client = await as('client');
    client.publish('ctl.rdb1.stop', {});
    client.publish('ctl.gw1.stop', {});
    client.publish('q.rdb.rdb1', { type: 'tickbus.v1.query', table: 'trade' });
    client.publish('tp.tp1.upd.trade', trade('SECC'));
    await client.ping();
    expect(client.violations('Publish')).toEqual(['ctl.rdb1.stop', 'ctl.gw1.stop', 'q.rdb.rdb1', 'tp.tp1.upd.trade']);
    const reply = JSON.parse((await client.request('gw.sync', gwQuery('SECA'), 10_000)).body) as { result: { n: number } };
    expect(reply.result.n).toBe(1);
  });

  it('security: admin ends the period over ctl.tp1.eop; the tickerplant writes its stpmeta entry under its role', async () => {
    const admin = await as('admin');
    const m = JSON.parse((await admin.request('ctl.tp1.eop', { by: 'sec-admin', reason: 'secure test' }, 10_000)).body) as { type: string; by: string; start: number; period: string };
    expect(m).toMatchObject({ type: 'tickbus.v1.eop', by: 'sec-admin' });
    const entry = await eventually(
      'stpmeta entry',
      async () => {
        const r = JSON.parse((await admin.request('$JS.API.STREAM.MSG.GET.KV_stpmeta', { last_by_subj: `$KV.stpmeta.tp1.${m.start}` })).body) as { message?: { data: string } };
        return r.message ? (JSON.parse(Buffer.from(r.message.data, 'base64').toString()) as { period: string }) : undefined;
      },
      10_000,
    );
    expect(entry.period).toBe(m.period);
  });

  it('security: no process hit a permission violation; nothing logged a password', () => {
    const violations = serverLog.filter((l) => /Violation/.test(l) && !/authentication/.test(l));
    // The test's own: as client and feed, and the gateway's refused postback to my.results.
    const byProcesses = violations.filter((l) => !/User "(client|feed)"/.test(l) && !/User "gateway", Subject "my\.results"/.test(l));
    expect(byProcesses).toEqual([]);
    expect(violations.length).toBeGreaterThan(0);
    const secrets = ROLES.map((r) => creds(r).pass);
    const logs = [...serverLog, ...upOutput].join('\n');
    for (const s of secrets) expect(logs.includes(s)).toBe(false);
  });

  it('security: a stream pushed onto ctl.<name>.stop (a consumer with that deliver subject) stops nothing', async () => {
    // Only admin may create such a consumer here; the runtime refuses it anyway, for any role
    // that can create consumers (decision 62).
    const admin = await as('admin');
    const api = async (subject: string, body: unknown) => JSON.parse((await admin.request(subject, body)).body) as Record<string, unknown>;
    expect(await api('$JS.API.STREAM.CREATE.SECPUSH', { name: 'SECPUSH', subjects: ['secpush.>'], storage: 'memory' })).not.toHaveProperty('error');
    admin.publish('secpush.x', { type: 'tickbus.v1.ok' });
    await admin.ping();
    const created = await api('$JS.API.CONSUMER.CREATE.SECPUSH', { stream_name: 'SECPUSH', config: { deliver_subject: 'ctl.rdb1.stop', deliver_policy: 'all', ack_policy: 'none' } });
    expect(created).not.toHaveProperty('error');
    const before = JSON.parse((await admin.request('ctl.rdb1.status', {})).body) as { pid: number };
    const after = await eventually(
      'rdb1 refused the pushed stop',
      async () => {
        const s = JSON.parse((await admin.request('ctl.rdb1.status', {})).body) as { pid: number; ctlRefused?: number };
        return (s.ctlRefused ?? 0) >= 1 ? s : undefined;
      },
      30_000,
    );
    expect(after.pid).toBe(before.pid);
    await api('$JS.API.STREAM.DELETE.SECPUSH', {});
  });

  it('security: admin stops a process with ctl.<name>.stop', async () => {
    const admin = await as('admin');
    const ok = JSON.parse((await admin.request('ctl.hdb1.stop', {})).body) as { type: string; name: string };
    expect(ok).toEqual({ type: 'tickbus.v1.ok', name: 'hdb1' });
    await eventually('hdb1 gone', async () => admin.request('ctl.hdb1.status', {}, 500).then((r) => (r.body === '' ? true : undefined), () => true), 30_000);
  });
});
