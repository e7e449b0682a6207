// The buffer-event part of a scenario (topology.tp.bufferEvent): the tickerplant's buffer settings,
// the start and end requests at their times (retried, bounded, while the tickerplant is down), and
// the bufferRowsOnce invariant, checked against the live log and the event's buffer log.
import { resolve } from 'node:path';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode } from '../../bus/codec.ts';
import { ErrorCode } from '../../bus/errors.ts';
import { manager } from '../../bus/streams.ts';
import { streams, subjects } from '../../bus/subjects.ts';
import { readBufferMessages, type BufferMark } from '../../actors/tickerplant/buffer.ts';
import type { Scenario } from '../../scenarios/types.ts';
import { readLog, until, type LogContents } from '../support/bus.ts';
import { status } from '../support/procs.ts';

type BufferEvent = NonNullable<Scenario['topology']['tp']['bufferEvent']>;

/** Bound on one start or end request being retried while the tickerplant is away. */
const requestBoundMs = 30_000;

/** The tickerplant settings a scenario with a buffer event runs with: odd fids are held. */
export function bufferSettings(ev: BufferEvent | undefined): Record<string, unknown> {
  if (!ev) return {};
  return { bufferEnabled: true, hooksModule: resolve(import.meta.dirname, '..', 'fixtures', 'tp_buffer_hooks.ts'), bufferFunct: 'holdOddFid', bufferReplayOnEnd: ev.replay };
}

/** When the event was surely open: after the start's answer, before the end was asked for. */
export interface BufferWindow {
  openedAt?: number;
  endAskedAt?: number;
}

/**
 * Asks `ctl.<tp>.buffer.<verb>` until it is answered with a mark, bounded. A start whose answer
 * was lost in a crash is answered "open" after the restart (the event was re-opened from the log).
 */
async function ask(nc: NatsConnection, tp: string, verb: 'start' | 'end', ev: BufferEvent): Promise<void> {
  const deadline = Date.now() + requestBoundMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const m = await nc.request(subjects.ctl(tp, `buffer.${verb}`), JSON.stringify({ id: ev.id, args: { by: 'scenario' } }), { timeout: 20_000 });
      const r = JSON.parse(new TextDecoder().decode(m.data)) as { type?: string; code?: string; message?: string; detail?: { open?: string } };
      if (r.type === 'tickbus.v1.buffer') return;
      if (verb === 'start' && r.code === ErrorCode.BAD_QUERY && r.detail?.open === ev.id) return;
      if (verb === 'end' && r.code === ErrorCode.BAD_QUERY && (await marks(nc, tp)).some((x) => x.id === ev.id && x.phase !== 'start')) return;
      last = `${r.code}: ${r.message}`;
    } catch (e) {
      last = (e as Error).message; // no responders while the tickerplant is down
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`buffer ${verb} of ${ev.id} not answered within ${requestBoundMs} ms: ${last}`);
}

/** Starts and ends the event at its times; the promise settles when both were answered. */
export function runBufferEvent(nc: NatsConnection, tp: string, ev: BufferEvent, window: BufferWindow): { timers: ReturnType<typeof setTimeout>[]; done: Promise<void> } {
  let startDone!: () => void;
  const started = new Promise<void>((r) => (startDone = r));
  const timers: ReturnType<typeof setTimeout>[] = [];
  const done = new Promise<void>((resolveDone, reject) => {
    timers.push(
      setTimeout(() => {
        ask(nc, tp, 'start', ev).then(() => {
          window.openedAt = Date.now();
          startDone();
        }, reject);
      }, ev.startAtMs),
    );
    timers.push(
      setTimeout(() => {
        started
          .then(() => {
            window.endAskedAt = Date.now();
            return ask(nc, tp, 'end', ev);
          })
          .then(resolveDone, reject);
      }, ev.endAtMs),
    );
  });
  return { timers, done };
}

