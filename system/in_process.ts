// A process of any registered type run inside the calling Node process, as `actors start` runs it
// in its own (the process runtime + actors/registry.ts): registered, heartbeating, serving its
// subjects. The programmatic API's in-process mode (tests, notebooks) and the tests' startRuntime
// both come here.
import { ProcessRuntime } from '../actors/common/runtime.ts';
import { processType } from '../actors/registry.ts';
import type { Clock } from '../actors/common/clock.ts';
import { loadUserCode, type LoadedUserCode, type UserCode } from '../actors/common/user_code.ts';
import type { Logger } from '../bus/log.ts';
import { silentLogger } from '../bus/log.ts';

export interface InProcessOptions {
  /** The tables config every process gets. */
  tables: Record<string, Record<string, string>>;
  /** Discovery attributes (e.g. a shard); default the table names, as `actors start` registers. */
  attributes?: Record<string, unknown>;
  /** Heartbeat period (default the runtime's). */
  heartbeatMs?: number;
  /** The clock the process runs on (default the system's). */
  clock?: Clock;
  /** Where the process logs (default nowhere). */
  logger?: Logger;
  /** Libraries, named APIs and timers (actors/common/user_code.ts); an API may also be a live function in `apis`. */
  userCode?: UserCode;
  /** Named APIs as functions of this process (closures allowed: nothing crosses a process boundary). */
  apis?: Record<string, { fn: (...args: any[]) => unknown; description?: string }>;
  /** Bound on the wait for the process to be ready. */
  readyTimeoutMs?: number;
}

export interface InProcess {
  runtime: ProcessRuntime;
  /** The user code's timers (stopped with the process). */
  code: LoadedUserCode;
}

export async function startInProcess(servers: string | string[], proctype: string, name: string, settings: Record<string, unknown>, o: InProcessOptions): Promise<InProcess> {
  const type = processType(proctype);
  const all = { tables: o.tables, ...settings };
  const logger = o.logger ?? silentLogger;
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers,
    logger,
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.attributes ? { attributes: o.attributes } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
    subjects: type.subjects(name, all),
    start: (c, ctx) => type.start(c, name, all, logger, ctx),
  });
  const code = await loadUserCode(o.userCode, rt.apis, logger);
  for (const [api, a] of Object.entries(o.apis ?? {})) rt.registerApi(api, a.fn, a.description ?? '');
  void rt.stopped.then(() => code.stop());
  try {
    await rt.start(o.readyTimeoutMs);
  } catch (e) {
    await rt.stop().catch(() => {});
    throw e;
  }
  code.startTimers();
  return { runtime: rt, code };
}
