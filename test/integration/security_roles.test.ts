// Proves the role table of `actors up --secure` is what nats-server enforces, for a client written
// without the project's libraries (test/support/raw_nats.ts): for each role, every subject of
// bus/SUBJECTS.md (a concrete instance per row, plus the JetStream API subjects behind its streams
// and KV bucket) is published to and subscribed to, and the server refuses exactly the ones this
// file says the role may not use. The expectations are written out here by hand from the issue
// and SUBJECTS.md, not computed from ops/security/roles.ts, so a change to the table that opens a
// subject fails here. Also: wrong passwords are refused, credentials files are 0600, a second
// setup keeps the first one's passwords, and a bad TICKBUS_CREDS is a BAD_CONFIG naming the file.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { securityOptions } from '../../bus/connection.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { ROLES, roleTableMarkdown, type Role } from '../../ops/security/roles.ts';
import { prepareSecurity, type SecureSetup } from '../../ops/security/setup.ts';
import { RawNats } from '../support/raw_nats.ts';

/** One concrete subject per row of the SUBJECTS.md table (and the stream/KV API behind rows). */
const PUB = {
  updTable: 'tp.tp1.upd.trade',
  updMulti: 'tp.tp1.upd',
  tick: 'tick.tp1.trade',
  eod: 'tick.tp1._ctl.eod',
  kvPeriods: '$KV.stpmeta.tp1.1796310000000',
  tickerr: 'tickerr.tp1.trade',
  qRdbNamed: 'q.rdb.rdb1',
  qRdb: 'q.rdb',
  qHdbNamed: 'q.hdb.hdb1',
  qHdb: 'q.hdb',
  qIdbNamed: 'q.idb.idb1',
  hdbReload: 'hdb.reload',
  wdbWritten: 'wdb.wdb1.written',
  wdbReloadStart: 'wdb.wdb1.reloadstart',
  sortTrigger: 'sort.trigger',
  qApi: 'q.monitor.monitor1',
  gwSync: 'gw.gw1.sync',
  gwAsync: 'gw.gw1.async',
  gwSyncAny: 'gw.sync',
  gwAsyncAny: 'gw.async',
  postbackElsewhere: 'my.results',
  hbRdb: 'hb.rdb.rdb1',
  alertMonitor: 'alert.monitor.monitor1',
  logRdb: 'log.rdb.rdb1',
  ctlStatus: 'ctl.rdb1.status',
  ctlStop: 'ctl.rdb1.stop',
  kvRdb: '$KV.proc.rdb.rdb1',
  report: 'report.reporter1.summary',
  usageGateway: 'usage.gateway.gw1',
  readLog: '$JS.API.CONSUMER.CREATE.TICK_tp1',
  readLogDirect: '$JS.API.DIRECT.GET.TICK_tp1',
  readRegistry: '$JS.API.CONSUMER.CREATE.KV_proc',
  createLog: '$JS.API.STREAM.CREATE.TICK_tp1',
  deleteLog: '$JS.API.STREAM.DELETE.TICK_tp1',
  reply: '_INBOX.someone.1',
  streamOut: 'st.sp1.out',
  streamsCreate: '$JS.API.STREAM.CREATE.STREAMS_sp1',
  streamsConsumer: '$JS.API.CONSUMER.CREATE.STREAMS_sp1.split.st.sp1.in',
  ctpLog: 'tick.ctp1.trade',
  ctpRoute: '$KV.chain.ctp1',
  ctpErr: 'tickerr.ctp1.trade',
} as const;

const SUB = {
  updTable: 'tp.tp1.upd.trade',
  tick: 'tick.tp1.trade',
  qRdbNamed: 'q.rdb.rdb1',
  qRdb: 'q.rdb',
  qHdbNamed: 'q.hdb.hdb1',
  qIdbNamed: 'q.idb.idb1',
  hdbReload: 'hdb.reload',
  wdbWritten: 'wdb.wdb1.written',
  wdbReload: 'wdb.wdb1.reloadend',
  sortTrigger: 'sort.trigger',
  gwSync: 'gw.gw1.sync',
  gwSyncAny: 'gw.sync',
  hb: 'hb.rdb.rdb1',
  alert: 'alert.rdb.rdb1',
  ctlStop: 'ctl.rdb1.stop',
  ctlEop: 'ctl.tp1.eop',
  report: 'report.reporter1.summary',
  inbox: '_INBOX.abc.*',
  qApi: 'q.monitor.monitor1',
  kv: '$KV.proc.rdb.rdb1',
  usage: 'usage.rdb.rdb1',
} as const;

