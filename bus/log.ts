// One pino logger per process; children carry the process name and type. Log at most one line per
// batch, never per row (pino does ~130k lines/s here).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(bindings: Record<string, unknown> = {}, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}

/** A logger that drops everything (tests and benchmarks that do not want output). */
export const silentLogger: Logger = pino({ level: 'silent' });
