// Proves the check scheduler (actors/monitor/checks_scheduler.ts) under XState's SimulatedClock with
// a query runner the test answers by hand: first run after the start delay, then every period;
// never two runs of one check at once (the due run is skipped); at most concurrentMax runs at once,
// the rest wait and run as slots free; a run over its runtime (plus grace) is a timeout, a
// QUERY_TIMEOUT from the gateway too, any other error an error; the alert fires on the transition
// to failing only; history per check and in total is bounded, newest first, filterable; stop ends
// the schedule. No I/O.
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { TickbusError } from '../../bus/errors.ts';
import { silentLogger } from '../../bus/log.ts';
import type { Clock } from '../../actors/common/clock.ts';
import { parseChecksCsv, type CheckSpec } from '../../actors/monitor/checks_csv.ts';
import { CheckScheduler, type CheckFailure, type CheckSchedulerOptions } from '../../actors/monitor/checks_scheduler.ts';

const HEADER = 'family|metric|process|query|resultchecker|params|period|runtime';
const q = '{"type":"tickbus.v1.query","table":"trade","count":true}';

function specs(...rows: string[]): CheckSpec[] {
  return parseChecksCsv([HEADER, ...rows].join('\n'), 'test.csv');
}

interface Call {
  spec: CheckSpec;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

function harness(list: CheckSpec[], o: Partial<CheckSchedulerOptions> = {}) {
  const clock = new SimulatedClock();
  clock.set(Date.parse('2030-01-01T00:00:00Z'));
  const calls: Call[] = [];
  const alerts: CheckFailure[] = [];
  let changes = 0;
  const s = new CheckScheduler(list, {
    run: (spec) => new Promise((resolve, reject) => calls.push({ spec, resolve, reject })),
    clock: clock as unknown as Clock,
    logger: silentLogger,
    onFailing: (f) => alerts.push(f),
    concurrentMax: 4,
    historyMax: 100,
    historyTotalMax: 10_000,
    startDelayMs: 0,
    graceMs: 100,
    ...o,
  });
  s.onChange(() => changes++);
  const flush = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  const advance = async (ms: number) => {
    clock.increment(ms);
    await flush();
  };
  const open = () => calls.filter((c) => !(c as { done?: boolean }).done);
  const answer = async (i: number, v: unknown, fail = false) => {
    const c = open()[i]!;
    (c as { done?: boolean }).done = true;
    if (fail) c.reject(v);
    else c.resolve(v);
    await flush();
  };
  return { s, clock, calls, alerts, flush, advance, open, answer, changes: () => changes };
}

const n = (count: number) => ({ type: 'tickbus.v1.result', table: 'trade', n: count, columns: [], types: [], cols: {} });

describe('check scheduler', () => {
  it('checks: first run after the start delay, then every period; status and history follow; onChange after each run', async () => {
    const h = harness(specs(`rdb|count|rdb|${q}|checkcount|{"comp":0,"cond":"morethan"}|1s|500ms`), { startDelayMs: 200 });
    h.s.start();
    expect(h.s.rows()[0]).toMatchObject({ status: 'pending', lastRun: null, durationMs: null, lastResult: null, message: null, runs: 0 });
    await h.advance(199);
    expect(h.calls).toHaveLength(0);
    await h.advance(1);
    expect(h.calls).toHaveLength(1);
    await h.advance(30);
    await h.answer(0, n(5));
    expect(h.s.rows()[0]).toMatchObject({ status: 'ok', lastRun: '2030-01-01T00:00:00.200Z', durationMs: 30, lastResult: 'trade: 5 rows', message: 'count 5 is more than 0', runs: 1 });
    expect(h.changes()).toBe(1);
    await h.advance(969);
    expect(h.calls).toHaveLength(1);
    await h.advance(1);
    expect(h.calls).toHaveLength(2);
    await h.answer(0, n(0));
    expect(h.s.rows()[0]).toMatchObject({ status: 'error', message: 'count 0 is not more than 0', runs: 2 });
    expect(h.s.history().map((e) => e.status)).toEqual(['error', 'ok']);
    await h.s.stop();
  });

  it('checks: a check still running when due is skipped, never run twice at once', async () => {
    const h = harness(specs(`rdb|slow|rdb|${q}|resulttrue||100ms|10s`));
    h.s.start();
    await h.advance(0);
    expect(h.calls).toHaveLength(1);
    for (let i = 0; i < 3; i++) await h.advance(100);
    await h.advance(50);
    expect(h.calls).toHaveLength(1);
    expect(h.s.rows()[0]!.skipped).toBe(3);
    await h.answer(0, true);
    await h.advance(50);
    expect(h.calls).toHaveLength(2);
    await h.answer(0, true);
    await h.s.stop();
  });

  it('checks: at most concurrentMax run at once; the others wait their turn and run as slots free', async () => {
    const rows = ['a', 'b', 'c'].map((m) => `f|${m}|rdb|${q}|resulttrue||1m|10s`);
    const h = harness(specs(...rows), { concurrentMax: 1 });
    h.s.start();
    await h.advance(0);
    expect(h.open().map((c) => c.spec.metric)).toEqual(['a']);
    await h.answer(0, true);
    expect(h.open().map((c) => c.spec.metric)).toEqual(['b']);
    await h.answer(0, true);
    expect(h.open().map((c) => c.spec.metric)).toEqual(['c']);
    await h.answer(0, true);
    expect(h.s.rows().map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    await h.s.stop();
  });

  it('checks: over runtime plus grace is a timeout; QUERY_TIMEOUT is a timeout; other errors are errors with their code', async () => {
    const h = harness(specs(`f|hang|rdb|${q}|resulttrue||1m|500ms`, `f|gw|rdb|${q}|resulttrue||1m|500ms`, `f|gone|nosuch|${q}|resulttrue||1m|500ms`));
    h.s.start();
    await h.advance(0);
    expect(h.calls).toHaveLength(3);
    await h.answer(1, new TickbusError('QUERY_TIMEOUT', 'query has exceeded specified timeout value', {}), true);
    await h.answer(1, new TickbusError('TYPE_NOT_AVAILABLE', 'missing: nosuch', {}), true);
    await h.advance(599);
    expect(h.s.rows()[0]!.status).toBe('pending');
    await h.advance(1);
    const [hang, gw, gone] = h.s.rows();
    expect(hang).toMatchObject({ status: 'timeout', durationMs: 600, message: 'TIMEOUT: no answer within the runtime of 500 ms' });
    expect(gw).toMatchObject({ status: 'timeout', message: 'QUERY_TIMEOUT: query has exceeded specified timeout value', lastResult: null });
    expect(gone).toMatchObject({ status: 'error', message: 'TYPE_NOT_AVAILABLE: missing: nosuch' });
    expect(h.alerts.map((a) => `${a.spec.metric}:${a.row.status}`).sort()).toEqual(['gone:error', 'gw:timeout', 'hang:timeout']);
    await h.s.stop();
  });

  it('checks: the alert fires on the transition to failing, not on every failure; again after a recovery', async () => {
    const h = harness(specs(`f|m|rdb|${q}|checkcount|{"comp":0,"cond":"morethan"}|1s|500ms`));
    h.s.start();
    const outcomes = [0, 0, 3, 0, 0];
    for (const v of outcomes) {
      await h.advance(h.calls.length === 0 ? 0 : 1_000);
      await h.answer(0, n(v));
    }
    expect(h.s.history().map((e) => e.status).reverse()).toEqual(['error', 'error', 'ok', 'error', 'error']);
    expect(h.alerts).toHaveLength(2);
    expect(h.s.counts).toMatchObject({ runs: 5, alerts: 2, recovered: 1 });
    await h.s.stop();
  });

  it('checks: history is bounded per check and in total, newest first, filterable and limited', async () => {
    const h = harness(specs(`a|x|rdb|${q}|resulttrue||1s|500ms`, `b|y|rdb|${q}|resulttrue||1s|500ms`, `b|z|rdb|${q}|resulttrue||1s|500ms`), { historyMax: 5, historyTotalMax: 12 });
    h.s.start();
    for (let i = 0; i < 8; i++) {
      await h.advance(i === 0 ? 0 : 1_000);
      while (h.open().length) await h.answer(0, i % 2 === 0);
    }
    // 12 / 3 checks = 4 each (under historyMax 5).
    expect(h.s.history({ family: 'a' })).toHaveLength(4);
    expect(h.s.history({ limit: 1_000 })).toHaveLength(12);
    expect(h.s.history({ family: 'b' }).every((e) => e.family === 'b')).toBe(true);
    expect(h.s.history({ family: 'b', metric: 'z', limit: 2 }).map((e) => e.metric)).toEqual(['z', 'z']);
    const times = h.s.history({ limit: 1_000 }).map((e) => e.time);
    expect([...times].sort().reverse()).toEqual(times);
    expect(h.s.rows()[0]!.runs).toBe(8);
    await h.s.stop();
  });

  it('checks: stop ends the schedule and waits for the runs in flight', async () => {
    const h = harness(specs(`f|m|rdb|${q}|resulttrue||100ms|1s`));
    h.s.start();
    await h.advance(0);
    let stopped = false;
    const p = h.s.stop().then(() => (stopped = true));
    await h.flush();
    expect(stopped).toBe(false);
    await h.answer(0, true);
    await p;
    await h.advance(1_000);
    expect(h.calls).toHaveLength(1);
  });
});