type PubKey = keyof typeof PUB;
type SubKey = keyof typeof SUB;

/** What each role may do; everything else in PUB and SUB must be refused. */
const allowed: Record<Role, { pub: PubKey[] | 'all'; sub: SubKey[] | 'all' }> = {
  tickerplant: { pub: ['tick', 'eod', 'kvPeriods', 'tickerr', 'readLog', 'readLogDirect', 'createLog', 'reply', 'ctpLog', 'ctpErr'], sub: ['updTable', 'ctlStop', 'ctlEop', 'inbox'] },
  rdb: { pub: ['hdbReload', 'hbRdb', 'logRdb', 'kvRdb', 'readLog', 'readLogDirect', 'readRegistry', 'reply'], sub: ['qRdbNamed', 'qRdb', 'wdbWritten', 'ctlStop', 'inbox'] },
  wdb: { pub: ['hdbReload', 'wdbWritten', 'wdbReloadStart', 'sortTrigger', 'readLog', 'readLogDirect', 'readRegistry', 'reply'], sub: ['ctlStop', 'inbox'] },
  sort: { pub: ['reply'], sub: ['sortTrigger', 'ctlStop', 'inbox'] },
  rtp: { pub: ['updTable', 'updMulti', 'readLog', 'readLogDirect', 'readRegistry', 'reply'], sub: ['ctlStop', 'inbox'] },
  hdb: { pub: ['reply'], sub: ['qHdbNamed', 'hdbReload', 'ctlStop', 'inbox'] },
  idb: { pub: ['reply'], sub: ['qIdbNamed', 'wdbWritten', 'wdbReload', 'ctlStop', 'inbox'] },
  gateway: { pub: ['qRdbNamed', 'qRdb', 'qHdbNamed', 'qHdb', 'qIdbNamed', 'qApi', 'ctlStatus', 'usageGateway', 'readRegistry', 'reply'], sub: ['gwSync', 'gwSyncAny', 'hb', 'wdbReload', 'ctlStop', 'inbox'] },
  monitor: {
    pub: ['qRdbNamed', 'qRdb', 'qHdbNamed', 'qHdb', 'qIdbNamed', 'qApi', 'gwSync', 'gwAsync', 'gwSyncAny', 'gwAsyncAny', 'alertMonitor', 'readRegistry', 'reply'],
    sub: ['hb', 'alert', 'ctlStop', 'inbox', 'qApi'],
  },
  reporter: { pub: ['qRdbNamed', 'qRdb', 'qHdbNamed', 'qHdb', 'qIdbNamed', 'qApi', 'gwSync', 'gwAsync', 'gwSyncAny', 'gwAsyncAny', 'report', 'reply'], sub: ['ctlStop', 'inbox'] },
  feed: { pub: ['updTable', 'updMulti', 'reply'], sub: ['ctlStop', 'inbox'] },
  filealerter: { pub: ['updTable', 'updMulti', 'reply'], sub: ['ctlStop', 'inbox'] },
  housekeeping: { pub: ['reply'], sub: ['ctlStop', 'inbox'] },
  streams: { pub: ['streamOut', 'streamsCreate', 'streamsConsumer', 'readLog', 'readLogDirect', 'reply'], sub: ['ctlStop', 'inbox'] },
  compression: { pub: ['hdbReload', 'reply'], sub: ['ctlStop', 'inbox'] },
  chainedtp: { pub: ['ctpLog', 'ctpRoute', 'ctpErr', 'readLog', 'readLogDirect', 'reply'], sub: ['ctlStop', 'inbox'] },
  client: { pub: ['gwSync', 'gwAsync', 'gwSyncAny', 'gwAsyncAny', 'readLogDirect', 'reply'], sub: ['report', 'inbox'] },
  admin: { pub: 'all', sub: 'all' },
};

let dir: string;
let setup: SecureSetup;
let server: NatsServer;
const serverLog: string[] = [];

