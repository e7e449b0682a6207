// The gateway scheduler's answer to a stale sequence cut (actors/gateway/scheduler.ts replanStale), as
// pure code under a simulated clock: a part refused with NOT_READY on afterSeq / upToSeq does not
// fail the query; it is planned again from the current view (a changed plan runs at once), or held
// until a backend's attributes change when the view still gives the same parts; a part of the
// replaced plan answering late does not count; past the hold bound the refusal fails the query.
// Any other error still fails it.
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { GatewayRequest } from '../../actors/gateway/request.ts';
import type { BackendView } from '../../actors/gateway/routing.ts';
import { Scheduler, type Command, type Resolution } from '../../actors/gateway/scheduler.ts';

type Cmd = Command<{ tag: string }>;
const dispatched = (cmds: Cmd[]) => cmds.filter((c): c is Extract<Cmd, { type: 'dispatch' }> => c.type === 'dispatch');
const failed = (cmds: Cmd[]) => cmds.filter((c): c is Extract<Cmd, { type: 'fail' }> => c.type === 'fail');
const completed = (cmds: Cmd[]) => cmds.filter((c): c is Extract<Cmd, { type: 'complete' }> => c.type === 'complete');

/** The error a gateway part gets when the RDB refuses its cut (a BACKEND_ERROR wrapping the envelope). */
const staleCut = (param: string) =>
  new TickbusError(ErrorCode.BACKEND_ERROR, 'failed to run query on rdb r', {
    backend: 'r',
    error: { type: 'tickbus.v1.error', code: ErrorCode.NOT_READY, message: 'stale', detail: { param, afterSeq: 10, heldFromSeq: 20 } },
  });

/** Plans idb upTo S + rdb after S, S read from the idb's attributes at resolve time. */
function resolver(b: readonly BackendView[]): Resolution<{ tag: string }> {
  const s = (b.find((x) => x.name === 'i')?.attributes.lastSeq as number) ?? 0;
  return {
    kind: 'parts',
    parts: [
      { proctype: 'idb', names: ['i'], request: { upToSeq: s } },
      { proctype: 'rdb', names: ['r'], request: { afterSeq: s } },
    ],
  };
}

function setup(lastSeq: number) {
  const clock = new SimulatedClock();
  const s = new Scheduler<{ tag: string }>({ queueMax: 10, partsPerQueryMax: 8, nextQueryScanMax: 16, capacityOf: () => 4 }, clock);
  s.upsertBackend({ name: 'i', proctype: 'idb', attributes: { lastSeq } }, true);
  s.upsertBackend({ name: 'r', proctype: 'rdb', attributes: {} }, true);
  const request: GatewayRequest = { id: 'q', query: {}, target: { kind: 'types', types: ['idb', 'rdb'] }, join: 'raze', priority: 0, timeoutMs: 60_000 };
  const first = s.submit({ id: 'q', request, resolve: resolver, holdMaxMs: 5_000, meta: { tag: 'q' } });
  return { clock, s, first };
}

describe('gateway: a stale sequence cut is re-planned, never failed or answered short', () => {
  it('re-plans from a view that changed since, and ignores the replaced plan', () => {
    const { s, first } = setup(10);
    expect(dispatched(first).map((d) => d.request)).toEqual([{ upToSeq: 10 }, { afterSeq: 10 }]);
    // The view moves on (the IDB wrote up to 20), then the RDB refuses afterSeq 10.
    s.upsertBackend({ name: 'i', proctype: 'idb', attributes: { lastSeq: 20 } }, false);
    const re = s.partDone('q', 1, { ok: false, error: staleCut('afterSeq') });
    expect(failed(re)).toEqual([]);
    // The RDB part goes at once; the IDB's slot is still the old part's until it answers.
    expect(dispatched(re).map((d) => d.request)).toEqual([{ afterSeq: 20 }]);
    // The old IDB part answers late: it is not counted for the new plan, and frees the slot.
    const late = s.partDone('q', 0, { ok: true, value: 'old' }, dispatched(first)[0]!.run);
    expect(completed(late)).toEqual([]);
    expect(dispatched(late).map((d) => d.request)).toEqual([{ upToSeq: 20 }]);
    const a = s.partDone('q', 0, { ok: true, value: 'idb' }, dispatched(late)[0]!.run);
    expect(completed(a)).toEqual([]);
    const b = s.partDone('q', 1, { ok: true, value: 'rdb' }, dispatched(re)[0]!.run);
    expect(completed(b)[0]).toMatchObject({ queryId: 'q', results: ['idb', 'rdb'] });
  });

  it('holds while the view gives the same parts, runs when an attribute changes, fails past the hold bound', () => {
    const { clock, s, first } = setup(10);
    s.partDone('q', 0, { ok: true, value: 'idb' }, dispatched(first)[0]!.run);
    const held = s.partDone('q', 1, { ok: false, error: staleCut('afterSeq') }, dispatched(first)[1]!.run);
    expect(dispatched(held)).toEqual([]);
    expect(failed(held)).toEqual([]);
    expect(s.counts()).toMatchObject({ held: 1 });
    const moved = s.upsertBackend({ name: 'i', proctype: 'idb', attributes: { lastSeq: 25 } }, false);
    expect(dispatched(moved).map((d) => d.request)).toEqual([{ upToSeq: 25 }, { afterSeq: 25 }]);
    // Refused again and the view never changes: past holdMaxMs the query fails, clearly.
    const again = s.partDone('q', 0, { ok: false, error: staleCut('upToSeq') }, dispatched(moved)[0]!.run);
    expect(failed(again)).toEqual([]);
    clock.increment(5_001);
    const out = s.tick();
    expect(failed(out).map((f) => f.error.code)).toEqual([ErrorCode.EOD_IN_PROGRESS]);
  });

  it('any other part error still fails the query at once', () => {
    const { s, first } = setup(10);
    const out = s.partDone('q', 1, { ok: false, error: new TickbusError(ErrorCode.BACKEND_ERROR, 'boom', { error: { code: ErrorCode.BAD_QUERY, detail: { param: 'afterSeq' } } }) }, dispatched(first)[1]!.run);
    expect(failed(out).map((f) => f.error.message)).toEqual(['boom']);
  });
});
