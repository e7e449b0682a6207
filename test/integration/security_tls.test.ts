// Proves the TLS option: certificates made with openssl (ops/security/tls.ts) for a nats-server
// that also has the role users; a real tickerplant process connects with its credentials and the
// CA (TICKBUS_CREDS, TICKBUS_TLS_CA) and acks a feed that speaks the raw protocol over TLS; a
// nats.js client with the CA connects; a client without TLS, and one that does not trust the CA,
// are refused; roles still hold over TLS. The certificate chain is checked with openssl itself and
// a second setup keeps the same certificates. Last, `actors up --secure --tls` end to end: its
// embedded server with the generated config, its children with their credentials and the CA.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { NatsServer, freePort } from '../../bus/nats_server.ts';
import { nodeFlags } from '../../ops/node_flags.mjs';
import type { Role } from '../../ops/security/roles.ts';
import { prepareSecurity, type SecureSetup } from '../../ops/security/setup.ts';
import { ensureTlsFiles } from '../../ops/security/tls.ts';
import { spawnProc, stopProc, type Proc } from '../support/procs.ts';
import { RawNats } from '../support/raw_nats.ts';

const root = resolve(import.meta.dirname, '..', '..');
let dir: string;
let setup: SecureSetup;
let server: NatsServer;
let tp: Proc | undefined;
const clients: RawNats[] = [];

function creds(role: Role): { user: string; pass: string } {
  const c = JSON.parse(readFileSync(setup.credsFiles[role], 'utf8')) as { user: string; password: string };
  return { user: c.user, pass: c.password };
}

