// Derived groups (actors/rtp/groups.ts) and the ids read back on a restart (published.ts): where a
// group ends depends on the input log alone (sizes, log timestamps), never inside one input batch;
// a restart that finds some groups in the log forms the same groups again and sends exactly the
// others, under the same ids.
import { describe, expect, it } from 'vitest';
import { TickbusError } from '../../bus/errors.ts';
import { concatCols } from '../../bus/publisher.ts';
import { DerivedGroups, measure, type ClosedGroup, type GroupLimits } from '../../actors/rtp/groups.ts';
import { derivedId, derivedIdPrefix, LoggedIds, parseDerivedId } from '../../actors/rtp/published.ts';

const MS = 1e6;
const limits: GroupLimits = { rowsMax: 1_000, bytesMax: 1 << 20, inputsMax: 1_000, ms: 20 };

/** An input batch: its log sequence, log time and the row counts of its publish() calls. */
interface Input {
  seq: number;
  logNs: number;
  updates: number[];
}

function upd(rows: number, seq: number): Record<string, unknown> {
  return { sym: Array.from({ length: rows }, (_, i) => `S${i}`), v: Float64Array.from({ length: rows }, (_, i) => seq * 1000 + i) };
}

/** Runs inputs through the groups as the RTP does; `skip(seq, k)`: already in the log. */
function run(inputs: Input[], l: GroupLimits, skip: (seq: number, k: number) => boolean = () => false): ClosedGroup[] {
  const g = new DerivedGroups(l);
  const out: ClosedGroup[] = [];
  const take = (c: ClosedGroup | undefined) => c && out.push(c);
  for (const x of inputs) {
    take(g.beforeInput(x.seq, x.logNs));
    x.updates.forEach((rows, k) => take(g.add(x.seq, x.logNs, 'agg', upd(rows, x.seq), skip(x.seq, k))));
    take(g.afterInput());
  }
  take(g.close());
  return out;
}

/** A log of n inputs, 3 ms of log time apart, with a pause of 50 ms every 13th; sizes varying, some with no publish, some with two. */
function inputs(n: number): Input[] {
  let t = 1_700_000_000_000 * MS;
  return Array.from({ length: n }, (_, i) => {
    t += (i % 13 === 12 ? 50 : 3) * MS;
    const updates = i % 7 === 3 ? [] : i % 5 === 0 ? [1 + (i % 40), 2] : [1 + ((i * 17) % 90)];
    return { seq: 10 + 2 * i, logNs: t, updates };
  });
}

const rowsOf = (c: ClosedGroup) => [...c.tables.values()].reduce((a, u) => a + ((u as { cols: { v: Float64Array } }).cols.v.length), 0);

