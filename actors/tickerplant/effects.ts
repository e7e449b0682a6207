// Wires the tickerplant machine to its effects: Ingest does the I/O, the machine decides.
import type { NatsConnection } from '@nats-io/nats-core';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import type { Logger } from '../../bus/log.ts';
import { manager } from '../../bus/streams.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { Ingest } from './ingest.ts';
import { tickerplantMachine } from './machine.ts';
import { defaultTickerplantSettings, type TickerplantSettings } from './settings.ts';

export interface Tickerplant {
  ingest: Ingest;
  actor: Actor<typeof tickerplantMachine>;
  /** Resolves when the tickerplant is live (recovered), or rejects on failure / timeout. */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

export async function startTickerplant(
  nc: NatsConnection,
  settings: Partial<TickerplantSettings> & Pick<TickerplantSettings, 'name' | 'tables'>,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<Tickerplant> {
  const s: TickerplantSettings = { ...defaultTickerplantSettings, ...settings };
  const jsm = await manager(nc);
  const ingest = new Ingest(nc, jsm, s, clock, logger);
  const machine = tickerplantMachine.provide({
    actors: {
      recover: fromPromise(async () => ({ day: (await ingest.recover()).day })),
      rollEod: fromPromise(async ({ input }: { input: { day: string } }) => await ingest.rollEod(input.day)),
      drain: fromPromise(async () => await ingest.stop()),
    },
    actions: {
      resumeIngest: () => ingest.resume(),
      pauseIngest: () => ingest.pause(),
    },
  });
  const actor = createActor(machine, {
    input: { clock, eodTime: s.eodTime, eodZone: s.eodZone, recoverRetryMs: 1_000, recoverAttemptsMax: 30, demoDayMs: s.demoDayMs },
    clock,
  });
  ingest.onFatal = (e) => actor.send({ type: 'log.failed', error: e.message });
  let last = '';
  actor.subscribe((snap) => {
    const v = String(snap.value);
    if (v !== last) {
      last = v;
      logger.info({ state: v, day: snap.context.day, error: snap.context.lastError }, `tickerplant ${v}`);
    }
  });
  actor.start();
  await ingest.listen();
  return {
    ingest,
    actor,
    async ready(timeoutMs = 30_000) {
      const snap = await waitFor(actor, (x) => x.matches('live') || x.status === 'done', { timeout: timeoutMs });
      if (!snap.matches('live')) throw new Error(`tickerplant ended in ${String(snap.value)}: ${snap.context.lastError}`);
    },
    async stop() {
      actor.send({ type: 'tp.stop' });
      await waitFor(actor, (x) => x.status === 'done', { timeout: 20_000 });
    },
    status() {
      const snap = actor.getSnapshot();
      return { state: snap.value, day: snap.context.day, counts: Object.fromEntries(ingest.counts), ...ingest.stats, pendingRows: ingest.rowsPending };
    },
  };
}
