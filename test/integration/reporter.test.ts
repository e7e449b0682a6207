// Proves the reporter end to end: a real nats-server, a tickerplant, RDB and gateway (the process
// types of actors/registry.ts inside the process runtime), and the reporter as a real OS process
// (`actors start reporter`) reading a report file written by the test. Reports run through the
// gateway against the RDB (and one straight to the RDB), triggered with the `runNow` API (one is
// also left to its own schedule): CSV, JSON and text files are read back, a Parquet file is read
// back with DuckDB, a published result arrives on report.<reporter>.<name>, an alert and a report
// with its attachment arrive at a local SMTP server (smtp-server) started here, which requires a
// login whose password the reporter reads from the environment and never logs, the alert throttle
// holds on the second run, and a query slower than its timeoutinterval is recorded with stage T.
// No timed assertions; the schedules are placed twelve hours from now, so they never fire during
// the test on any day or in any zone (except `ticker`, which runs every 2 s on purpose).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { DuckDBInstance } from '@duckdb/node-api';
import { SMTPServer } from 'smtp-server';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import type { PublishedReport } from '../../actors/reporter/handlers.ts';
import type { QueryLogRow } from '../../actors/reporter/query_log.ts';
import { REPORT_COLUMNS } from '../../actors/reporter/report_csv.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import { clockAt, connectTo, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, stopProc, waitUp, type Proc } from '../support/procs.ts';
import { startRuntime } from '../support/runtime.ts';

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let reporter: Proc;
let smtp: SMTPServer;
const runtimes: ProcessRuntime[] = [];
const mails: Array<{ to: string[]; user: string; raw: string }> = [];
const SMTP_SECRET = `s3cret-${process.pid}`;
const clock = clockAt(Date.parse('2026-11-22T10:00:05Z'));
const day = zoneDate(clock.now(), 'UTC');
const t = (s: number) => `${day}T10:00:0${s}.000000000Z`;

async function proc(proctype: string, name: string, settings: Record<string, unknown>, withClock = false): Promise<ProcessRuntime> {
  const rt = await startRuntime(server.url, proctype, name, settings, { tables: testTables, heartbeatMs: 250, attributes: { tables: Object.keys(testTables) }, clock: withClock ? clock : undefined });
  runtimes.push(rt);
  return rt;
}

/** A named API on the reporter (its runtime serves q.reporter.<name>). */
async function api<T>(name: string, args: unknown[] = [], timeoutMs = 30_000): Promise<T> {
  const m = await nc.request('q.reporter.reporter1', encode({ type: 'tickbus.v1.call', api: name, args }), { timeout: timeoutMs });
  const v = decode<T & { type?: string; message?: string }>(m.data);
  if (v?.type === 'tickbus.v1.error') throw new Error(`${name}: ${v.message}`);
  return v;
}

type Run = { queryid: number; stage: string; rows: QueryLogRow[] };
const runNow = (name: string) => api<Run>('runNow', [name]);

