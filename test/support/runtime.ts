// A process of any registered type started in the test process as `actors up` starts it (the
// process runtime + actors/registry.ts): registered, heartbeating, serving its subjects. Stop it
// with the returned runtime's stop().
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { processType } from '../../actors/registry.ts';
import type { Clock } from '../../actors/common/clock.ts';
import { silentLogger } from './bus.ts';

export interface RuntimeOptions {
  /** The tables config every process gets. */
  tables: Record<string, Record<string, string>>;
  /** Discovery attributes (e.g. a shard). */
  attributes?: Record<string, unknown>;
  /** Heartbeat period (default the runtime's). */
  heartbeatMs?: number;
  /** The clock the process runs on (default the system's). */
  clock?: Clock;
}

export async function startRuntime(servers: string, proctype: string, name: string, settings: Record<string, unknown>, o: RuntimeOptions): Promise<ProcessRuntime> {
  const type = processType(proctype);
  const all = { tables: o.tables, ...settings };
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers,
    logger: silentLogger,
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.attributes ? { attributes: o.attributes } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
    subjects: type.subjects(name, all),
    start: (c, ctx) => type.start(c, name, all, silentLogger, ctx),
  });
  await rt.start();
  return rt;
}
