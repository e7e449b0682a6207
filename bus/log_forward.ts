// Forwards a process's warn and error log lines to NATS (`log.<proctype>.<name>`, payload
// `tickbus.v1.log`, bus/SUBJECTS.md) so the monitor can show the last ones of every process.
// It is a pino destination stream (pino.multistream, level warn): pino hands it the serialized
// line, it picks a few bounded fields and publishes. It never blocks the caller (a core NATS
// publish only buffers), never throws into pino, never logs through the logger it serves (a
// failure to publish is counted, not logged: no recursion), and is rate limited (a token bucket)
// so a process logging in a loop cannot flood the bus; lines over the limit are counted and the
// count travels in the next line that goes out (`dropped`).
import type { NatsConnection } from '@nats-io/nats-core';
import { subjects } from './subjects.ts';

export const LOG_TYPE = 'tickbus.v1.log' as const;

export type LogLevelName = 'warn' | 'error';

/** One forwarded log line. */
export interface LogLine {
  type: typeof LOG_TYPE;
  /** When the line was logged (ISO). */
  at: string;
  level: LogLevelName;
  proctype: string;
  name: string;
  msg: string;
  /** Up to `fieldsMax` other scalar fields of the line (err, code, table, ...), each bounded. */
  fields?: Record<string, string | number | boolean | null>;
  /** Lines this process dropped (rate limit, no connection) since the previous forwarded line. */
  dropped?: number;
}

export const logForwardLimits = {
  /** Lines forwarded per second on average (token refill). */
  linesPerSec: 20,
  /** Lines forwarded at once after a quiet spell (bucket size). */
  burst: 50,
  /** Characters of msg kept. */
  msgCharsMax: 500,
  /** Other fields kept per line. */
  fieldsMax: 8,
  /** Characters kept of each field value (objects are JSON-encoded, then cut). */
  fieldCharsMax: 200,
  /** Bytes of a serialized line parsed at all (a larger one is forwarded as its first bytes' msg only). */
  lineBytesMax: 64 * 1024,
} as const;

// pino's standard keys (and the process bindings the subject already names) are not copied to fields.
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'proctype', 'name', 'v']);
// Names that suggest a secret are never forwarded, whatever a caller logged.
const SECRET_RE = /pass|secret|token|key|auth|cred|cookie/i;

function levelName(n: unknown): LogLevelName | undefined {
  if (typeof n !== 'number') return undefined;
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  return undefined;
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Builds the wire line from one pino JSON line; undefined when it is not warn/error or not JSON. */
export function toLogLine(raw: string, proctype: string, name: string, nowIso: string): LogLine | undefined {
  let rec: Record<string, unknown>;
  try {
    rec = raw.length > logForwardLimits.lineBytesMax ? { level: 50, msg: raw.slice(0, logForwardLimits.msgCharsMax) } : (JSON.parse(raw) as Record<string, unknown>);
  } catch {
    return undefined;
  }
  const level = levelName(rec.level);
  if (!level) return undefined;
  const fields: Record<string, string | number | boolean | null> = {};
  let n = 0;
  for (const [k, v] of Object.entries(rec)) {
    if (SKIP.has(k) || SECRET_RE.test(k) || n >= logForwardLimits.fieldsMax) continue;
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) fields[k] = v;
    else fields[k] = cut(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v), logForwardLimits.fieldCharsMax);
    n++;
  }
  const at = typeof rec.time === 'number' ? new Date(rec.time).toISOString() : nowIso;
  const line: LogLine = { type: LOG_TYPE, at, level, proctype, name, msg: cut(String(rec.msg ?? ''), logForwardLimits.msgCharsMax) };
  if (n) line.fields = fields;
  return line;
}

/** A pino destination (write(line)) that publishes warn/error lines once a connection is attached. */
export class LogForwarder {
  private nc: NatsConnection | undefined;
  private proctype = '';
  private name = '';
  private tokens: number = logForwardLimits.burst;
  private refilledMs = Date.now();
  private droppedSince = 0;
  private readonly enc = new TextEncoder();
  /** Counters for the process's status. */
  readonly stats = { forwarded: 0, dropped: 0, failed: 0 };

  /** Starts publishing for this process (the runtime calls it once connected). */
  attach(nc: NatsConnection, proctype: string, name: string): void {
    this.nc = nc;
    this.proctype = proctype;
    this.name = name;
  }

  /** Stops publishing (before the connection drains). */
  detach(): void {
    this.nc = undefined;
  }

  private take(nowMs: number): boolean {
    const { linesPerSec, burst } = logForwardLimits;
    this.tokens = Math.min(burst, this.tokens + ((nowMs - this.refilledMs) / 1_000) * linesPerSec);
    this.refilledMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** pino's stream interface: one serialized line per call. Never throws. */
  write(raw: string): boolean {
    try {
      const nc = this.nc;
      if (!nc || nc.isClosed()) return true; // not connected yet or stopping: stdout still has the line
      const now = Date.now();
      if (!this.take(now)) {
        this.droppedSince++;
        this.stats.dropped++;
        return true;
      }
      const line = toLogLine(raw, this.proctype, this.name, new Date(now).toISOString());
      if (!line) return true;
      if (this.droppedSince) line.dropped = this.droppedSince;
      nc.publish(subjects.logLine(this.proctype, this.name), this.enc.encode(JSON.stringify(line)));
      this.droppedSince = 0;
      this.stats.forwarded++;
    } catch {
      // Publishing failed (connection closing, payload refused): counted, never logged (that would recurse).
      this.stats.failed++;
    }
    return true;
  }
}