/** The one file a run wrote, found by its run id in the name. */
async function written(sub: string, run: Run, ext: string): Promise<string> {
  const files = (await readdir(join(dir, sub))).filter((f) => f.endsWith(`_${run.queryid}.${ext}`));
  expect(files, `files in ${sub}`).toHaveLength(1);
  return join(dir, sub, files[0]!);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickbus-reporter-'));
  // The server wants a login: every mail that arrives proves the password came from the environment.
  smtp = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'tickbus' && auth.password === SMTP_SECRET) callback(null, { user: auth.username });
      else callback(new Error('invalid login'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), user: String(session.user), raw: Buffer.concat(chunks).toString() });
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  const smtpPort = (smtp.server.address() as { port: number }).port;

  server = await startServer();
  nc = await connectTo(server);
  await proc('tickerplant', 'tp1', { mode: 'immediate' }, true);
  const pub = new Publisher(nc, { tp: 'tp1' });
  await pub.publish('trade', {
    rows: [
      [t(1), 'AAPL', 10.5, 100, 1],
      [t(2), 'MSFT', 20.5, 200, 2],
      [t(3), 'AAPL', 11.5, 300, 3],
      [t(4), 'IBM', 30.5, 400, 4],
    ],
  });
  pub.close();
  const rdb = await proc('rdb', 'rdb1', { tp: 'tp1' });
  rdb.registerApi('alerts', () => [{ messages: 'AAPL moved 9.5%' }, { messages: 'IBM halted' }], 'alert lines');
  rdb.registerApi('slow', (ms: number) => new Promise((r) => setTimeout(() => r('late'), ms)), 'answers after ms');
  await proc('gateway', 'gw1', {});

  // Twelve hours from now (UTC), one minute long: these reports never fire on their own here.
  const hour = String((new Date().getUTCHours() + 12) % 24).padStart(2, '0');
  const never = { start: `${hour}:00`, end: `${hour}:01`, period: '00:01', daysofweek: '0 1 2 3 4 5 6' };
  const summary = JSON.stringify({ type: 'tickbus.v1.getdata', table: 'trade', start: '2000-01-01', end: '2100-01-01', grouping: ['sym'], aggregations: [{ op: 'count' }, { op: 'sum', column: 'size' }], ordering: [{ column: 'sym' }] });
  const rows = JSON.stringify({ type: 'tickbus.v1.query', table: 'trade', columns: ['time', 'sym', 'price', 'size'] });
  const report = (o: Partial<Record<(typeof REPORT_COLUMNS)[number], string>>) =>
    REPORT_COLUMNS.map((c) => ({ gateway: 'gateway', joinfunction: 'raze', proctype: 'rdb', procname: '', timeoutinterval: '00:00:10', resulthandler: '', ...never, ...o })[c] ?? '').join('|');
  const csv = [
    REPORT_COLUMNS.join('|'),
    report({ name: 'csvrep', query: summary, resulthandler: 'writecsv{"dir":"out"}' }),
    report({ name: 'jsonrep', query: summary, resulthandler: 'writejson{"dir":"out","file":"summary"}' }),
    report({ name: 'txtrep', query: summary, resulthandler: 'writetxt{"dir":"out"}', procname: 'gw1' }),
    report({ name: 'pqrep', query: rows, resulthandler: 'writeparquet{"dir":"pq"}' }),
    report({ name: 'pubrep', query: summary, resulthandler: 'publish' }),
    report({ name: 'alertrep', query: '{"type":"tickbus.v1.call","api":"alerts"}', resulthandler: 'emailalert{"to":"ops@example.com","throttleMs":3600000}' }),
    report({ name: 'mailrep', query: summary, resulthandler: 'emailreport{"to":["desk@example.com","risk@example.com"],"format":"csv"}' }),
    report({ name: 'slowrep', query: '{"type":"tickbus.v1.call","api":"slow","args":[3000]}', timeoutinterval: '00:00:00.5' }),
    report({ name: 'direct', query: rows, gateway: '', joinfunction: '', procname: 'rdb1' }),
    report({ name: 'ticker', query: summary, start: '00:00', end: '24:00', period: '00:00:02' }),
    report({ name: 'badrep', query: '{"type":"tickbus.v1.call","api":"nosuch"}' }),
    // Runs every second and takes 1.5 s: every other due run finds it still running.
    report({ name: 'busy', query: '{"type":"tickbus.v1.call","api":"slow","args":[1500]}', start: '00:00', end: '24:00', period: '00:00:01' }),
  ].join('\n');
  await writeFile(join(dir, 'reporter.csv'), csv + '\n');
  const config = {
    tables: testTables,
    defaults: {
      reporter: { reportsCsv: join(dir, 'reporter.csv'), outputDir: dir, zone: 'UTC', concurrentMax: 8, smtp: { host: '127.0.0.1', port: smtpPort, secure: false, user: 'tickbus', passEnv: 'TB_TEST_SMTP_PASS', from: 'tickbus@example.com', timeoutMs: 5_000 } },
    },
    processes: {},
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  // Relative handler dirs ("out", "pq") land inside $TICKBUS_DATA, here the temp dir.
  reporter = spawnProc('reporter', 'reporter1', join(dir, 'config.json'), server.url, { TICKBUS_DATA: dir, TB_TEST_SMTP_PASS: SMTP_SECRET, LOG_LEVEL: 'info' });
  await waitUp(nc, 'reporter1', 60_000);
}, 120_000);

