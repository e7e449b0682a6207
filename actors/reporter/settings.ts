// Reporter settings (TorQ's reporter process): typed defaults, one line each, every limit named.
// docs/reporter.md describes the report file, the handlers and the query log.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

export interface SmtpSettings {
  /** SMTP server host. */
  host: string;
  /** SMTP server port. */
  port: number;
  /** TLS from the first byte (port 465); false = plain, upgraded by STARTTLS when offered. */
  secure: boolean;
  /** Login user; none = no authentication. */
  user?: string;
  /** Name of an environment variable holding the password (never the password itself). */
  passEnv?: string;
  /** A file holding the password (first line), for secrets mounted as files. */
  passFile?: string;
  /** The From address of every mail. */
  from: string;
  /** Connecting, greeting and each SMTP command time out after this long. */
  timeoutMs: number;
}

export interface ReporterSettings {
  /** Process name. */
  name: string;
  /** The report file (pipe-delimited, TorQ's reporter.csv); relative = from the repository root. */
  reportsCsv: string;
  /** Zone of the start/end times and days of week; default the system's zone. */
  zone: string;
  /** Directory of file handlers when a handler gives none; relative = inside the data directory. */
  outputDir: string;
  /** Reports running at once; a report due beyond this is skipped and logged (never queued). */
  concurrentMax: number;
  /** Rows kept in the in-memory query log (TorQ's querylog); the oldest go first. */
  logRowsMax: number;
  /** Default minimum gap between two alert e-mails of one report (emailalert's `throttleMs`). */
  alertThrottleMs: number;
  /** Longest single timer: a longer wait re-computes the next fire time (the zone may change under it). */
  timerMaxMs: number;
  /** Rows a file, Parquet or mail handler writes (a larger result is refused with an E stage). */
  resultRowsMax: number;
  /** SMTP for emailalert and emailreport; absent = those handlers fail their run with an E stage. */
  smtp?: SmtpSettings;
}

/** The system's zone (TZ or the OS setting), as Intl reports it. */
export function systemZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export const defaultReporterSettings: Omit<ReporterSettings, 'name' | 'zone'> = {
  reportsCsv: 'ops/reporter.csv',
  outputDir: 'reports',
  concurrentMax: 4,
  logRowsMax: 10_000,
  alertThrottleMs: 3_600_000,
  timerMaxMs: 3_600_000,
  resultRowsMax: 1_000_000,
};

/** Settings out of their bounds are a BAD_CONFIG naming the setting. */
export function checkReporterSettings(s: ReporterSettings): ReporterSettings {
  const within = (key: keyof ReporterSettings, lo: number, hi: number) => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `reporter setting ${key}=${String(v)}: an integer in ${lo}..${hi}`, { setting: key, value: v, min: lo, max: hi });
    }
  };
  within('concurrentMax', 1, 256);
  within('logRowsMax', 10, 1_000_000);
  within('alertThrottleMs', 0, 7 * 86_400_000);
  within('timerMaxMs', 1_000, 86_400_000);
  within('resultRowsMax', 1, 10_000_000);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: s.zone });
  } catch {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `reporter setting zone=${JSON.stringify(s.zone)}: unknown time zone`, { setting: 'zone', value: s.zone });
  }
  if (s.smtp !== undefined) {
    const m = s.smtp;
    if (typeof m.host !== 'string' || !m.host || !Number.isInteger(m.port) || m.port < 1 || m.port > 65_535 || typeof m.from !== 'string' || !m.from) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, 'reporter setting smtp: host, port (1..65535) and from are required', { setting: 'smtp', host: m.host, port: m.port });
    }
  }
  return s;
}
