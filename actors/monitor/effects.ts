// The monitor (TorQ's monitor process): watches the registry and every heartbeat, logs each process
// going to warning or error and back, and serves the heartbeat table (TorQ's .hb.hb) as the named
// API `heartbeats` and the registry with health as `processes`, so `actors ps` shows heartbeat
// states without listening itself. Health is computed here from the beats this process hears
// (actors/common/discovery.ts); nothing is written back to the registry. It has no control flow
// beyond start and stop, so no machine. With `checksFile` set it also runs TorQ's check monitor
// (checks.ts, docs/checks.md). It also serves the web page (http.ts, page_data.ts,
// docs/monitor.md): heartbeats, the last warn/error lines of every process, alerts, error counts,
// subscriber lag, the tickerplants' rows/s and the checks, pushed live.
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { Discovery, type ProcessView } from '../common/discovery.ts';
import type { ApiTable } from '../common/runtime.ts';
import { checksFilePath, startChecks, type Checks } from './checks.ts';
import { MonitorWeb } from './http.ts';
import { PageData, type ChecksProvider } from './page_data.ts';
import { checksSettingBounds, defaultMonitorSettings, type MonitorSettings } from './settings.ts';

/** One row of the heartbeat table. */
export interface HeartbeatRow {
  proctype: string;
  name: string;
  /** Last beat heard (ISO), or null when none yet. */
  time: string | null;
  /** The process's beat counter. */
  counter: number;
  state: ProcessView['health'];
  warning: boolean;
  error: boolean;
  /** Milliseconds since the last beat (or since registration when none). */
  ageMs: number;
  heartbeatMs: number;
}

export function heartbeatRows(d: Discovery, nowMs: number, wallNowMs = Date.now()): HeartbeatRow[] {
  return d.list().map((p) => {
    const since = p.lastBeatMs ?? p.seenAtMs;
    return {
      proctype: p.proctype,
      name: p.name,
      // The clock may be simulated: show the wall time of the beat relative to now.
      time: p.lastBeatMs === undefined ? null : new Date(wallNowMs - (nowMs - p.lastBeatMs)).toISOString(),
      counter: p.beats,
      state: p.health,
      warning: p.health === 'warning',
      error: p.health === 'error',
      ageMs: nowMs - since,
      heartbeatMs: p.heartbeatMs ?? 1_000,
    };
  });
}

export interface Monitor {
  discovery: Discovery;
  /** The check monitor, when `checksFile` is set. */
  checks: Checks | undefined;
  /** The page's data (log lines, alerts, lag, rates). */
  page: PageData;
  /** The page's URL, or undefined with httpPort -1. */
  url: string | undefined;
  /** Shows other check rows on the page instead of the check monitor's (tests; undefined = none). */
  setChecks(p: ChecksProvider | undefined): void;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

/** Settings as they come from config and --set (strings for numbers are accepted), checked. */
function checkedSettings(settings: Partial<MonitorSettings> & Pick<MonitorSettings, 'name'>): MonitorSettings {
  const s = { ...defaultMonitorSettings, ...settings } as MonitorSettings;
  const ints: Array<[keyof MonitorSettings, number, number]> = [
    ['httpPort', -1, 65_535],
    ['sseClientsMax', 1, 1_024],
    ['sseClientBufferBytesMax', 1_024, 64 * 1024 * 1024],
    ['pushEveryMs', 50, 60_000],
    ['logLinesMax', 30, 100_000],
    ['alertsMax', 30, 100_000],
    ['errorMinutesMax', 5, 7 * 24 * 60],
    ['logLinesPerSecMax', 1, 100_000],
    ['processesMax', 1, 100_000],
    ['lagPollMs', 100, 3_600_000],
    ['consumersPerStreamMax', 1, 10_000],
    ['rateSamplesMax', 2, 100_000],
  ];
  for (const [k, lo, hi] of ints) {
    const v = Number(s[k]);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new TickbusError(ErrorCode.BAD_CONFIG, `monitor ${k}: an integer in ${lo}..${hi}, got ${JSON.stringify(s[k])}`, { setting: k, value: s[k], min: lo, max: hi });
    (s as unknown as Record<string, unknown>)[k] = v;
  }
  if (typeof s.httpHost !== 'string' || !s.httpHost) throw new TickbusError(ErrorCode.BAD_CONFIG, 'monitor httpHost: an address to bind, e.g. 127.0.0.1', { setting: 'httpHost', value: s.httpHost });
  for (const [k, [lo, hi]] of Object.entries(checksSettingBounds)) {
    const v = s[k as keyof typeof checksSettingBounds];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `monitor setting ${k} must be an integer in [${lo}, ${hi}]`, { setting: k, value: v });
    }
  }
  if (s.checksFile !== undefined && typeof s.checksFile !== 'string') throw new TickbusError(ErrorCode.BAD_CONFIG, 'monitor setting checksFile must be a path', { setting: 'checksFile' });
  return s;
}

