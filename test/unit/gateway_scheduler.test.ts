// Proves the gateway's queue and dispatch decisions (actors/gateway/scheduler.ts) as pure code under
// XState's SimulatedClock, with no bus: one part per backend at a time and FIFO; priorities; the
// parts of one query dispatched together; per-type concurrency; OVERLOADED beyond queueMax;
// QUERY_TIMEOUT at the deadline while the running part keeps its slot; a backend gone mid-query
// (BACKEND_GONE), "no responders" re-dispatching the part to a replica, a revived backend; the
// nextQuery and availableServers hooks; a held (end-of-day) query resolving later or failing with
// EOD_IN_PROGRESS; a restarted backend's old parts failing and their late replies ignored. Also the
// gateway machine's lifecycle and the heartbeat health classifier.
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { TickbusError } from '../../bus/errors.ts';
import { defaultHealthSettings, healthOf } from '../../actors/common/discovery.ts';
import { gatewayMachine } from '../../actors/gateway/machine.ts';
import { parseGatewayRequest, type GatewayRequest } from '../../actors/gateway/request.ts';
import { partsForTypes, type BackendView } from '../../actors/gateway/routing.ts';
import { Scheduler, type Command, type Resolution, type SchedulerHooks } from '../../actors/gateway/scheduler.ts';

type Cmd = Command<{ tag: string }>;

function setup(o: { queueMax?: number; capacity?: Record<string, number>; hooks?: SchedulerHooks } = {}) {
  const clock = new SimulatedClock();
  const s = new Scheduler<{ tag: string }>(
    { queueMax: o.queueMax ?? 100, partsPerQueryMax: 8, nextQueryScanMax: 16, capacityOf: (t) => o.capacity?.[t] ?? 1 },
    clock,
    o.hooks,
  );
  return { clock, s };
}

function req(id: string, types: string[], o: Partial<GatewayRequest> = {}): GatewayRequest {
  return { id, query: { q: id }, target: { kind: 'types', types }, join: 'raze', priority: 0, timeoutMs: 1_000, ...o };
}

function submit(s: Scheduler<{ tag: string }>, id: string, types: string[], o: Partial<GatewayRequest> = {}): Cmd[] {
  return s.submit({ id, request: req(id, types, o), resolve: (b) => ({ kind: 'parts', parts: partsForTypes(types, { q: id }, b) }), holdMaxMs: 10_000, meta: { tag: id } });
}

const dispatched = (cmds: Cmd[]) => cmds.filter((c) => c.type === 'dispatch').map((c) => (c.type === 'dispatch' ? `${c.queryId}@${c.backend}` : ''));
const failed = (cmds: Cmd[]) => cmds.filter((c): c is Extract<Cmd, { type: 'fail' }> => c.type === 'fail');
const completed = (cmds: Cmd[]) => cmds.filter((c): c is Extract<Cmd, { type: 'complete' }> => c.type === 'complete');
const ok = (value: unknown) => ({ ok: true as const, value });
const up = (s: Scheduler<{ tag: string }>, name: string, proctype: string, attributes: Record<string, unknown> = {}) => s.upsertBackend({ name, proctype, attributes }, true);

