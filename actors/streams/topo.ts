// Start order of a manager's streams: producers before consumers (a stream whose input subject is
// another stream's output starts after it). Kahn's algorithm, ties broken by name so the order is
// stable; a cycle is a BAD_CONFIG naming the streams on it. Kemux swaps neighbours in one pass,
// which is not a topological order for chains of three or more.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { StreamDefinition } from './define.ts';

export function startOrder(defs: ReadonlyMap<string, StreamDefinition>): string[] {
  const producers = new Map<string, string[]>(); // subject -> streams that publish it
  for (const [name, d] of defs) {
    for (const o of Object.values(d.outputs)) producers.set(o.subject, [...(producers.get(o.subject) ?? []), name]);
  }
  const after = new Map<string, Set<string>>(); // producer -> consumers
  const indegree = new Map<string, number>();
  for (const name of defs.keys()) indegree.set(name, 0);
  for (const [name, d] of defs) {
    const subject = d.input.subject;
    if (subject === undefined) continue;
    for (const p of producers.get(subject) ?? []) {
      const set = after.get(p) ?? new Set<string>();
      if (!set.has(name)) {
        set.add(name);
        indegree.set(name, indegree.get(name)! + 1);
      }
      after.set(p, set);
    }
  }
  const ready = [...indegree].filter(([, n]) => n === 0).map(([s]) => s).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const s = ready.shift()!;
    order.push(s);
    for (const c of [...(after.get(s) ?? [])].sort()) {
      const n = indegree.get(c)! - 1;
      indegree.set(c, n);
      if (n === 0) {
        ready.push(c);
        ready.sort();
      }
    }
  }
  if (order.length < defs.size) {
    const cycle = [...indegree].filter(([, n]) => n > 0).map(([s]) => s).sort();
    throw new TickbusError(ErrorCode.BAD_CONFIG, `streams form a cycle: ${cycle.join(', ')}`, { streams: cycle });
  }
  return order;
}
