// A scenario's chained tickerplant (topology.chained): an in-process subscriber of the chained tp
// that reads from the day's start through every fault, and the check that both it and the chained
// tp's own log hold exactly the parent log's rows (narrowed by the chained tp's tables and syms),
// once each, in the parent's order per table; that its Tb-Count and end-of-day counts are exact;
// and that it ended the parent's days, in order.
import type { NatsConnection } from '@nats-io/nats-core';
import { manager } from '../../bus/streams.ts';
import { Header, streams } from '../../bus/subjects.ts';
import { subscribe, type Subscription } from '../../bus/subscriber.ts';
import type { Scenario } from '../../scenarios/types.ts';
import { status } from '../support/procs.ts';
import { readLog, tableFids, until, type LogContents } from '../support/bus.ts';

export interface ChainedProbe {
  sub: Subscription;
  fids: Map<string, bigint[]>;
  done: Promise<void>;
}

/** Subscribes to the chained tp from the day's start (it runs until checked). */
export async function startChainedProbe(nc: NatsConnection, ctp: string): Promise<ChainedProbe> {
  const sub = await subscribe(nc, { tp: ctp, from: 'today', name: 'scenario_ctp' });
  const fids = new Map<string, bigint[]>();
  const done = (async () => {
    for await (const e of sub) {
      if (e.type !== 'batch') continue;
      const list = fids.get(e.table) ?? [];
      list.push(...(e.batch.cols.fid as BigInt64Array));
      fids.set(e.table, list);
    }
  })();
  return { sub, fids, done };
}

function firstDifference(got: bigint[], want: bigint[]): string | undefined {
  const seen = new Set<bigint>();
  const dup = got.find((f) => (seen.has(f) ? true : (seen.add(f), false)));
  if (dup !== undefined) return `fid ${dup} twice`;
  if (got.length !== want.length) return `${got.length} rows, the parent log has ${want.length}`;
  const i = got.findIndex((f, k) => f !== want[k]);
  return i < 0 ? undefined : `first difference at row ${i}: ${got[i]} vs ${want[i]}`;
}

/**
 * Waits (bounded) for the chained tp and its subscriber to reach the parent log's end, then
 * compares; `countCheck` is the runner's Tb-Count and end-of-day count check, run on its own log.
 */
export async function chainedViolations(nc: NatsConnection, sc: Scenario, parent: LogContents, probe: ChainedProbe, stats: Record<string, number>, countCheck: (order: LogContents['order']) => string[], boundMs = 30_000): Promise<string[]> {
  const c = sc.topology.chained!;
  const out: string[] = [];
  const jsm = await manager(nc);
  const t0 = Date.now();
  try {
    await until(async () => {
      const info = await jsm.streams.info(streams.log(c.name));
      if (info.state.messages === 0) return false;
      const last = await jsm.streams.getMessage(streams.log(c.name), { seq: info.state.last_seq });
      return Number(last?.header.get(Header.parentSeq)) >= parent.lastSeq;
    }, boundMs, 100);
  } catch {
    out.push(`chained tp ${c.name} did not forward the parent log to seq ${parent.lastSeq} within ${boundMs} ms`);
  }
  const own = await readLog(nc, c.name);
  await until(() => probe.sub.lastSeq >= own.lastSeq, boundMs, 50).catch(() => out.push(`the chained tp's subscriber did not reach seq ${own.lastSeq}`));
  stats.chainedCatchUpMs = Date.now() - t0;
  stats.chainedMessages = own.batches.length;
  stats.chainedRows = own.batches.reduce((a, b) => a + b.n, 0);
  const st = await status<{ recoveries?: number; parentSeq?: number }>(nc, c.name, 5_000);
  stats.chainedRecoveries = st?.recoveries ?? -1;
  await probe.sub.close();
  await probe.done.catch((e: Error) => out.push(`the chained tp's subscriber failed: ${e.message}`));
  const syms = c.syms ? new Set(c.syms) : undefined;
  for (const t of c.tables ?? sc.feed.tables) {
    const want = tableFids(parent.batches, t, syms);
    const logDiff = firstDifference(tableFids(own.batches, t), want);
    if (logDiff) out.push(`chained tp ${c.name} log, ${t}: ${logDiff}`);
    const subDiff = firstDifference(probe.fids.get(t) ?? [], want);
    if (subDiff) out.push(`chained tp ${c.name} subscriber, ${t}: ${subDiff}`);
  }
  out.push(...countCheck(own.order).map((v) => `chained tp ${c.name}: ${v}`));
  // Every end of day of the parent's log from where the chained tp started (its first message's
  // Tb-Parent-Seq; it starts at a day's start, so no end of day lies between) up to where the
  // parent's log was read is in the chained tp's log, in order.
  const info = await jsm.streams.info(streams.log(c.name));
  const first = info.state.messages ? await jsm.streams.getMessage(streams.log(c.name), { seq: info.state.first_seq }) : undefined;
  const startedAt = Number(first?.header.get(Header.parentSeq) ?? Infinity);
  const day = (e: LogContents['eods'][number]) => `${e.day}>${e.nextDay}`;
  const want = parent.eods.filter((e) => e.seq >= startedAt).map(day);
  if (own.eods.slice(0, want.length).map(day).join(' ') !== want.join(' ')) {
    out.push(`chained tp ${c.name} ends days ${own.eods.map(day).join(' ')}, the parent from seq ${startedAt} ${want.join(' ')}`);
  }
  stats.chainedEodsExpected = want.length;
  stats.chainedEods = own.eods.length;
  return out;
}
