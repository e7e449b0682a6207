// The chained tickerplant machine's bounded wait for a missing parent (decision 121), measured on
// the clock it is given, not the wall clock: while the injected clock stands still the machine
// keeps retrying whatever real time passes; once it has moved parentWaitMs past the first miss,
// the next miss ends in `failed` with the typed code.
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { chainedTpMachine } from '../../actors/chainedtp/machine.ts';
import { systemClock, type Clock } from '../../actors/common/clock.ts';

describe('chained tp machine', () => {
  it('chainedtp: the parent wait is measured on the injected clock; past parentWaitMs a miss is failed, NO_MATCHING_PROCESS', async () => {
    let t = 1_000_000;
    const clock: Clock = { ...systemClock, now: () => t };
    let misses = 0;
    const machine = chainedTpMachine.provide({
      actors: {
        recover: fromPromise(async () => {
          misses++;
          throw new TickbusError(ErrorCode.NO_MATCHING_PROCESS, 'no tickerplant tp9 (stream TICK_tp9)', {});
        }),
      },
    });
    const actor = createActor(machine, { input: { logMode: 'create', recoverRetryMs: 5, parentWaitMs: 60_000, clock } });
    actor.start();
    await waitFor(actor, () => misses >= 5, { timeout: 10_000 });
    expect(actor.getSnapshot().matches('failed')).toBe(false);
    expect(actor.getSnapshot().context.missingSince).toBe(1_000_000);
    t += 60_000; // the injected clock passes the bound: the next miss ends the wait
    const snap = await waitFor(actor, (s) => s.matches('failed'), { timeout: 10_000 });
    expect(snap.context.lastErrorCode).toBe(ErrorCode.NO_MATCHING_PROCESS);
    actor.stop();
  });
});
