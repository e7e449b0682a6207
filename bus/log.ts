// One pino logger per process; children carry the process name and type. Log at most one line per
// batch, never per row (pino does ~130k lines/s here).
import { pino, type Logger } from 'pino';
import type { LogForwarder } from './log_forward.ts';

export type { Logger };

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/**
 * A process logger writing JSON lines to stdout. With a forwarder, warn and error lines also go
 * to it (bus/log_forward.ts publishes them on `log.<proctype>.<name>` once the process is
 * connected), even when the stdout level is above warn.
 */
export function createLogger(bindings: Record<string, unknown> = {}, level = process.env.LOG_LEVEL ?? 'info', forwarder?: LogForwarder): Logger {
  const base = { pid: process.pid, ...bindings };
  if (!forwarder || level === 'silent') return pino({ level, base });
  const loggerLevel = (LEVELS[level] ?? 30) <= 40 ? level : 'warn'; // the logger itself emits warn at least
  const streams = pino.multistream([
    { level: level as pino.Level, stream: pino.destination(1) },
    { level: 'warn', stream: forwarder },
  ]);
  return pino({ level: loggerLevel, base }, streams);
}

/** A logger that drops everything (tests and benchmarks that do not want output). */
export const silentLogger: Logger = pino({ level: 'silent' });
