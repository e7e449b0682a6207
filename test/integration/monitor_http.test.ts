// Proves the monitor's HTTP side without a browser, on a real nats-server with the processes as
// in-process ProcessRuntimes: the page's files and uPlot are served by the monitor itself (no
// CDN), other paths are 404 and other methods 405; the SSE stream pushes snapshots that show a
// registered process, a warn/error log line it logged through its own pino logger (forwarded by
// the runtime on log.<type>.<name>, secrets left out), an alert published on alert.<type>.<name>,
// supervisor state from KV bucket `sup`, the tickerplant's rows/s per table from its heartbeats
// and a consumer of TICK_<tp> that has read nothing, with its lag; the SSE client bound answers 503 beyond
// it, and a page that stops reading is dropped past its buffer bound instead of queueing; a
// checks provider's rows are shown and its changes pushed; a taken port makes the monitor take a free one and say so in its status.
import { createConnection as connectTcp, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Kvm } from '@nats-io/kv';
import { AckPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { LogForwarder } from '../../bus/log_forward.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { kv, subjects } from '../../bus/subjects.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startMonitor, type Monitor } from '../../actors/monitor/effects.ts';
import { MonitorWeb } from '../../actors/monitor/http.ts';
import type { CheckRow, PageSnapshot } from '../../actors/monitor/page_data.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { sseEvents, untilSnapshot } from '../support/sse.ts';

let server: NatsServer;
let nc: NatsConnection;
let monitor: Monitor;
let base: string;
const runtimes: ProcessRuntime[] = [];
let pub: Publisher | undefined;

function forwardingLogger(f: LogForwarder) {
  return pino({ level: 'warn' }, pino.multistream([{ level: 'warn', stream: f }]));
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  const mrt = new ProcessRuntime({
    proctype: 'monitor',
    name: 'mon1',
    servers: server.url,
    logger: silentLogger,
    heartbeatMs: 200,
    start: async (c, ctx) => (monitor = await startMonitor(c, { name: 'mon1', httpPort: 0, pushEveryMs: 100, lagPollMs: 200, sseClientsMax: 3 }, silentLogger, ctx.apis)),
  });
  await mrt.start();
  runtimes.push(mrt);
  base = monitor.url!;
});

afterAll(async () => {
  pub?.close();
  for (const r of runtimes.reverse()) await r.stop();
  await nc?.close();
  await server?.stop();
});

