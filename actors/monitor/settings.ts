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
