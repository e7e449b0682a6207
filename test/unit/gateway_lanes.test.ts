// Proves the gateway's concurrency rule (actors/gateway/lanes.ts, scheduler.ts) as pure code under
// XState's SimulatedClock: a backend takes up to backendConcurrency small parts at once; heavy parts
// hold at most backendHeavySlots, so small ones always have a slot a heavy one cannot take; unseen
// kinds are heavy until they answer fast, kinds seen slow stay heavy whatever the client hints;
// priorities hold across small and heavy; the bounds hold under a random mix of arrivals,
// answers, failures and timeouts; the deadline wheel keeps nothing for answered queries; the
// settings' bounds and the request's cost field are checked.
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { prng } from '../../actors/feed/effects.ts';
import { CostModel, heavySlotsFor, kindOf } from '../../actors/gateway/lanes.ts';
import { parseGatewayRequest, type GatewayRequest } from '../../actors/gateway/request.ts';
import { partsForTypes } from '../../actors/gateway/routing.ts';
import { Scheduler, type Command } from '../../actors/gateway/scheduler.ts';
import { checkConcurrency, defaultGatewaySettings } from '../../actors/gateway/settings.ts';
import { TickbusError } from '../../bus/errors.ts';

type Cmd = Command<{ tag: string }>;
type Dispatch = Extract<Cmd, { type: 'dispatch' }>;

function setup(capacity: number, heavySlots: number, smallMaxMs = 20) {
  const clock = new SimulatedClock();
  const s = new Scheduler<{ tag: string }>(
    { queueMax: 1_000, partsPerQueryMax: 8, nextQueryScanMax: 16, capacityOf: () => capacity, heavySlotsOf: () => heavySlots, cost: { smallMaxMs, kindsMax: 64 } },
    clock,
  );
  return { clock, s };
}

const call = (api: string) => ({ type: 'tickbus.v1.call', api, args: [] });

function submit(s: Scheduler<{ tag: string }>, id: string, api: string, o: Partial<GatewayRequest> = {}): Cmd[] {
  const query = call(api);
  const request: GatewayRequest = { id, query, target: { kind: 'types', types: ['hdb'] }, join: 'raze', priority: 0, timeoutMs: 1_000, ...o };
  return s.submit({ id, request, resolve: (b) => ({ kind: 'parts', parts: partsForTypes(['hdb'], query, b) }), holdMaxMs: 10_000, meta: { tag: id } });
}

const dispatches = (cmds: Cmd[]) => cmds.filter((c): c is Dispatch => c.type === 'dispatch');
const ids = (cmds: Cmd[]) => dispatches(cmds).map((c) => `${c.queryId}:${c.cost}`);
const ok = { ok: true as const, value: 1 };
const up = (s: Scheduler<{ tag: string }>, name: string) => s.upsertBackend({ name, proctype: 'hdb', attributes: {} }, true);
const load = (s: Scheduler<{ tag: string }>) => s.backendViews().map((b) => `${b.name}:${b.inflight}/${b.capacity} heavy ${b.heavyInflight}/${b.heavySlots}`);