export async function startMonitor(
  nc: NatsConnection,
  settings: Partial<MonitorSettings> & Pick<MonitorSettings, 'name'>,
  logger: Logger,
  apis?: ApiTable,
): Promise<Monitor> {
  const s = checkedSettings(settings);
  const d = await Discovery.open(nc, { health: { warnAfterBeats: s.warnAfterBeats, errorAfterBeats: s.errorAfterBeats }, checkEveryMs: s.checkEveryMs, logger });
  const transitions = { warning: 0, error: 0, recovered: 0 };
  d.on((e) => {
    if (e.type === 'proc.up') logger.info({ proc: e.proc.name, proctype: e.proc.proctype }, 'process registered');
    else if (e.type === 'proc.down') logger.info({ proc: e.proc.name, proctype: e.proc.proctype }, 'process deregistered');
    else if (e.type === 'proc.health') {
      const bind = { proc: e.proc.name, proctype: e.proc.proctype, from: e.previous, to: e.proc.health };
      if (e.proc.health === 'error') {
        transitions.error++;
        logger.error(bind, 'heartbeat error');
      } else if (e.proc.health === 'warning') {
        transitions.warning++;
        logger.warn(bind, 'heartbeat warning');
      } else {
        transitions.recovered++;
        logger.info(bind, 'heartbeat ok again');
      }
    }
  });
  apis?.register('heartbeats', () => heartbeatRows(d, Date.now()), 'the heartbeat table: last beat, counter, warning, error (TorQ .hb.hb)');
  apis?.register('processes', () => d.list(), 'the registry with heartbeat health (TorQ .servers.SERVERS)');
  let checks: Checks | undefined;
  if (s.checksFile) {
    try {
      checks = startChecks(nc, {
        name: s.name,
        file: checksFilePath(s.checksFile),
        gateway: s.checksGateway,
        concurrentMax: s.checksConcurrentMax,
        historyMax: s.checksHistoryMax,
        historyTotalMax: s.checksHistoryTotalMax,
        startDelayMs: s.checksStartDelayMs,
        discovery: d,
        logger,
        apis,
      });
    } catch (e) {
      await d.close();
      throw e;
    }
  }
  const page = new PageData(nc, d, s, logger);
  page.start();
  if (checks) page.setChecks(checks);
  apis?.register('logs', () => page.logs.items().reverse(), 'the warn/error log lines of every process, newest first (bounded ring)');
  apis?.register('alerts', () => page.alerts.items().reverse(), 'the alerts heard, newest first (bounded ring)');
  let web: MonitorWeb | undefined;
  if (s.httpPort >= 0) {
    web = new MonitorWeb({
      host: s.httpHost,
      port: s.httpPort,
      fallbackToFreePort: true,
      sseClientsMax: s.sseClientsMax,
      sseClientBufferBytesMax: s.sseClientBufferBytesMax,
      pushEveryMs: s.pushEveryMs,
      snapshot: () => page.snapshot(),
      onChange: (fn) => page.onChange(fn),
      logger,
    });
    try {
      await web.start();
    } catch (e) {
      await page.close();
      await checks?.stop();
      await d.close();
      throw e;
    }
    logger.info({ url: web.url() }, 'monitor page');
  }
  return {
    discovery: d,
    checks,
    page,
    get url() {
      return web?.url();
    },
    setChecks: (p) => page.setChecks(p),
    ready: async () => {},
    stop: async () => {
      await web?.stop();
      await page.close();
      await checks?.stop();
      await d.close();
    },
    status() {
      const rows = d.list();
      const count = (h: string) => rows.filter((r) => r.health === h).length;
      // url first: `actors up` prints it (its detail column is cut at 160 characters).
      return {
        url: web?.url(),
        processes: rows.length,
        ok: count('ok'),
        warning: count('warning'),
        error: count('error'),
        transitions,
        pages: web?.clientCount() ?? 0,
        ...(checks ? { checks: checks.status() } : {}),
      };
    },
  };
}
