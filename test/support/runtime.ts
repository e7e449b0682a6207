// A process of any registered type started in the test process as `actors up` starts it (the
// process runtime + actors/registry.ts, through the programmatic API's system/in_process.ts):
// registered, heartbeating, serving its subjects. Stop it with the returned runtime's stop().
import type { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startInProcess, type InProcessOptions } from '../../system/in_process.ts';

export type RuntimeOptions = Omit<InProcessOptions, 'logger' | 'userCode' | 'apis'>;

export async function startRuntime(servers: string, proctype: string, name: string, settings: Record<string, unknown>, o: RuntimeOptions): Promise<ProcessRuntime> {
  return (await startInProcess(servers, proctype, name, settings, o)).runtime;
}
