// Proves the monitor's web page in a real headless Chromium (Debian's chromium-headless-shell via
// playwright-core; test/support/chromium.ts) against a running system: nats-server and real OS
// processes (`actors start` for a tickerplant, an RDB and the monitor, with 300 ms heartbeats).
// The page loads from the monitor itself, goes live over Server-Sent Events and shows a row for
// every process; the tickerplant's warning for a rejected update (its own pino line, forwarded on
// log.tickerplant.tp1) appears in the log panel; after SIGKILL of the RDB its row turns red
// (data-state="error") within its heartbeat error window, with no reload, and the monitor's own
// "heartbeat error" line (level error) shows; a check asking rdb1 (the check monitor, ops/monitor.csv
// format) goes from ok to failing and its alert shows; the error chart counts the error with the
// bin width changed on the page. A screenshot is saved as test/out/monitor_web.png.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Browser, Page } from 'playwright-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { connectTo, startServer, testTables } from '../support/bus.ts';
import { launchChromium } from '../support/chromium.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';

const HB_MS = 300;
const WARN_AFTER = 2;
const ERROR_AFTER = 3;
const OUT = resolve(import.meta.dirname, '..', 'out');

let server: NatsServer;
let nc: NatsConnection;
let dir: string;
let browser: Browser | undefined;
let page: Page;
let url: string;
let pub: Publisher | undefined;
const procs: Proc[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  dir = mkdtempSync(join(tmpdir(), 'tickbus-monweb-'));
  const cfg = join(dir, 'config.json');
  const hb = { heartbeatMs: HB_MS };
  // One check (docs/checks.md) asking rdb1 itself for its trade count: ok once rows are in, failing
  // (and alerting) once rdb1 is gone.
  const checksFile = join(dir, 'monitor.csv');
  writeFileSync(
    checksFile,
    'family|metric|process|query|resultchecker|params|period|runtime\n' +
      'rdb|tradecount|rdb1|{"type":"tickbus.v1.query","table":"trade","count":true}|checkcount|{"comp":0,"cond":"morethan"}|300ms|250ms\n',
  );
  writeFileSync(
    cfg,
    JSON.stringify({
      tables: testTables,
      defaults: {
        tickerplant: { ...hb },
        rdb: { ...hb, tp: 'tp1', hdbDir: join(dir, 'hdb') },
        monitor: { ...hb, httpPort: 0, warnAfterBeats: WARN_AFTER, errorAfterBeats: ERROR_AFTER, pushEveryMs: 200, lagPollMs: 1_000, checksFile, checksStartDelayMs: 0 },
      },
    }),
  );
  for (const [type, name] of [
    ['tickerplant', 'tp1'],
    ['rdb', 'rdb1'],
    ['monitor', 'mon1'],
  ] as const) {
    const p = spawnProc(type, name, cfg, server.url);
    procs.push(p);
    await waitUp(nc, name, 45_000);
  }
  url = ((await status<{ url?: string }>(nc, 'mon1'))?.url ?? '') as string;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
});

afterAll(async () => {
  pub?.close();
  await browser?.close();
  for (const p of procs.reverse()) await stopProc(p);
  await nc?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function row(name: string): string {
  return `#processes tr[data-proc="${name}"]`;
}

describe('monitor page in a browser', () => {
  it('monitor: the page shows every process live, a logged warning and error, a check and its alert, and a killed process in red', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
    await page.goto(url);
    await page.waitForSelector('#conn[data-conn="live"]', { timeout: 10_000 });
    for (const name of ['tp1', 'rdb1', 'mon1']) await page.waitForSelector(`${row(name)}[data-state="ok"]`, { timeout: 10_000 });
    expect(await page.locator('#processes tbody tr').count()).toBe(3);
    expect(await page.textContent(`${row('rdb1')} td.attrs`)).toContain('trade');

    // Rows in, and an update for a table the schema lacks: the tickerplant logs a warning.
    pub = new Publisher(nc, { tp: 'tp1' });
    for (let i = 0; i < 5; i++) await pub.publish('trade', { rows: [['AAPL', 1.5, 100, i]] });
    await expect(pub.publish('nosuch', { rows: [['AAPL', 1]] })).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
    await page.waitForSelector('#logs tr[data-proc="tp1"][data-level="warn"]', { timeout: 10_000 });
    expect(await page.textContent('#logs tr[data-proc="tp1"] td.msg')).toContain('update rejected');
    await page.waitForSelector('#rates tr[data-table="trade"]', { timeout: 10_000 });
    await page.waitForSelector('#checks-panel:not([hidden]) #checks tr[data-check="rdb.tradecount"][data-status="ok"]', { timeout: 10_000 });
    // (The check may have failed once before the rows came in: that alert is counted, not awaited.)
    const alertsBefore = await page.locator('#alerts tbody tr').count();

    // SIGKILL: no deregistration, the beats just stop. Red within the error window (errorAfterBeats
    // periods) plus the monitor's check and push periods; the bound here leaves room for a loaded machine.
    const rdb = procs.find((p) => p.name === 'rdb1')!;
    rdb.child.kill('SIGKILL');
    await rdb.exited;
    const windowMs = ERROR_AFTER * HB_MS + 200 + 200;
    await page.waitForSelector(`${row('rdb1')}[data-state="error"]`, { timeout: windowMs + 5_000 });
    expect(await page.getAttribute(row('rdb1'), 'class')).toContain('state-error');
    expect(await page.getAttribute(`${row('tp1')}`, 'data-state')).toBe('ok');
    // The monitor logged the transition at error level; its line reached the page like any process's.
    await page.waitForSelector('#logs tr[data-proc="mon1"][data-level="error"]', { timeout: 10_000 });
    expect(await page.textContent('#logs tr[data-proc="mon1"][data-level="error"] td.fields')).toContain('rdb1');

    // The check on rdb1 fails and its alert (alert.monitor.mon1) is on the page.
    await page.waitForSelector('#checks tr[data-check="rdb.tradecount"].state-error', { timeout: 10_000 });
    await page.waitForFunction(`document.querySelectorAll('#alerts tbody tr').length > ${alertsBefore}`, undefined, { timeout: 10_000 });
    expect(await page.textContent('#alerts tbody tr:first-child')).toContain('check rdb.tradecount on rdb1');
    expect(await page.getAttribute('#alerts tbody tr:first-child', 'data-level')).toBe('error');

    // The error chart counts it; the bin width changes on the page without a reload.
    await page.selectOption('#bin-minutes', '1');
    // A string: evaluated in the page (this file has no DOM types).
    await page.waitForFunction('Number(document.getElementById("errors-chart").dataset.errors) >= 1', undefined, { timeout: 5_000 });
    expect(await page.getAttribute('#errors-chart', 'data-bins')).toBe('180');
    await page.selectOption('#bin-minutes', '15');
    expect(await page.getAttribute('#errors-chart', 'data-bins')).toBe('12');
    await page.selectOption('#bin-minutes', '5');
    expect(await page.locator('#errors-chart canvas').count()).toBeGreaterThanOrEqual(1);

    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'monitor_web.png'), fullPage: true });
    expect(failed).toEqual([]);
  });
});
