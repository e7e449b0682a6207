// A small backend process for gateway tests and benchmarks, run as a real OS process:
//   node --import tsx test/support/gateway_backend.ts <natsUrl> <proctype> <name> [heartbeatMs] [delayMs]
// It registers through the process runtime and serves named APIs: `f(ms)` answers a two-row table
// after ms + delayMs (TorQ's walkthrough function), `echo(x)` answers x at once, `pid()` its pid.
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { silentLogger } from '../../bus/log.ts';
import { RESULT_TYPE, type QueryResult } from '../../storage/query/result.ts';

export function sampleTable(name: string, base = 0): QueryResult {
  return {
    type: RESULT_TYPE,
    table: 't',
    n: 2,
    columns: ['a', 'src'],
    types: ['long', 'symbol'],
    cols: { a: BigInt64Array.of(BigInt(base + 1), BigInt(base + 2)), src: [name, name] },
  };
}

export function registerTestApis(rt: ProcessRuntime, name: string, delayMs: number): void {
  rt.registerApi('f', async (ms: number) => {
    await new Promise((r) => setTimeout(r, Number(ms) + delayMs));
    return sampleTable(name);
  });
  rt.registerApi('echo', (x: unknown) => x);
  rt.registerApi('pid', () => process.pid);
  rt.registerApi('fail', (why: string) => {
    throw new Error(why ?? 'failed on purpose');
  });
}

async function main(): Promise<void> {
  const [url, proctype, name, hb = '1000', delay = '0'] = process.argv.slice(2);
  if (!url || !proctype || !name) throw new Error('usage: gateway_backend.ts <natsUrl> <proctype> <name> [heartbeatMs] [delayMs]');
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers: url,
    logger: silentLogger,
    heartbeatMs: Number(hb),
    attributes: { pid: process.pid },
    start: async () => ({ ready: async () => {}, stop: async () => {}, status: () => ({ pid: process.pid }) }),
    // The gateway benchmark's BENCH_USAGE=off: the usage log off, to measure its cost.
    usage: process.env.BENCH_USAGE === 'off' ? { enabled: false } : undefined,
  });
  registerTestApis(rt, name, Number(delay));
  process.on('SIGTERM', () => void rt.stop().then(() => process.exit(0)));
  await rt.start();
  process.stdout.write('ready\n');
  await rt.stopped;
  process.exit(0);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