async function rawTls(role: Role): Promise<RawNats> {
  const c = await RawNats.connect(server.port, { ...creds(role), tls: { ca: readFileSync(setup.tls!.caFile) } });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickbus-sec-tls-'));
  setup = prepareSecurity({ dir: join(dir, 'secure'), users: true, tls: true, tps: ['tp1'] });
  server = await NatsServer.start({ config: setup.serverConfig, configPath: setup.serverConfigPath });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  if (tp) await stopProc(tp);
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('security: TLS for client connections', () => {
  it('security: the server certificate is signed by the CA, for 127.0.0.1 and localhost; keys are 0600; a second setup keeps them', () => {
    const t = setup.tls!;
    expect(execFileSync('openssl', ['verify', '-CAfile', t.caFile, t.certFile]).toString()).toMatch(/OK/);
    const text = execFileSync('openssl', ['x509', '-in', t.certFile, '-noout', '-text']).toString();
    expect(text).toMatch(/IP Address:127\.0\.0\.1/);
    expect(text).toMatch(/DNS:localhost/);
    expect(statSync(t.keyFile).mode & 0o777).toBe(0o600);
    const again = ensureTlsFiles(setup.dir);
    expect(readFileSync(again.certFile, 'utf8')).toBe(readFileSync(t.certFile, 'utf8'));
  });

  it('security: a real tickerplant connects over TLS with its credentials and acks a raw TLS feed', async () => {
    const cfg = JSON.parse(readFileSync(join(root, 'ops', 'config.json'), 'utf8')) as { defaults: Record<string, Record<string, unknown>> };
    cfg.defaults.tickerplant = { mode: 'immediate' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    tp = spawnProc('tickerplant', 'tp1', join(dir, 'config.json'), server.url, { TICKBUS_CREDS: setup.credsFiles.tickerplant, TICKBUS_TLS_CA: setup.tls!.caFile });
    const admin = await rawTls('admin');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await admin.request('ctl.tp1.status', {}, 1_000).catch(() => undefined);
      if (r?.body) break;
      if (Date.now() > deadline || tp.child.exitCode !== null) throw new Error(`tp1 did not start: ${tp.output.join('')}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const feed = await rawTls('feed');
    const ack = JSON.parse((await feed.request('tp.tp1.upd.trade', { type: 'tickbus.v1.upd', id: 'tls-1', rows: [['TLSA', 2.5, 3, 'sell']] })).body) as { type: string; rows: number };
    expect(ack).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    feed.publish('ctl.tp1.stop', {});
    await feed.ping();
    expect(feed.violations('Publish')).toEqual(['ctl.tp1.stop']);
  }, 90_000);

  it('security: a nats.js client with the CA and credentials connects', async () => {
    const nc = await connect({ servers: server.url, timeout: 5_000, ...securityOptions({ TICKBUS_CREDS: setup.credsFiles.client, TICKBUS_TLS_CA: setup.tls!.caFile }) });
    try {
      expect(nc.info?.tls_required).toBe(true);
      await nc.flush();
    } finally {
      await nc.close();
    }
  });

  it('security: a client without TLS is refused', async () => {
    await expect(RawNats.connect(server.port, creds('admin'))).rejects.toThrow(/closed/);
  });

  it('security: a client that does not trust the CA is refused', async () => {
    const { tls: _, ...noCa } = securityOptions({ TICKBUS_CREDS: setup.credsFiles.client, TICKBUS_TLS_CA: setup.tls!.caFile });
    await expect(connect({ servers: server.url, timeout: 3_000, reconnect: false, ...noCa })).rejects.toThrow();
    // Trusting another CA (made the same way) is no better than trusting none.
    const other = ensureTlsFiles(join(dir, 'other-ca'));
    await expect(RawNats.connect(server.port, { ...creds('client'), tls: { ca: readFileSync(other.caFile) } })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    await expect(connect({ servers: server.url, timeout: 3_000, reconnect: false, ...noCa, tls: { caFile: other.caFile } })).rejects.toThrow();
  });

  it('security: actors up --secure --tls starts its own server with the generated config; children connect with their credentials', async () => {
    const data = join(dir, 'up');
    writeFileSync(join(dir, 'procs.csv'), 'proctype,procname,startwithall\ntickerplant,tp1,1\nfeed,feed1,1\n');
    const port = await freePort();
    const up = spawn(process.execPath, [...nodeFlags(), '--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'up', '--secure', '--tls', '--data', data, '--port', String(port), '--config', join(dir, 'config.json'), '--procs', join(dir, 'procs.csv')], {
      env: { ...process.env, NATS_URL: '', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: string[] = [];
    up.stdout!.on('data', (b: Buffer) => out.length < 500 && out.push(b.toString()));
    up.stderr!.on('data', (b: Buffer) => out.length < 500 && out.push(b.toString()));
    const exited = new Promise<void>((r) => up.once('exit', () => r()));
    try {
      const sec = join(data, 'secure');
      const login = (role: string) => {
        const c = JSON.parse(readFileSync(join(sec, `${role}.creds.json`), 'utf8')) as { user: string; password: string };
        return { user: c.user, pass: c.password, tls: { ca: readFileSync(join(sec, 'ca.pem')) } };
      };
      const deadline = Date.now() + 90_000;
      let admin: RawNats | undefined;
      for (;;) {
        if (Date.now() > deadline || up.exitCode !== null) throw new Error(`actors up did not start: ${out.join('')}`);
        if (existsSync(join(sec, 'ca.pem'))) {
          admin ??= await RawNats.connect(port, login('admin')).catch(() => undefined);
          if (admin && (await admin.request('ctl.feed1.status', {}, 1_000).then((r) => r.body !== '', () => false))) break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      clients.push(admin!);
      const feed = await RawNats.connect(port, login('feed'));
      clients.push(feed);
      const ack = JSON.parse((await feed.request('tp.tp1.upd.trade', { type: 'tickbus.v1.upd', id: 'up-1', rows: [['UPA', 1, 1, 'buy']] })).body) as { type: string };
      expect(ack.type).toBe('tickbus.v1.ack');
      // The demo feed (its own user) reaches the tickerplant too.
      let rows = 0;
      while (rows <= 1 && Date.now() < deadline) {
        rows = (JSON.parse((await admin!.request('ctl.tp1.status', {})).body) as { status: { rows: number } }).status.rows;
        if (rows <= 1) await new Promise((r) => setTimeout(r, 100));
      }
      expect(rows).toBeGreaterThan(1);
      await expect(RawNats.connect(port, { user: 'admin', pass: login('admin').pass })).rejects.toThrow(/closed/);
      expect(out.join('')).not.toContain(login('admin').pass);
    } finally {
      try {
        process.kill(-up.pid!, 'SIGTERM');
      } catch {
        // gone already
      }
      const t = setTimeout(() => up.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
  }, 150_000);
});
