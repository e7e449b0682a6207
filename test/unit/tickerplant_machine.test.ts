// Proves the tickerplant machine's decisions with a simulated clock and stub effects: it rolls
// the day exactly at the configured end-of-day instant in the configured zone (including the
// 23- and 25-hour DST days), rolls every missed day after a restart, recovers when the log
// fails, and stops cleanly. No I/O: recover/rollEod/drain are stubs that record their calls.
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { addDays } from '../../actors/common/clock.ts';
import { tickerplantMachine } from '../../actors/tickerplant/machine.ts';

function harness(opts: { start: string; day: string; eodTime?: string; eodZone?: string; failRecover?: number }) {
  const clock = new SimulatedClock();
  clock.set(Date.parse(opts.start));
  const rolls: Array<{ day: string; at: string }> = [];
  let recovers = 0;
  let drained = false;
  const machine = tickerplantMachine.provide({
    actors: {
      recover: fromPromise(async () => {
        recovers++;
        if (recovers <= (opts.failRecover ?? 0)) throw new Error('stream unavailable');
        return { day: opts.day };
      }),
      rollEod: fromPromise(async ({ input }: { input: { day: string } }) => {
        rolls.push({ day: input.day, at: new Date(clock.now()).toISOString() });
        return addDays(input.day, 1);
      }),
      drain: fromPromise(async () => {
        drained = true;
      }),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { clock, eodTime: opts.eodTime ?? '00:00', eodZone: opts.eodZone ?? 'UTC', recoverRetryMs: 1_000, recoverAttemptsMax: 5 },
  });
  actor.start();
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { clock, actor, rolls, settle, recovers: () => recovers, drained: () => drained };
}

// Steps land on whole quarter hours, where every end of day in these cases falls.
async function advance(h: ReturnType<typeof harness>, ms: number, stepMs = 900_000) {
  for (let t = 0; t < ms; t += stepMs) {
    h.clock.increment(Math.min(stepMs, ms - t));
    await h.settle();
    await h.settle();
  }
}

describe('tickerplant machine', () => {
  it('tickerplant: rolls at midnight UTC and not a millisecond before', async () => {
    const h = harness({ start: '2026-11-21T23:59:00Z', day: '2026-11-21' });
    await h.settle();
    expect(h.actor.getSnapshot().value).toBe('live');
    h.clock.increment(59_999);
    await h.settle();
    expect(h.rolls).toEqual([]);
    h.clock.increment(1);
    await h.settle();
    await h.settle();
    expect(h.rolls).toEqual([{ day: '2026-11-21', at: '2026-11-22T00:00:00.000Z' }]);
    expect(h.actor.getSnapshot().context.day).toBe('2026-11-22');
    expect(h.actor.getSnapshot().value).toBe('live');
  });

  it('tickerplant: rolls at New York midnight across the spring-forward and fall-back days', async () => {
    const h = harness({ start: '2026-03-07T12:00:00Z', day: '2026-03-07', eodZone: 'America/New_York' });
    await advance(h, 3 * 86_400_000);
    expect(h.rolls.slice(0, 3)).toEqual([
      { day: '2026-03-07', at: '2026-03-08T05:00:00.000Z' }, // EST midnight
      { day: '2026-03-08', at: '2026-03-09T04:00:00.000Z' }, // EDT midnight: a 23-hour day
      { day: '2026-03-09', at: '2026-03-10T04:00:00.000Z' },
    ]);
    const f = harness({ start: '2026-10-31T12:00:00Z', day: '2026-10-31', eodZone: 'America/New_York' });
    await advance(f, 2 * 86_400_000);
    expect(f.rolls.slice(0, 2)).toEqual([
      { day: '2026-10-31', at: '2026-11-01T04:00:00.000Z' },
      { day: '2026-11-01', at: '2026-11-02T05:00:00.000Z' }, // a 25-hour day
    ]);
  });

  it('tickerplant: a 17:00 New York roll happens at 22:00Z in winter', async () => {
    const h = harness({ start: '2026-11-20T21:00:00Z', day: '2026-11-20', eodTime: '17:00', eodZone: 'America/New_York' });
    await advance(h, 2 * 3_600_000);
    expect(h.rolls).toEqual([{ day: '2026-11-20', at: '2026-11-20T22:00:00.000Z' }]);
  });

  it('tickerplant: after a restart it rolls every day it missed, in order, at once', async () => {
    const h = harness({ start: '2026-11-22T09:00:00Z', day: '2026-11-19' });
    await h.settle();
    for (let i = 0; i < 6; i++) await h.settle();
    expect(h.rolls.map((r) => r.day)).toEqual(['2026-11-19', '2026-11-20', '2026-11-21']);
    expect(h.actor.getSnapshot().context.day).toBe('2026-11-22');
  });

  it('tickerplant: a failed recovery is retried after the stated pause, up to the bound', async () => {
    const h = harness({ start: '2026-11-22T09:00:00Z', day: '2026-11-22', failRecover: 2 });
    await h.settle();
    expect(h.actor.getSnapshot().value).toBe('waitingToRecover');
    await advance(h, 2_000, 1_000);
    expect(h.recovers()).toBe(3);
    expect(h.actor.getSnapshot().value).toBe('live');
    const never = harness({ start: '2026-11-22T09:00:00Z', day: '2026-11-22', failRecover: 100 });
    await advance(never, 10_000, 1_000);
    expect(never.actor.getSnapshot().value).toBe('failed');
    expect(never.actor.getSnapshot().context.lastError).toContain('stream unavailable');
  });

  it('tickerplant: a log failure sends it back to recovery; stop drains', async () => {
    const h = harness({ start: '2026-11-22T09:00:00Z', day: '2026-11-22' });
    await h.settle();
    h.actor.send({ type: 'log.failed', error: 'append failed' });
    await h.settle();
    expect(h.recovers()).toBe(2);
    expect(h.actor.getSnapshot().value).toBe('live');
    h.actor.send({ type: 'tp.stop' });
    await h.settle();
    expect(h.drained()).toBe(true);
    expect(h.actor.getSnapshot().status).toBe('done');
  });
});