afterAll(async () => {
  if (reporter) await stopProc(reporter);
  for (const rt of runtimes.reverse()) await rt.stop();
  await nc?.close();
  await server?.dispose();
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reporter', () => {
  it('reporter: lists its reports and serves the query log', async () => {
    const reports = await api<Array<{ name: string; next: string | null; proctype: string[] }>>('reports');
    expect(reports.map((r) => r.name)).toEqual(['csvrep', 'jsonrep', 'txtrep', 'pqrep', 'pubrep', 'alertrep', 'mailrep', 'slowrep', 'direct', 'ticker', 'badrep', 'busy']);
    expect(reports.every((r) => r.next !== null)).toBe(true);
    const log = await api<QueryLogRow[]>('reportlog');
    expect(log[0]).toMatchObject({ queryid: 0, stage: 'S', message: expect.stringMatching(/loaded 12 reports .* \(zone UTC\)/) });
    // The start-up line says where the SMTP password comes from, never what it is.
    const out = reporter.output.join('');
    expect(out).toContain('"password":"env TB_TEST_SMTP_PASS"');
    expect(out).not.toContain(SMTP_SECRET);
  });

  it('reporter: csv, json and txt files are written through the gateway and read back', async () => {
    const [c, j, x] = await Promise.all([runNow('csvrep'), runNow('jsonrep'), runNow('txtrep')]);
    for (const r of [c, j, x]) {
      expect(r.stage, JSON.stringify(r.rows)).toBe('C');
      expect(r.rows.map((row) => row.stage)).toEqual(['R', 'R', 'R', 'R', 'C']);
      expect(r.rows.map((row) => row.message)).toEqual([expect.stringMatching(/^Running report/), 'Received result', expect.stringMatching(/^Running resulthandler/), expect.stringMatching(/^wrote /), 'Finished report']);
    }
    expect(await readFile(await written('out', c, 'csv'), 'utf8')).toBe('sym,count,sumSize\nAAPL,2,400\nIBM,1,400\nMSFT,1,200\n');
    const jfile = await written('out', j, 'json');
    expect(jfile).toMatch(/\/summary_\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}_\d{3}_\d+\.json$/);
    expect(JSON.parse(await readFile(jfile, 'utf8'))).toEqual([
      { sym: 'AAPL', count: 2, sumSize: 400 },
      { sym: 'IBM', count: 1, sumSize: 400 },
      { sym: 'MSFT', count: 1, sumSize: 200 },
    ]);
    expect((await readFile(await written('out', x, 'txt'), 'utf8')).split('\n')).toEqual(['sym  count sumSize', '------------------', 'AAPL 2     400', 'IBM  1     400', 'MSFT 1     200', '']);
    // Nothing half-written is left behind: temporary files are renamed into place.
    expect((await readdir(join(dir, 'out'))).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('reporter: a Parquet file is written and read back with DuckDB', async () => {
    const r = await runNow('pqrep');
    expect(r.stage, JSON.stringify(r.rows)).toBe('C');
    const path = await written('pq', r, 'parquet');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const res = await con.runAndReadAll(`SELECT count(*)::INTEGER AS n, sum(size)::INTEGER AS size, min(price) AS lo, strftime(min(time), '%Y-%m-%d %H:%M:%S') AS first, typeof(min(time)) AS ttype FROM read_parquet('${path}')`);
    expect(res.getRowObjectsJS()).toEqual([{ n: 4, size: 1000, lo: 10.5, first: `${day} 10:00:01`, ttype: 'TIMESTAMP_NS' }]);
    con.closeSync();
    db.closeSync();
  });

  it('reporter: publish sends the result on report.<reporter>.<name>', async () => {
    const sub: Subscription = nc.subscribe('report.reporter1.pubrep', { max: 1 });
    await nc.flush();
    const got = (async () => {
      for await (const m of sub) return decode<PublishedReport>(m.data);
    })();
    const r = await runNow('pubrep');
    expect(r.stage, JSON.stringify(r.rows)).toBe('C');
    const msg = (await got)!;
    expect(msg).toMatchObject({ type: 'tickbus.v1.report', reporter: 'reporter1', name: 'pubrep', queryid: r.queryid, proctype: ['rdb'], procname: null });
    const result = msg.result as QueryResult;
    expect(result.cols.sym).toEqual(['AAPL', 'IBM', 'MSFT']);
    expect(result.cols.count).toEqual(BigInt64Array.of(2n, 1n, 1n));
  });

  it('reporter: an e-mail alert arrives, and the throttle holds the second one back', async () => {
    const before = mails.length;
    const first = await runNow('alertrep');
    expect(first.stage, JSON.stringify(first.rows)).toBe('C');
    expect(first.rows.find((row) => row.message.startsWith('alert mailed'))?.message).toBe('alert mailed to ops@example.com');
    await until(() => mails.length > before, 10_000);
    const mail = mails[before]!;
    expect(mail.to).toEqual(['ops@example.com']);
    expect(mail.user).toBe('tickbus');
    expect(mail.raw).toMatch(/^Subject: tickbus alert: alertrep \(reporter1\)$/m);
    expect(mail.raw).toContain('AAPL moved 9.5%');
    expect(mail.raw).toContain('IBM halted');
    const second = await runNow('alertrep');
    expect(second.stage).toBe('C');
    expect(second.rows.map((row) => row.message)).toContainEqual(expect.stringMatching(/^alert throttled: the last one went \d+ ms ago \(throttle 3600000 ms\)$/));
    // The SMTP server got nothing more for the throttled run (it answered before the run completed).
    expect(mails.filter((m) => m.to.includes('ops@example.com'))).toHaveLength(1);
  });

  it('reporter: an e-mail report arrives with the result attached as CSV', async () => {
    const before = mails.length;
    const r = await runNow('mailrep');
    expect(r.stage, JSON.stringify(r.rows)).toBe('C');
    await until(() => mails.length > before, 10_000);
    const mail = mails[before]!;
    expect(mail.to).toEqual(['desk@example.com', 'risk@example.com']);
    expect(mail.raw).toMatch(/^Subject: tickbus report: mailrep \(reporter1\)$/m);
    const name = new RegExp(`filename=("?)(mailrep_\\d{4}_\\d{2}_\\d{2}_\\d{2}_\\d{2}_\\d{2}_\\d{3}_${r.queryid}\\.csv)\\1`);
    expect(mail.raw).toMatch(name);
    // The attachment part: its headers, a blank line, the body (base64 or plain), up to the boundary.
    const part = mail.raw.split(/\r?\n--/).find((p) => name.test(p))!;
    const [head, ...body] = part.split(/\r?\n\r?\n/);
    const text = body.join('\n\n').trim();
    const content = /Content-Transfer-Encoding: base64/i.test(head!) ? Buffer.from(text.replace(/\s+/g, ''), 'base64').toString() : text.replace(/\r\n/g, '\n') + '\n';
    expect(head).toMatch(/Content-Type: text\/csv/);
    expect(content).toBe('sym,count,sumSize\nAAPL,2,400\nIBM,1,400\nMSFT,1,200\n');
  });

  it('reporter: a query slower than its timeoutinterval is recorded with stage T', async () => {
    const r = await runNow('slowrep');
    expect(r.stage).toBe('T');
    expect(r.rows.map((row) => row.stage)).toEqual(['R', 'T']);
    expect(r.rows[1]!.message).toMatch(/timed out/);
    const log = await api<QueryLogRow[]>('reportlog', ['slowrep']);
    expect(log.filter((row) => row.queryid === r.queryid).map((row) => row.stage)).toEqual(['R', 'T']);
  });

  it('reporter: a report without the gateway goes to the named process', async () => {
    const r = await runNow('direct');
    expect(r.stage, JSON.stringify(r.rows)).toBe('C');
    expect(r.rows[0]!.message).toBe('Running report: direct against proctype: rdb through process rdb1');
  });

  it('reporter: a report runs on its schedule, and a second runNow of a running report is refused', async () => {
    await until(async () => (await api<QueryLogRow[]>('reportlog', ['ticker'])).filter((row) => row.stage === 'C').length >= 2, 30_000, 200);
    const slow = runNow('slowrep');
    await until(async () => (await api<QueryLogRow[]>('reportlog', ['slowrep'])).filter((row) => row.stage === 'R').length >= 2, 10_000);
    await expect(runNow('slowrep')).rejects.toThrow(/slowrep is still running/);
    expect((await slow).stage).toBe('T');
    await expect(runNow('nosuch')).rejects.toThrow(/no report "nosuch"/);
    // A due run that finds the previous one still going is skipped and logged, not queued.
    await until(async () => (await api<QueryLogRow[]>('reportlog', ['busy'])).some((row) => row.stage === 'S'), 30_000, 200);
    const busy = await api<QueryLogRow[]>('reportlog', ['busy']);
    expect(busy.find((row) => row.stage === 'S')).toMatchObject({ queryid: 0, message: expect.stringMatching(/^Skipped the run due at .*: report busy is still running \(run \d+\)$/) });
  });

  it('reporter: a query the backend refuses is recorded with stage E and its code', async () => {
    const r = await runNow('badrep');
    expect(r.stage).toBe('E');
    expect(r.rows.map((row) => row.stage)).toEqual(['R', 'E']);
    expect(r.rows[1]!.message).toMatch(/^Query failed: BACKEND_ERROR: .*nosuch/);
  });
});