describe('rtp derived groups', () => {
  it('rtp groups: a group closes at the log-time bound, the row, byte and input bounds; never inside one input batch', () => {
    const xs = inputs(400);
    const gs = run(xs, limits);
    const sent = gs.filter((g) => g.updates > 0);
    // Every update sent once, in order, in disjoint input ranges.
    expect(sent.reduce((a, g) => a + g.updates, 0)).toBe(xs.reduce((a, x) => a + x.updates.length, 0));
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.first).toBeGreaterThan(sent[i - 1]!.last);
    const bySeq = new Map(xs.map((x) => [x.seq, x]));
    for (const g of sent) {
      const span = bySeq.get(g.last)!.logNs - bySeq.get(g.first)!.logNs;
      expect(span).toBeLessThanOrEqual(20 * MS); // the log-time bound
      expect(rowsOf(g) - (bySeq.get(g.last)!.updates.reduce((a, b) => a + b, 0))).toBeLessThan(1_000); // closed at the first input reaching rowsMax
    }
    // Grouping did group: far fewer publishes than inputs with updates.
    expect(sent.length).toBeLessThan(xs.filter((x) => x.updates.length).length / 3);
    // The other bounds, each alone.
    expect(run(xs, { ...limits, ms: 60_000, inputsMax: 1 }).length).toBe(xs.filter((x) => x.updates.length).length);
    const byRows = run(xs, { ...limits, ms: 60_000, rowsMax: 100 });
    expect(byRows.slice(0, -1).every((g) => rowsOf(g) >= 100)).toBe(true);
    const byBytes = run(xs, { ...limits, ms: 60_000, bytesMax: 2048 });
    expect(byBytes.slice(0, -1).every((g) => [...g.tables.values()].reduce((a, u) => a + measure((u as { cols: Record<string, unknown> }).cols).bytes, 0) >= 2048)).toBe(true);
    // Two publishes of one input batch are in one group, whatever the bounds.
    const two = run([{ seq: 5, logNs: 0, updates: [600, 600] }, { seq: 6, logNs: 1, updates: [1] }], limits);
    expect(two.map((g) => [g.first, g.last, g.updates])).toEqual([[5, 5, 2], [6, 6, 1]]);
  });

  it('rtp groups: a restart that finds some groups in the log forms the same groups and sends exactly the others, under the same ids', () => {
    const xs = inputs(300);
    const first = run(xs, limits).filter((g) => g.updates > 0);
    // The log holds every other group of the first run (the rest were lost or in flight at the crash).
    const logged = new LoggedIds();
    const prefix = derivedIdPrefix('agg1');
    first.forEach((g, i) => i % 2 === 0 && logged.record(derivedId('agg1', g.first, g.last), prefix));
    logged.record('feed-1', prefix); // not ours
    logged.record(`${prefix}9-3`, prefix); // not a range
    expect(logged.seal()).toBe(Math.ceil(first.length / 2));
    const again = run(xs, limits, (seq, k) => logged.has(seq, k)).filter((g) => g.updates > 0);
    const ids = (gs: ClosedGroup[]) => gs.map((g) => derivedId('agg1', g.first, g.last));
    expect(ids(again)).toEqual(ids(first.filter((_, i) => i % 2 === 1)));
    expect(again.map(rowsOf)).toEqual(first.filter((_, i) => i % 2 === 1).map(rowsOf));
  });

  it('rtp groups: other columns for a table close the group at a new input batch; within one input batch they are BAD_TYPE', () => {
    const g = new DerivedGroups(limits);
    g.add(1, 0, 'agg', { sym: ['A'], v: [1] }, false);
    const closed = g.add(2, 1, 'agg', { sym: ['B'], v: [2], time: [3n] }, false);
    expect(closed).toMatchObject({ first: 1, last: 1, updates: 1 });
    expect(() => g.add(2, 1, 'agg', { sym: ['C'], v: [4] }, false)).toThrow(TickbusError);
    // Two tables in one group go as one multi-table update.
    g.add(3, 2, 'other', { x: [1] }, false);
    expect([...g.close()!.tables.keys()]).toEqual(['agg', 'other']);
  });

  it('rtp ids: group ranges and per-batch ids of the earlier form are read back; anything else is not ours', () => {
    const prefix = derivedIdPrefix('agg1');
    expect(parseDerivedId('rtp.agg1.100-163', prefix)).toEqual({ first: 100, last: 163 });
    expect(parseDerivedId('rtp.agg1.100.2', prefix)).toEqual({ key: 100_002 });
    for (const bad of ['rtp.agg2.1-2', 'rtp.agg1.5-4', 'rtp.agg1.x-4', 'rtp.agg1.1.1000', 'rtp.agg1.']) expect(parseDerivedId(bad, prefix)).toBeUndefined();
    const l = new LoggedIds();
    for (const id of ['rtp.agg1.10-20', 'rtp.agg1.15-30', 'rtp.agg1.40-40', 'rtp.agg1.50.1']) l.record(id, prefix);
    expect(l.seal()).toBe(4);
    expect([9, 10, 25, 30, 31, 40, 41].map((s) => l.has(s, 0))).toEqual([false, true, true, true, false, true, false]);
    expect([l.has(50, 1), l.has(50, 0)]).toEqual([true, false]);
  });

  it('rtp groups: columns of a group are concatenated whatever their forms: typed arrays kept typed, symbols merged, mixed forms as plain arrays', () => {
    const out = concatCols([
      { v: Float64Array.of(1, 2), s: { dict: ['A', 'B'], codes: Uint32Array.of(1, 0) }, t: ['x'], m: [5] },
      { v: Float64Array.of(3), s: { dict: ['B', 'C'], codes: Uint32Array.of(1) }, t: ['y', 'z'], m: Float64Array.of(6, 7) },
    ]);
    expect(out.v).toEqual(Float64Array.of(1, 2, 3));
    const sym = out.s as { dict: string[]; codes: Uint32Array };
    expect(Array.from(sym.codes, (c) => sym.dict[c])).toEqual(['B', 'A', 'C']);
    expect(out.t).toEqual(['x', 'y', 'z']);
    expect(out.m).toEqual([5, 6, 7]); // was [5, Float64Array [6, 7]]: a typed part after a plain one was not flattened
  });
});