function creds(role: Role): { user: string; pass: string } {
  const c = JSON.parse(readFileSync(setup.credsFiles[role], 'utf8')) as { user: string; password: string };
  return { user: c.user, pass: c.password };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickbus-sec-roles-'));
  setup = prepareSecurity({ dir: join(dir, 'secure'), users: true, tls: false, tps: ['tp1'], streamManagers: ['sp1'], chainedTps: ['ctp1'] });
  server = await NatsServer.start({ config: setup.serverConfig, configPath: setup.serverConfigPath, onLog: (l) => serverLog.length < 5_000 && serverLog.push(l) });
});
afterAll(async () => {
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('security: the server enforces the role table', () => {
  for (const role of ROLES) {
    it(`security: ${role} may use exactly its subjects of SUBJECTS.md; the server refuses the rest`, async () => {
      const c = await RawNats.connect(server.port, creds(role));
      try {
        for (const s of Object.values(PUB)) c.publish(s, { type: 'tickbus.v1.probe' });
        for (const s of Object.values(SUB)) c.subscribe(s);
        await c.ping();
        const a = allowed[role];
        const pubOk = a.pub === 'all' ? Object.keys(PUB) : a.pub;
        const subOk = a.sub === 'all' ? Object.keys(SUB) : a.sub;
        const pubRefused = Object.entries(PUB).filter(([k]) => !pubOk.includes(k)).map(([, s]) => s);
        const subRefused = Object.entries(SUB).filter(([k]) => !subOk.includes(k)).map(([, s]) => s);
        expect(c.violations('Publish').sort()).toEqual(pubRefused.sort());
        expect(c.violations('Subscription').sort()).toEqual(subRefused.sort());
        // A refusal does not close the connection: the client can still talk.
        await c.ping();
      } finally {
        c.close();
      }
    });
  }

  it('security: only admin may stop a process (ctl.*.stop), for every role', () => {
    const mayStop = ROLES.filter((r) => allowed[r].pub === 'all' || (allowed[r].pub as PubKey[]).includes('ctlStop'));
    expect(mayStop).toEqual(['admin']);
  });

  it('security: no role outside the system processes may create a consumer (whose deliver subject the server would publish to)', () => {
    const mayCreate = ROLES.filter((r) => allowed[r].pub === 'all' || (allowed[r].pub as PubKey[]).some((k) => k === 'readLog' || k === 'readRegistry'));
    expect(mayCreate).toEqual(['tickerplant', 'rdb', 'wdb', 'rtp', 'gateway', 'monitor', 'streams', 'chainedtp', 'admin']);
    expect(mayCreate).not.toContain('client');
  });

  it('security: docs/security.md holds the role table as ops/security/roles.ts makes it', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'security.md'), 'utf8');
    expect(doc).toContain(roleTableMarkdown({ tps: ['tp1'], streamManagers: ['streams1'] }));
  });

  it('security: a wrong password and no password are refused; the server logs no password', async () => {
    await expect(RawNats.connect(server.port, { user: 'feed', pass: 'not-the-password' })).rejects.toThrow(/closed/);
    await expect(RawNats.connect(server.port)).rejects.toThrow(/closed/);
    const secrets = ROLES.map((r) => creds(r).pass);
    expect(serverLog.some((l) => secrets.some((s) => l.includes(s)))).toBe(false);
    expect(serverLog.some((l) => /authentication error|Authorization Violation/i.test(l))).toBe(true);
  });

  it('security: credentials files and the server config are 0600 in a 0700 dir, and a second setup keeps them', () => {
    expect(statSync(setup.dir).mode & 0o777).toBe(0o700);
    for (const role of ROLES) expect(statSync(setup.credsFiles[role]).mode & 0o777).toBe(0o600);
    expect(statSync(setup.serverConfigPath).mode & 0o777).toBe(0o600);
    const again = prepareSecurity({ dir: setup.dir, users: true, tls: false, tps: ['tp1'] });
    for (const role of ROLES) expect(readFileSync(again.credsFiles[role], 'utf8')).toBe(readFileSync(setup.credsFiles[role], 'utf8'));
  });

  it('security: TICKBUS_CREDS names a missing or malformed file: BAD_CONFIG naming the file, not its content', () => {
    const missing = join(dir, 'nope.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ user: 'x', password: 'secret-in-file' }));
    for (const path of [missing, bad]) {
      const e = (() => {
        try {
          securityOptions({ TICKBUS_CREDS: path });
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(TickbusError);
      expect((e as TickbusError).code).toBe(ErrorCode.BAD_CONFIG);
      expect((e as TickbusError).message).toContain(path);
      expect((e as TickbusError).message).not.toContain('secret-in-file');
    }
    expect(securityOptions({ TICKBUS_CREDS: setup.credsFiles.feed })).toMatchObject({ user: 'feed' });
    expect(securityOptions({})).toEqual({});
  });
});