describe('gateway lanes', () => {
  it('gateway: a backend takes up to backendConcurrency small parts at once; the next waits for a slot', () => {
    const { s } = setup(4, 1);
    up(s, 'hdb1');
    const out = ['a', 'b', 'c', 'd', 'e'].flatMap((id) => submit(s, id, 'echo', { cost: 'small' }));
    expect(ids(out)).toEqual(['a:small', 'b:small', 'c:small', 'd:small']);
    expect(load(s)).toEqual(['hdb1:4/4 heavy 0/1']);
    expect(ids(s.partDone('c', 0, ok))).toEqual(['e:small']);
  });

  it('gateway: heavy parts hold at most backendHeavySlots; small parts pass heavy ones waiting ahead of them', () => {
    const { s } = setup(3, 1);
    up(s, 'hdb1');
    const heavy = ['h1', 'h2', 'h3'].flatMap((id) => submit(s, id, 'scan', { cost: 'heavy' }));
    expect(ids(heavy)).toEqual(['h1:heavy']);
    // h2 and h3 arrived first, but the heavy lane is full: the small ones take the reserved slots.
    const small = ['s1', 's2', 's3'].flatMap((id) => submit(s, id, 'echo', { cost: 'small' }));
    expect(ids(small)).toEqual(['s1:small', 's2:small']);
    expect(load(s)).toEqual(['hdb1:3/3 heavy 1/1']);
    // A freed small slot goes to the earliest waiting part that fits: h2 may not (heavy lane full), s3 does.
    expect(ids(s.partDone('s1', 0, ok))).toEqual(['s3:small']);
    // The heavy part ends: h2, first in line, takes the slot.
    expect(ids(s.partDone('h1', 0, ok))).toEqual(['h2:heavy']);
  });

  it('gateway: heavy slots are clamped to capacity - 1, so a backend full of heavy parts still takes a small one', () => {
    expect(heavySlotsFor(4, 10)).toBe(3);
    expect(heavySlotsFor(1, 10)).toBe(1);
    const { s } = setup(4, 10);
    up(s, 'hdb1');
    expect(ids(['h1', 'h2', 'h3', 'h4'].flatMap((id) => submit(s, id, 'scan', { cost: 'heavy' })))).toEqual(['h1:heavy', 'h2:heavy', 'h3:heavy']);
    expect(ids(submit(s, 's1', 'echo', { cost: 'small' }))).toEqual(['s1:small']);
  });

  it("gateway: capacity 1 is TorQ's rule: one part at a time whatever its cost", () => {
    const { s } = setup(1, 1);
    up(s, 'hdb1');
    expect(ids([...submit(s, 'h', 'scan', { cost: 'heavy' }), ...submit(s, 's', 'echo', { cost: 'small' })])).toEqual(['h:heavy']);
    expect(ids(s.partDone('h', 0, ok))).toEqual(['s:small']);
  });

  it('gateway: an unseen kind is heavy until it answers within smallQueryMaxMs; a kind seen slow stays heavy whatever the hint', () => {
    const { s, clock } = setup(4, 1, 20);
    up(s, 'hdb1');
    // echo never seen: heavy, one at a time.
    expect(ids([...submit(s, 'e1', 'echo'), ...submit(s, 'e2', 'echo')])).toEqual(['e1:heavy']);
    clock.increment(2);
    expect(ids(s.partDone('e1', 0, ok))).toEqual(['e2:heavy']); // queued as heavy before echo was seen
    clock.increment(2);
    s.partDone('e2', 0, ok);
    // Now seen fast: small, several at once.
    expect(ids(['e3', 'e4', 'e5'].flatMap((id) => submit(s, id, 'echo')))).toEqual(['e3:small', 'e4:small', 'e5:small']);
    // slow answers in 500 ms: heavy from then on, even when the client says small.
    submit(s, 'w1', 'slow', { cost: 'small' });
    clock.increment(500);
    s.partDone('w1', 0, ok);
    expect(ids(submit(s, 'w2', 'slow', { cost: 'small' }))).toEqual(['w2:heavy']);
    expect(ids(submit(s, 'w3', 'slow', { cost: 'small' }))).toEqual([]); // the heavy lane is full
    expect(s.costs.meanOf('hdb', 'call:slow')).toBe(500);
  });

  it('gateway: a freed slot goes by priority across lanes: a higher-priority heavy part before earlier small ones', () => {
    const { s } = setup(2, 1);
    up(s, 'hdb1');
    submit(s, 'a', 'echo', { cost: 'small' });
    submit(s, 'b', 'echo', { cost: 'small' });
    submit(s, 'low', 'echo', { cost: 'small' });
    submit(s, 'mid', 'echo', { cost: 'small', priority: 1 });
    submit(s, 'high', 'scan', { cost: 'heavy', priority: 5 });
    expect(ids(s.partDone('a', 0, ok))).toEqual(['high:heavy']);
    expect(ids(s.partDone('b', 0, ok))).toEqual(['mid:small']);
    expect(ids(s.partDone('mid', 0, ok))).toEqual(['low:small']);
  });

  it('gateway: under a random mix of arrivals, answers, errors and timeouts no backend exceeds its slots or heavy slots, and every query is answered once', () => {
    const rnd = prng(7);
    const { s, clock } = setup(5, 2, 10);
    for (const n of ['hdb1', 'hdb2', 'hdb3']) up(s, n);
    const running: Dispatch[] = [];
    const answered = new Map<string, number>();
    const seen = (cmds: Cmd[]) => {
      for (const c of cmds) {
        if (c.type === 'dispatch') running.push(c);
        else answered.set(c.queryId, (answered.get(c.queryId) ?? 0) + 1);
      }
      for (const b of s.backendViews()) {
        expect(b.inflight).toBeLessThanOrEqual(b.capacity);
        expect(b.heavyInflight).toBeLessThanOrEqual(b.heavySlots);
        expect(b.heavyInflight).toBeGreaterThanOrEqual(0);
      }
    };
    let n = 0;
    for (let step = 0; step < 5_000; step++) {
      const r = rnd();
      if (r < 0.45) {
        const api = ['echo', 'scan', 'mid'][Math.floor(rnd() * 3)]!;
        const cost = rnd() < 0.3 ? (rnd() < 0.5 ? 'heavy' : 'small') : undefined;
        seen(submit(s, `q${++n}`, api, { cost, priority: Math.floor(rnd() * 3), timeoutMs: 50 + Math.floor(rnd() * 200) }));
      } else if (r < 0.9 && running.length > 0) {
        const c = running.splice(Math.floor(rnd() * running.length), 1)[0]!;
        seen(s.partDone(c.queryId, c.part, rnd() < 0.1 ? { ok: false, error: new TickbusError('BACKEND_ERROR', 'no', {}) } : ok, c.run));
      } else {
        clock.increment(1 + Math.floor(rnd() * 20));
        seen(s.tick());
      }
    }
    // Drain: answer everything still running, let every deadline pass.
    while (running.length > 0) {
      const c = running.shift()!;
      seen(s.partDone(c.queryId, c.part, ok, c.run));
    }
    clock.increment(1_000);
    seen(s.tick());
    expect(s.size).toBe(0);
    expect(s.deadlinesHeld).toBe(0);
    expect(answered.size).toBe(n);
    expect([...answered.values()].every((x) => x === 1)).toBe(true);
    expect(s.stats.timedOut).toBeGreaterThan(0);
  });

  it('gateway: the deadline wheel holds one entry per query not yet answered and still times queries out', () => {
    const { s, clock } = setup(2, 1);
    up(s, 'hdb1');
    for (let i = 0; i < 100; i++) {
      const d = dispatches(submit(s, `q${i}`, 'echo', { cost: 'small', timeoutMs: 30_000 }));
      s.partDone(d[0]!.queryId, 0, ok);
    }
    expect(s.deadlinesHeld).toBe(0);
    submit(s, 'x', 'echo', { cost: 'small', timeoutMs: 100 });
    expect(s.deadlinesHeld).toBe(1);
    clock.increment(99);
    expect(s.tick()).toEqual([]);
    clock.increment(1);
    expect(s.tick().find((c) => c.type === 'fail')).toMatchObject({ queryId: 'x', error: { code: 'QUERY_TIMEOUT' } });
    expect(s.deadlinesHeld).toBe(0);
  });

  it('gateway: kinds are the named API, else the request type; the learned table is bounded', () => {
    expect(kindOf(call('vwap'))).toBe('call:vwap');
    expect(kindOf({ type: 'tickbus.v1.getdata', table: 't' })).toBe('tickbus.v1.getdata');
    expect(kindOf('x')).toBe('string');
    const m = new CostModel({ smallMaxMs: 5, kindsMax: 2 });
    m.observe('hdb', 'a', 1);
    m.observe('hdb', 'b', 1);
    m.observe('hdb', 'c', 100);
    expect(m.size).toBe(2);
    expect(m.meanOf('hdb', 'a')).toBeUndefined();
    expect(m.classify('hdb', 'b', undefined)).toBe('small');
    expect(m.classify('hdb', 'b', 'heavy')).toBe('heavy');
    expect(m.classify('hdb', 'c', 'small')).toBe('heavy');
    expect(m.classify('hdb', 'new', undefined)).toBe('heavy');
    expect(m.classify('hdb', 'new', 'small')).toBe('small');
  });

  it('gateway: concurrency settings out of their bounds are refused; cost must be small or heavy', () => {
    const base = { ...defaultGatewaySettings };
    expect(() => checkConcurrency(base)).not.toThrow();
    expect(() => checkConcurrency({ ...base, backendConcurrency: 0 })).toThrow(/backendConcurrency/);
    expect(() => checkConcurrency({ ...base, backendConcurrency: 0 })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG', detail: expect.objectContaining({ setting: 'backendConcurrency' }) }));
    expect(() => checkConcurrency({ ...base, backendConcurrency: 2_000 })).toThrow(/backendConcurrency/);
    expect(() => checkConcurrency({ ...base, backendConcurrencyByType: { hdb: 1.5 } })).toThrow(/backendConcurrencyByType.hdb/);
    expect(() => checkConcurrency({ ...base, backendHeavySlots: 0 })).toThrow(/backendHeavySlots/);
    const bounds = { defaultTimeoutMs: 1_000, timeoutMaxMs: 10_000 };
    const raw = { type: 'tickbus.v1.gateway.request', query: call('x'), target: 'hdb' };
    expect(parseGatewayRequest({ ...raw, cost: 'heavy' }, bounds, () => true).cost).toBe('heavy');
    expect(() => parseGatewayRequest({ ...raw, cost: 'cheap' }, bounds, () => true)).toThrow(/cost: must be one of small, heavy/);
  });
});