describe('gateway scheduler', () => {
  it('gateway: one part per backend at a time, first come first served; a freed backend takes the next at once', () => {
    const { s } = setup();
    up(s, 'rdb1', 'rdb');
    expect(dispatched(submit(s, 'a', ['rdb']))).toEqual(['a@rdb1']);
    expect(dispatched(submit(s, 'b', ['rdb']))).toEqual([]);
    expect(dispatched(submit(s, 'c', ['rdb']))).toEqual([]);
    const next = s.partDone('a', 0, ok(1));
    expect(completed(next).map((c) => c.queryId)).toEqual(['a']);
    expect(dispatched(next)).toEqual(['b@rdb1']);
    expect(dispatched(s.partDone('b', 0, ok(2)))).toEqual(['c@rdb1']);
    expect(s.counts()).toEqual({ queries: 1, held: 0, running: 1, waiting: 0 });
  });

  it('gateway: higher priority runs first, then arrival; parts of one query go out together', () => {
    const { s } = setup();
    up(s, 'rdb1', 'rdb');
    up(s, 'hdb1', 'hdb');
    expect(dispatched(submit(s, 'a', ['rdb', 'hdb'])).sort()).toEqual(['a@hdb1', 'a@rdb1']);
    submit(s, 'low', ['rdb']);
    submit(s, 'high', ['rdb'], { priority: 5 });
    submit(s, 'mid', ['rdb'], { priority: 1 });
    expect(dispatched(s.partDone('a', 0, ok('r')))).toEqual(['high@rdb1']);
    const done = s.partDone('a', 1, ok('h'));
    expect(completed(done)[0]).toMatchObject({ queryId: 'a', results: ['r', 'h'], parts: [{ name: 'rdb1' }, { name: 'hdb1' }] });
    expect(dispatched(s.partDone('high', 0, ok(1)))).toEqual(['mid@rdb1']);
    expect(dispatched(s.partDone('mid', 0, ok(1)))).toEqual(['low@rdb1']);
  });

  it('gateway: per-type concurrency bounds parts per backend; replicas share the load', () => {
    const { s } = setup({ capacity: { hdb: 2 } });
    up(s, 'hdb1', 'hdb');
    up(s, 'rdb1', 'rdb');
    up(s, 'rdb2', 'rdb');
    const small = { cost: 'small' as const };
    const all = [...submit(s, 'h1', ['hdb'], small), ...submit(s, 'h2', ['hdb'], small), ...submit(s, 'h3', ['hdb'], small)];
    expect(dispatched(all)).toEqual(['h1@hdb1', 'h2@hdb1']);
    expect(dispatched([...submit(s, 'r1', ['rdb']), ...submit(s, 'r2', ['rdb']), ...submit(s, 'r3', ['rdb'])])).toEqual(['r1@rdb1', 'r2@rdb2']);
    expect(s.backendViews().map((b) => `${b.name}:${b.inflight}/${b.capacity}`)).toEqual(['hdb1:2/2', 'rdb1:1/1', 'rdb2:1/1']);
  });

  it('gateway: a target type with no live backend fails at once; beyond queueMax is OVERLOADED', () => {
    const { s } = setup({ queueMax: 2 });
    up(s, 'rdb1', 'rdb');
    const f = failed(submit(s, 'x', ['rdb', 'hdb']));
    expect(f[0]!.error).toMatchObject({ code: 'TYPE_NOT_AVAILABLE', detail: { missing: ['hdb'], available: ['rdb'], id: 'x' } });
    submit(s, 'a', ['rdb']);
    submit(s, 'b', ['rdb']);
    expect(failed(submit(s, 'c', ['rdb']))[0]!.error).toMatchObject({ code: 'OVERLOADED', detail: { queueMax: 2 } });
    expect(s.stats).toMatchObject({ overloaded: 1, submitted: 4 });
  });

  it('gateway: a query times out at its deadline; its running part keeps the backend until it answers', () => {
    const { s, clock } = setup();
    up(s, 'rdb1', 'rdb');
    submit(s, 'slow', ['rdb'], { timeoutMs: 500 });
    submit(s, 'next', ['rdb'], { timeoutMs: 5_000 });
    clock.increment(499);
    expect(s.tick()).toEqual([]);
    clock.increment(1);
    const t = failed(s.tick());
    expect(t.map((c) => c.error.code)).toEqual(['QUERY_TIMEOUT']);
    expect(t[0]!.error.detail).toMatchObject({ running: ['rdb1'], timeoutMs: 500 });
    expect(s.backendViews()[0]!.inflight).toBe(1);
    // The late answer frees the slot for the next query; the timed-out one is not answered twice.
    const late = s.partDone('slow', 0, ok('late'));
    expect(completed(late)).toEqual([]);
    expect(dispatched(late)).toEqual(['next@rdb1']);
  });

  it('gateway: a backend gone mid-query fails its query with BACKEND_GONE; waiting parts go to a replica or fail stranded', () => {
    const { s } = setup();
    up(s, 'rdb1', 'rdb');
    up(s, 'rdb2', 'rdb');
    up(s, 'hdb1', 'hdb');
    submit(s, 'a', ['rdb']);
    submit(s, 'b', ['rdb']);
    submit(s, 'c', ['rdb']);
    submit(s, 'h', ['hdb']);
    submit(s, 'h2', ['hdb']);
    const gone = s.markGone('rdb1', 'died (no responders)');
    expect(failed(gone).map((c) => [c.queryId, c.error.code])).toEqual([['a', 'BACKEND_GONE']]);
    expect(failed(gone)[0]!.error.message).toMatch(/backend rdb rdb1 handling query a died/);
    expect(dispatched(s.partDone('b', 0, ok(1)))).toEqual(['c@rdb2']);
    const removed = s.removeBackend('hdb1', 'deregistered (stopped)');
    expect(failed(removed).map((c) => [c.queryId, c.error.code])).toEqual([
      ['h', 'BACKEND_GONE'],
      ['h2', 'BACKEND_GONE'],
    ]);
  });

  it('gateway: "no responders" at dispatch re-sends the part to a replica; a beat revives the backend', () => {
    const { s } = setup();
    up(s, 'rdb1', 'rdb');
    up(s, 'rdb2', 'rdb');
    expect(dispatched(submit(s, 'a', ['rdb']))).toEqual(['a@rdb1']);
    const again = s.partDone('a', 0, { ok: false, noResponders: true });
    expect(failed(again)).toEqual([]);
    expect(dispatched(again)).toEqual(['a@rdb2']);
    expect(s.backendViews().find((b) => b.name === 'rdb1')!.gone).toBe(true);
    expect(s.stats.redispatched).toBe(1);
    s.revive('rdb1');
    expect(dispatched(submit(s, 'b', ['rdb']))).toEqual(['b@rdb1']);
  });

  it('gateway: the nextQuery hook picks among waiting queries; availableServers narrows the servers', () => {
    // Shortest job first instead of FIFO; queries of user "eu" only on eu backends.
    const hooks: SchedulerHooks = {
      nextQuery: (waiting) => [...waiting].sort((a, b) => (a.request.query as { n: number }).n - (b.request.query as { n: number }).n)[0],
      availableServers: (free, q) => (q.request.user === 'eu' ? free.filter((b) => b.attributes.region === 'eu') : free),
    };
    const { s } = setup({ hooks });
    up(s, 'r1', 'rdb', { region: 'us' });
    const sub = (id: string, n: number, user?: string) =>
      s.submit({ id, request: { ...req(id, ['rdb']), query: { n }, user }, resolve: (b) => ({ kind: 'parts', parts: partsForTypes(['rdb'], { n }, b) }), holdMaxMs: 1, meta: { tag: id } });
    expect(dispatched(sub('first', 9))).toEqual(['first@r1']);
    sub('long', 50);
    sub('short', 2);
    sub('euonly', 1, 'eu');
    expect(dispatched(s.partDone('first', 0, ok(1)))).toEqual(['short@r1']);
    expect(dispatched(s.partDone('short', 0, ok(1)))).toEqual(['long@r1']);
    expect(dispatched(up(s, 'r2', 'rdb', { region: 'eu' }))).toEqual(['euonly@r2']);
  });

  it('gateway: a held query resolves when the backends change, or fails with EOD_IN_PROGRESS after holdMaxMs', () => {
    const { s, clock } = setup();
    up(s, 'hdb1', 'hdb', { last: '2026-11-20' });
    const resolve = (b: readonly BackendView[]): Resolution<{ tag: string }> =>
      b.some((x) => x.attributes.last === '2026-11-21') ? { kind: 'parts', parts: [{ proctype: 'hdb', request: 'q' }] } : { kind: 'hold', reason: 'day 2026-11-21 in hand-off', detail: { day: '2026-11-21' } };
    expect(s.submit({ id: 'held', request: req('held', ['hdb'], { timeoutMs: 60_000 }), resolve, holdMaxMs: 1_000, meta: { tag: 'h' } })).toEqual([]);
    expect(s.counts().held).toBe(1);
    expect(dispatched(s.upsertBackend({ name: 'hdb1', proctype: 'hdb', attributes: { last: '2026-11-21' } }, false))).toEqual(['held@hdb1']);
    up(s, 'hdb2', 'hdb', { last: '2026-11-19' });
    s.submit({ id: 'stuck', request: req('stuck', ['hdb'], { timeoutMs: 60_000 }), resolve: () => ({ kind: 'hold', reason: 'day in hand-off', detail: {} }), holdMaxMs: 1_000, meta: { tag: 's' } });
    clock.increment(1_000);
    expect(failed(s.tick()).map((c) => c.error.code)).toEqual(['EOD_IN_PROGRESS']);
  });

  it('gateway: a backend restarted under its name fails the old incarnation parts; their late replies are ignored', () => {
    const { s } = setup();
    up(s, 'rdb1', 'rdb');
    submit(s, 'a', ['rdb']);
    submit(s, 'b', ['rdb']);
    const restarted = up(s, 'rdb1', 'rdb');
    expect(failed(restarted).map((c) => [c.queryId, c.error.code])).toEqual([['a', 'BACKEND_GONE']]);
    expect(dispatched(restarted)).toEqual(['b@rdb1']);
    expect(s.partDone('a', 0, ok('stale'))).toEqual([]);
    expect(s.backendViews()[0]!.inflight).toBe(1);
    expect(completed(s.partDone('b', 0, ok(1))).length).toBe(1);
  });

  it('gateway: a backend in heartbeat error is not used and its running parts fail; back to ok it is used again', () => {
    const { s } = setup();
    up(s, 'rdb1', 'rdb');
    submit(s, 'a', ['rdb']);
    expect(failed(s.setHealth('rdb1', 'error'))[0]!.error.message).toMatch(/lost its heartbeat/);
    expect(failed(submit(s, 'b', ['rdb']))[0]!.error.code).toBe('TYPE_NOT_AVAILABLE');
    s.setHealth('rdb1', 'warning');
    expect(dispatched(submit(s, 'c', ['rdb']))).toEqual(['c@rdb1']);
  });
});