describe('monitor page over HTTP', () => {
  it('monitor: serves the page, its modules and uPlot itself; 404 and 405 otherwise', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).toContain('/app.js');
    expect(html).not.toMatch(/https?:\/\//); // nothing from another origin
    for (const p of ['app.js', 'render.js', 'bins.js', 'style.css', 'vendor/uPlot.esm.js', 'vendor/uPlot.min.css']) {
      const r = await fetch(base + p);
      expect(r.status, p).toBe(200);
      expect((await r.text()).length, p).toBeGreaterThan(100);
    }
    expect((await fetch(`${base}nope`)).status).toBe(404);
    expect((await fetch(`${base}../package.json`)).status).toBe(404);
    expect((await fetch(base, { method: 'POST' })).status).toBe(405);
    const snap = (await (await fetch(`${base}api/snapshot`)).json()) as PageSnapshot;
    expect(snap.type).toBe('tickbus.v1.monitor.page');
    expect(snap.monitor).toBe('mon1');
  });

  it('monitor: the event stream shows a process and the error it logged, without its secrets', async () => {
    const f = new LogForwarder();
    const logger = forwardingLogger(f);
    const rt = new ProcessRuntime({
      proctype: 'rdb',
      name: 'rdbx',
      servers: server.url,
      logger,
      logForwarder: f,
      heartbeatMs: 200,
      attributes: { tables: ['trade'] },
      start: async () => ({ ready: async () => {}, stop: async () => {}, status: () => ({}) }),
    });
    await rt.start();
    runtimes.push(rt);
    logger.error({ table: 'trade', password: 'hunter2' }, 'disk on fire');
    logger.info('not forwarded');
    const snap = await untilSnapshot<PageSnapshot>(`${base}events`, (s) => s.processes.some((p) => p.name === 'rdbx' && p.state === 'ok') && s.logs.some((l) => l.msg === 'disk on fire'));
    const row = snap.processes.find((p) => p.name === 'rdbx')!;
    expect(row).toMatchObject({ proctype: 'rdb', registered: true, pid: process.pid });
    expect(row.attributes).toContain('trade');
    const line = snap.logs.find((l) => l.msg === 'disk on fire')!;
    expect(line).toMatchObject({ level: 'error', proctype: 'rdb', name: 'rdbx', fields: { table: 'trade' } });
    expect(JSON.stringify(snap)).not.toContain('hunter2');
    expect(snap.logs.some((l) => l.msg === 'not forwarded')).toBe(false);
    expect(snap.errorMinutes.reduce((n, [, e]) => n + e, 0)).toBeGreaterThanOrEqual(1);
    expect(f.stats.forwarded).toBeGreaterThanOrEqual(1);
  });

  it('monitor: alerts and supervisor state appear on the stream', async () => {
    const alert = { type: 'tickbus.v1.alert', at: new Date().toISOString(), level: 'error', source: { proctype: 'launcher', name: 'up' }, kind: 'crash-loop', message: 'rdb9 restarted 5 times in 60 s' };
    nc.publish(subjects.alert('launcher', 'up'), JSON.stringify(alert));
    nc.publish(subjects.alert('launcher', 'up'), JSON.stringify({ type: 'junk' }));
    const bucket = await new Kvm(nc).create(kv.supervisorBucket, { history: 1 });
    const exitAt = new Date().toISOString();
    await bucket.put('rdb9', JSON.stringify({ type: 'tickbus.v1.sup', launcher: 'up', procname: 'rdb9', proctype: 'rdb', policy: 'always', state: 'backoff', restarts: 5, lastExit: { code: null, signal: 'SIGKILL', at: exitAt }, nextStartAt: exitAt }));
    const snap = await untilSnapshot<PageSnapshot>(`${base}events`, (s) => s.alerts.some((a) => a.kind === 'crash-loop') && s.processes.some((p) => p.name === 'rdb9'));
    expect(snap.alerts[0]).toMatchObject({ level: 'error', source: { proctype: 'launcher', name: 'up' }, message: 'rdb9 restarted 5 times in 60 s' });
    const row = snap.processes.find((p) => p.name === 'rdb9')!;
    expect(row).toMatchObject({ registered: false, state: 'error', sup: { state: 'backoff', restarts: 5, lastExit: { signal: 'SIGKILL', code: null, at: exitAt } } });
    expect(snap.dropped.badMessages).toBeGreaterThanOrEqual(1);
    await bucket.delete('rdb9');
    await untilSnapshot<PageSnapshot>(`${base}events`, (s) => !s.processes.some((p) => p.name === 'rdb9'));
  });

  it('monitor: rows/s per table from the tickerplant and lag per consumer of its log', async () => {
    const rt = new ProcessRuntime({
      proctype: 'tickerplant',
      name: 'tpm',
      servers: server.url,
      logger: silentLogger,
      heartbeatMs: 200,
      start: async (c) => await startTickerplant(c, { name: 'tpm', tables: testTables }, silentLogger),
    });
    await rt.start();
    runtimes.push(rt);
    pub = new Publisher(nc, { tp: 'tpm' });
    for (let i = 0; i < 20; i++) await pub.publish('trade', { rows: [['AAPL', 1.5, 100, i]] });
    // A reader that has read nothing yet: its consumer is the whole log behind.
    await (await manager(nc)).consumers.add('TICK_tpm', { durable_name: 'slow-reader', filter_subject: 'tick.tpm.>', ack_policy: AckPolicy.Explicit });
    const snap = await untilSnapshot<PageSnapshot>(`${base}events`, (s) => s.rates.some((r) => r.tp === 'tpm' && r.table === 'trade' && r.count === 20) && s.lag.some((l) => l.consumer === 'slow-reader'));
    const lag = snap.lag.find((l) => l.consumer === 'slow-reader')!;
    expect(lag).toMatchObject({ stream: 'TICK_tpm', filter: 'tick.tpm.>', delivered: 0 });
    expect(lag.streamLast).toBeGreaterThanOrEqual(1);
    expect(lag.pending).toBe(lag.streamLast);
    expect(lag.bytesBehind).toBeGreaterThan(0);
    expect(snap.rateSeries.tpm!.length).toBeGreaterThanOrEqual(1);
  });

  it('monitor: a checks provider puts its rows on the page and its changes push a snapshot', async () => {
    let rows: CheckRow[] = [
      { family: 'rdb', metric: 'tables', process: 'rdbx', status: 'pending', lastRun: null, durationMs: null, lastResult: null, message: null, resultchecker: 'checkcount', periodMs: 1_000, runtimeMs: 1_000, runs: 0, skipped: 0 },
    ];
    const listeners = new Set<() => void>();
    monitor.setChecks({ rows: () => rows, onChange: (fn) => (listeners.add(fn), () => listeners.delete(fn)) });
    await untilSnapshot<PageSnapshot>(`${base}events`, (s) => s.checks?.[0]?.status === 'pending');
    rows = [{ ...rows[0]!, status: 'error', lastRun: new Date().toISOString(), message: 'no trade table' }];
    for (const l of listeners) l();
    const snap = await untilSnapshot<PageSnapshot>(`${base}events`, (s) => s.checks?.[0]?.status === 'error');
    expect(snap.checks![0]).toMatchObject({ family: 'rdb', metric: 'tables', message: 'no trade table' });
    monitor.setChecks(undefined);
    expect(listeners.size).toBe(0);
    await untilSnapshot<PageSnapshot>(`${base}events`, (s) => s.checks === undefined);
  });

  it('monitor: at most sseClientsMax live pages; one more is answered 503', async () => {
    const acs = [new AbortController(), new AbortController(), new AbortController()];
    const its = acs.map((ac) => sseEvents(`${base}events`, ac.signal));
    try {
      for (const it of its) expect((await it.next()).value?.event).toBe('snapshot');
      const extra = await fetch(`${base}events`);
      expect(extra.status).toBe(503);
      await extra.text();
    } finally {
      for (const ac of acs) ac.abort();
      for (const it of its) await it.return(undefined).catch(() => {});
    }
    // Closed streams free their places.
    await until(async () => (await fetch(`${base}api/snapshot`)).ok && monitor.status().pages === 0, 5_000);
  });

  it('monitor: a taken port makes it take a free one, and the status says which', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const c = await connectTo(server, 'mon2');
    try {
      const m2 = await startMonitor(c, { name: 'mon2', httpPort: port }, silentLogger);
      try {
        const url = m2.status().url as string;
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        expect(url).not.toContain(`:${port}/`);
        expect((await fetch(url)).status).toBe(200);
      } finally {
        await m2.stop();
      }
      await expect(startMonitor(c, { name: 'mon3', httpPort: 70_000 }, silentLogger)).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    } finally {
      blocker.close();
      await c.close();
    }
  });
});

