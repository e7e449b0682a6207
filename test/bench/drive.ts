// Shared by the benchmark scripts: the load driver (a bounded window of requests in flight) and
// the CPU time of a process (this one, or a child read from /proc on Linux).
import { readFileSync } from 'node:fs';
import { nowNs } from '../../actors/common/clock.ts';

/** Runs `send(i)` for i < total with at most `window` in flight. */
export async function pump(total: number, window: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  let done = 0;
  await new Promise<void>((resolveAll, reject) => {
    const launch = () => {
      while (next < total && next - done < window) {
        const i = next++;
        send(i).then(() => {
          if (++done === total) resolveAll();
          else launch();
        }, reject);
      }
    };
    launch();
  });
}

/** CPU time (user + system) of a process in ms: this one from process.cpuUsage, others from /proc (Linux; throws elsewhere). */
export function cpuMs(pid: number | undefined): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime in clock ticks (USER_HZ 100)
}

/** The 50 syms every benchmark feeds. */
export const SYMS = Array.from({ length: 50 }, (_, i) => `SYM${String(i).padStart(2, '0')}`);

/** Trade columns of `n` rows (syms cycling through SYMS), with a `time` column stamped now or without (the tickerplant stamps it). */
export function tradeCols(n: number, withTime: boolean): Record<string, unknown> {
  const codes = new Uint32Array(n);
  const price = new Float64Array(n);
  const size = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    codes[i] = i % SYMS.length;
    price[i] = 100 + (i % 97) / 10;
    size[i] = BigInt(100 + (i % 13));
  }
  const cols: Record<string, unknown> = { sym: { dict: SYMS, codes }, price, size };
  if (withTime) cols.time = new BigInt64Array(n).fill(nowNs());
  return cols;
}