/** The live log's buffer marks, in order. */
async function marks(nc: NatsConnection, tp: string): Promise<Array<BufferMark & { seq: number }>> {
  const jsm = await manager(nc);
  const subject = subjects.bufferMark(tp);
  const last = await jsm.streams.getMessage(streams.log(tp), { last_by_subj: subject }).catch(() => null);
  if (!last) return [];
  const c = await jetstream(nc).consumers.get(streams.log(tp), { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  const it = await c.consume();
  const out: Array<BufferMark & { seq: number }> = [];
  for await (const m of it) {
    out.push({ ...decode<BufferMark>(m.data), seq: m.seq });
    if (m.seq >= last.seq) break;
  }
  await it.close();
  return out;
}

/** One acked update: its fids and when it was sent and acked. */
export interface AckedUpdate {
  table: string;
  fids: BigInt64Array;
  sentAt: number;
  ackedAt: number;
}

/**
 * bufferRowsOnce: the buffer log holds only odd fids, each once, none of them in the live log
 * before the end mark; every odd fid sent after the event opened and acked before its end was
 * asked for is held; with replay, every held fid is in the live log after the end mark.
 */
export async function bufferViolations(nc: NatsConnection, tp: string, ev: BufferEvent, acked: AckedUpdate[], window: BufferWindow, stats: Record<string, number>): Promise<string[]> {
  const out: string[] = [];
  // With replay, wait (bounded) for the replayed mark: a replay cut by a crash resumes after the restart.
  await until(async () => (await marks(nc, tp)).some((m) => m.id === ev.id && m.phase === (ev.replay ? 'replayed' : 'end')), 30_000, 200).catch(() =>
    out.push(`the live log has no ${ev.replay ? 'replayed' : 'end'} mark of buffer event ${ev.id}`),
  );
  const ms = await marks(nc, tp);
  const log: LogContents = await readLog(nc, tp);
  const end = ms.find((m) => m.id === ev.id && m.phase === 'end');
  if (!end) return [...out, `no end mark of ${ev.id}`];
  const held = new Map<bigint, number>();
  for (const m of await readBufferMessages(nc, await manager(nc), tp, ev.id)) {
    if (m.kind !== 'rows') continue;
    for (const b of m.batches) for (const f of b.cols.fid as BigInt64Array) held.set(f, (held.get(f) ?? 0) + 1);
  }
  stats.bufferRows = held.size;
  // Held parts the restarted tickerplant found already in the log (the crash path taken).
  const st = await status<{ bufferHeldDuplicates?: number; heldRetries?: number }>(nc, tp).catch(() => undefined);
  stats.bufferHeldDuplicates = st?.bufferHeldDuplicates ?? -1;
  stats.bufferHeldRetries = st?.heldRetries ?? -1;
  const twice = [...held].filter(([, n]) => n > 1);
  if (twice.length) out.push(`${twice.length} fids held more than once (e.g. ${twice[0]![0]})`);
  const even = [...held.keys()].filter((f) => (f & 1n) === 0n);
  if (even.length) out.push(`${even.length} even fids held (the bufferFunct holds odd ones), e.g. ${even[0]}`);
  if (held.size === 0) out.push('the buffer log holds no rows');
  const liveBefore = new Set<bigint>();
  const liveAfter = new Set<bigint>();
  for (const b of log.batches) for (const f of b.cols.fid as BigInt64Array) (b.seq < end.seq ? liveBefore : liveAfter).add(f);
  const leaked = [...held.keys()].filter((f) => liveBefore.has(f));
  if (leaked.length) out.push(`${leaked.length} held fids are also live before the end mark (e.g. ${leaked[0]})`);
  if (ev.replay) {
    const notReplayed = [...held.keys()].filter((f) => !liveAfter.has(f));
    if (notReplayed.length) out.push(`${notReplayed.length} held fids not replayed into the live log (e.g. ${notReplayed[0]})`);
  }
  // Surely during the event: sent after it opened, acked before its end was asked for.
  let during = 0;
  for (const u of acked) {
    if (window.openedAt === undefined || window.endAskedAt === undefined || u.sentAt < window.openedAt || u.ackedAt > window.endAskedAt) continue;
    for (const f of u.fids) {
      if ((f & 1n) === 0n) continue;
      during++;
      if (!held.has(f)) {
        out.push(`odd fid ${f} (${u.table}) sent and acked during the event is not in the buffer log`);
        return out;
      }
    }
  }
  stats.bufferHeldDuringEvent = during;
  if (during === 0) out.push('no update was sent and acked while the event was surely open');
  return out;
}