describe('monitor page: a page that does not read', () => {
  it('monitor: a stream whose reader stalls gets no backlog and is dropped past its buffer bound', async () => {
    // Snapshots of ~2 MB (a stand-in page data: the bound is about bytes, whatever they hold), a
    // client socket that never reads: the kernel buffers fill, then Node's; past 1 MB unsent the
    // monitor drops the client instead of queueing every push for it.
    const big = 'x'.repeat(2 * 1024 * 1024);
    let notify: (() => void) | undefined;
    const web = new MonitorWeb({
      host: '127.0.0.1',
      port: 0,
      fallbackToFreePort: false,
      sseClientsMax: 4,
      sseClientBufferBytesMax: 1024 * 1024,
      pushEveryMs: 50,
      snapshot: () => ({ big }) as unknown as PageSnapshot,
      onChange: (fn) => ((notify = fn), () => (notify = undefined)),
      logger: silentLogger,
    });
    const url = new URL(await web.start());
    const sock = connectTcp(Number(url.port), '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    sock.pause();
    try {
      await until(() => web.clientCount() === 1, 5_000);
      for (let i = 0; i < 200 && web.clientCount() === 1; i++) {
        notify?.();
        web.push();
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(web.clientCount()).toBe(0);
      expect(web.stats.dropped).toBe(1);
    } finally {
      sock.destroy();
      await web.stop();
    }
  });
});