describe('gateway request and health', () => {
  const bounds = { defaultTimeoutMs: 30_000, timeoutMaxMs: 60_000 };
  const parse = (r: Record<string, unknown>) => parseGatewayRequest({ type: 'tickbus.v1.gateway.request', query: { x: 1 }, ...r }, bounds, (j) => j === 'raze');

  it('gateway: requests are validated, each error naming its parameter', () => {
    expect(parse({ target: 'rdb' })).toMatchObject({ target: { kind: 'types', types: ['rdb'] }, join: 'raze', priority: 0, timeoutMs: 30_000 });
    expect(parse({ query: { type: 'tickbus.v1.getdata' } }).target).toEqual({ kind: 'data' });
    expect(parse({ target: { attributes: { dates: ['d1'] } } }).target).toMatchObject({ kind: 'attributes', match: 'cross', bestEffort: true });
    const bad = (r: Record<string, unknown>, param: string) => {
      expect(() => parse(r)).toThrow(TickbusError);
      try {
        parse(r);
      } catch (e) {
        expect((e as TickbusError).detail.param).toBe(param);
      }
    };
    bad({}, 'target');
    bad({ target: [] }, 'target');
    bad({ target: ['rdb'], join: 'nope' }, 'join');
    bad({ target: ['rdb'], timeoutMs: 0 }, 'timeoutMs');
    bad({ target: ['rdb'], timeoutMs: 120_000 }, 'timeoutMs');
    bad({ target: ['rdb'], priority: 1.5 }, 'priority');
    bad({ target: ['rdb'], postback: 'a.*' }, 'postback');
    bad({ target: { attributes: { k: [] } } }, 'target.attributes');
    bad({ target: { attributes: { k: 1 }, match: 'all' } }, 'target.match');
    bad({ target: ['rdb'], extra: 1 }, 'extra');
    expect(() => parseGatewayRequest({ type: 'nope' }, bounds, () => true)).toThrow(expect.objectContaining({ code: 'BAD_TYPE' }));
  });

  it('gateway: heartbeat health is ok, then warning beyond warnAfterBeats periods, then error beyond errorAfterBeats', () => {
    const s = defaultHealthSettings;
    expect(healthOf(0, 2_000, 1_000, s)).toBe('ok');
    expect(healthOf(0, 2_001, 1_000, s)).toBe('warning');
    expect(healthOf(0, 3_000, 1_000, s)).toBe('warning');
    expect(healthOf(0, 3_001, 1_000, s)).toBe('error');
    expect(healthOf(0, 450, 100, { warnAfterBeats: 4, errorAfterBeats: 8 })).toBe('warning');
  });

  it('gateway: the machine serves after connecting, drains on stop within drainTimeoutMs, and fails when the registry cannot be opened', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const machine = (connectFails: boolean, drainForever: boolean) =>
      gatewayMachine.provide({
        actors: {
          connect: fromPromise(async () => {
            if (connectFails) throw new Error('no registry');
          }),
          serve: fromCallback(() => {
            log.push('serve');
            return () => log.push('unserve');
          }),
          drain: fromPromise(() => (drainForever ? new Promise<void>(() => {}) : Promise.resolve())),
        },
        actions: { startAccepting: () => log.push('accept'), stopAccepting: () => log.push('refuse'), release: () => log.push('release') },
      });
    const a = createActor(machine(false, true), { input: { drainTimeoutMs: 5_000 }, clock });
    a.start();
    await new Promise((r) => setTimeout(r, 0));
    expect(a.getSnapshot().value).toEqual({ up: 'serving' });
    a.send({ type: 'backends.changed', backends: 3, types: ['hdb', 'rdb'] });
    expect(a.getSnapshot().context).toMatchObject({ backends: 3, types: ['hdb', 'rdb'] });
    a.send({ type: 'gateway.stop' });
    expect(a.getSnapshot().value).toEqual({ up: 'draining' });
    clock.increment(5_000);
    expect(a.getSnapshot().value).toBe('stopped');
    // XState runs entry actions before starting invoked actors, and stops them after the next entry.
    expect(log).toEqual(['accept', 'serve', 'refuse', 'release', 'unserve']);
    const b = createActor(machine(true, false), { input: { drainTimeoutMs: 5_000 }, clock });
    b.start();
    await new Promise((r) => setTimeout(r, 0));
    expect(b.getSnapshot()).toMatchObject({ value: 'failed', context: { lastError: 'no registry' } });
  });
});
