// Lowers the scheduling priority of the calling thread only (the RDB's query-pool workers: ingest
// beats queries). On Linux every thread has its own task id and nice value: the thread finds its
// id through /proc/thread-self ("<pid>/task/<tid>") and setpriority(PRIO_PROCESS, tid) renices
// that thread alone, leaving the event loop, libuv's pool and V8's helper threads as they were.
// Raising nice needs no privilege; the increment is added to the thread's current nice (capped at
// 19), so a process already started under `nice` keeps its place. Elsewhere (no per-thread nice
// through this call) it does nothing and says why.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

/** The highest nice value (lowest priority) Linux has. */
export const NICE_MAX = 19;

export interface ThreadNice {
  /** The thread's task id (Linux), when found. */
  tid?: number;
  /** Its nice value after the call (Linux). */
  nice?: number;
  /** Why nothing was changed, when nothing was. */
  note?: string;
}

/** BAD_CONFIG unless `increment` is an integer in [0, NICE_MAX]. */
export function checkNiceIncrement(increment: unknown, setting = 'queryPoolNice'): number {
  if (typeof increment !== 'number' || !Number.isInteger(increment) || increment < 0 || increment > NICE_MAX) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${setting} must be an integer from 0 (off) to ${NICE_MAX}, got ${JSON.stringify(increment)}`, { setting, value: String(increment), min: 0, max: NICE_MAX });
  }
  return increment;
}

/** This thread's task id from /proc/thread-self, or undefined when there is no such link. */
export function ownTid(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** Adds `increment` to the calling thread's nice value (Linux); a no-op with a note elsewhere or when 0. */
export function lowerThreadPriority(increment: number, platform: NodeJS.Platform = process.platform): ThreadNice {
  checkNiceIncrement(increment);
  if (increment === 0) return { note: 'queryPoolNice is 0: priority unchanged' };
  if (platform !== 'linux') return { note: `per-thread priority is not supported on ${platform}: queries run at the process's priority` };
  const tid = ownTid();
  if (tid === undefined) return { note: 'no /proc/thread-self: queries run at the process priority' };
  try {
    const nice = Math.min(NICE_MAX, getPriority(tid) + increment);
    setPriority(tid, nice);
    return { tid, nice: getPriority(tid) };
  } catch (e) {
    return { tid, note: `cannot renice thread ${tid}: ${(e as Error).message}` };
  }
}
