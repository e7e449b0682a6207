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
}

export const defaultMonitorSettings: Omit<MonitorSettings, 'name'> = {
  warnAfterBeats: 2,
  errorAfterBeats: 3,
  checkEveryMs: 200,
};
