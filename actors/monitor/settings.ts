// Monitor settings: typed defaults, one line each.
export interface MonitorSettings {
  /** Process name. */
  name: string;
  /** A process more than this many heartbeat periods without a beat is in warning (TorQ warningtolerance). */
  warnAfterBeats: number;
  /** ... and in error beyond this many (TorQ errortolerance). */
  errorAfterBeats: number;
  /** How often heartbeat states are evaluated. */
  checkEveryMs: number;
  /** The web page's port: 0 = any free port, -1 = no page; when taken, a free port instead (logged; the status carries the URL). */
  httpPort: number;
  /** The address the page binds to; 127.0.0.1 keeps it on this machine (0.0.0.0 shows it to the network: it has no login). */
  httpHost: string;
  /** Live-page connections (Server-Sent Events) at once; one more is answered 503. */
  sseClientsMax: number;
  /** Bytes buffered for one slow page before it is disconnected (it gets only the latest snapshot anyway). */
  sseClientBufferBytesMax: number;
  /** Snapshots pushed to the pages at most this often (only when something changed). */
  pushEveryMs: number;
  /** Warn/error log lines kept (the page shows the last 30). */
  logLinesMax: number;
  /** Alerts kept. */
  alertsMax: number;
  /** Minutes of per-minute error/warning counts kept for the chart (bins are rebuilt on the page). */
  errorMinutesMax: number;
  /** Log-line messages taken per second from the bus; more are counted as dropped. */
  logLinesPerSecMax: number;
  /** Rows in the process table (registry entries plus supervised processes). */
  processesMax: number;
  /** How often subscriber lag (JetStream consumer info of every log stream) is read. */
  lagPollMs: number;
  /** Consumers listed per log stream. */
  consumersPerStreamMax: number;
  /** Samples of each tickerplant table's rows/s kept for the chart (one per heartbeat). */
  rateSamplesMax: number;
  /** The check table (TorQ's monitorconfig.csv, docs/checks.md); relative to the checkout; absent or '' = no checks. */
  checksFile?: string;
  /** The gateway checks go through, by name; absent = any gateway (queue group). */
  checksGateway?: string;
  /** Checks running at once; the rest wait their turn (1..64). */
  checksConcurrentMax: number;
  /** Past runs kept per check (1..10 000). */
  checksHistoryMax: number;
  /** Past runs kept over all checks (each check keeps at most this / checks). */
  checksHistoryTotalMax: number;
  /** Delay before each check's first run (capped at its period), so the processes it asks are up. */
  checksStartDelayMs: number;
}

export const defaultMonitorSettings: Omit<MonitorSettings, 'name'> = {
  warnAfterBeats: 2,
  errorAfterBeats: 3,
  checkEveryMs: 200,
  httpPort: 8080,
  httpHost: '127.0.0.1',
  sseClientsMax: 32,
  sseClientBufferBytesMax: 1024 * 1024,
  pushEveryMs: 500,
  logLinesMax: 200,
  alertsMax: 100,
  errorMinutesMax: 24 * 60,
  logLinesPerSecMax: 200,
  processesMax: 1_000,
  lagPollMs: 5_000,
  consumersPerStreamMax: 100,
  rateSamplesMax: 300,
  checksConcurrentMax: 4,
  checksHistoryMax: 100,
  checksHistoryTotalMax: 10_000,
  checksStartDelayMs: 5_000,
};

/** Bounds of the check settings; a value outside is a BAD_CONFIG. */
export const checksSettingBounds = {
  checksConcurrentMax: [1, 64],
  checksHistoryMax: [1, 10_000],
  checksHistoryTotalMax: [1, 1_000_000],
  checksStartDelayMs: [0, 3_600_000],
} as const;
