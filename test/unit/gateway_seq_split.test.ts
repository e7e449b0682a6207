// The gateway's split of today between an IDB and a windowed RDB by log sequence
// (actors/gateway/data_access_seq.ts), without a bus: which parts, with which upToSeq / afterSeq,
// for the attributes the processes advertise; a view where the RDB's window is past the IDB's
// written sequence holds the query; a windowed RDB holding the whole day answers with afterSeq 0.
import { describe, expect, it } from 'vitest';
import { splitByTime, type DataAccessContext } from '../../actors/gateway/data_access.ts';
import type { BackendView } from '../../actors/gateway/routing.ts';
import { defineSchema } from '../../storage/schema.ts';
import { tradeTables } from '../support/trades.ts';
import { backendView as view } from '../support/backend_view.ts';

const schema = defineSchema(tradeTables);
const ctx: DataAccessContext = { schema, eodTime: '00:00', eodZone: 'UTC', dataTypes: ['rdb', 'hdb', 'idb'], partsPerQueryMax: 16 };
const TODAY = '2026-12-04';
const hdb = view('h', 'hdb', { tables: ['trade'], first: '2026-12-01', last: '2026-12-03' });
const idb = (lastSeq: number) => view('i', 'idb', { tables: ['trade'], dates: [TODAY], days: { [TODAY]: { lastSeq: { trade: lastSeq }, complete: false } } });
const rdb = (heldFrom: Record<string, unknown>) => view('r', 'rdb', { tables: ['trade'], dates: [TODAY], first: TODAY, last: '9999-12-31', heldFrom });
const q = { type: 'tickbus.v1.getdata', table: 'trade', start: '2026-12-01', end: '2026-12-05', aggregations: [{ op: 'count' }] };

function held(backends: BackendView[]): string | undefined {
  const o = splitByTime(q, backends, ctx);
  return o.kind === 'hold' ? o.day : undefined;
}

function parts(backends: BackendView[]) {
  const o = splitByTime(q, backends, ctx);
  if (o.kind === 'hold') throw new Error(`held: ${o.day}`);
  return o.parts.map((p) => {
    const r = p.request as Record<string, unknown>;
    return { name: p.names![0], start: r.start, upToSeq: r.upToSeq, afterSeq: r.afterSeq, partial: r.partial };
  });
}

describe('gateway: today split by log sequence between an IDB and a windowed RDB', () => {
  it('splits at the IDB written sequence when the RDB window reaches it', () => {
    const p = parts([hdb, idb(44), rdb({ [TODAY]: { trade: 41 } })]);
    expect(p).toHaveLength(3);
    expect(p.map((x) => [x.name, x.upToSeq, x.afterSeq, x.partial])).toEqual([
      ['h', undefined, undefined, true],
      ['i', 44, undefined, true],
      ['r', undefined, 44, true],
    ]);
  });
  it('holds when the RDB dropped past what the IDB advertises (a stale view), never a gap', () => {
    expect(held([hdb, idb(30), rdb({ [TODAY]: { trade: 41 } })])).toBe(TODAY);
    // No IDB at all and rows dropped: held too.
    expect(held([hdb, rdb({ [TODAY]: { trade: 41 } })])).toBe(TODAY);
  });
  it('a windowed RDB that dropped nothing still gets a cut (afterSeq), so a later drop is an error, not a gap', () => {
    expect(parts([hdb, rdb({})]).map((x) => [x.name, x.afterSeq])).toEqual([
      ['h', undefined],
      ['r', 0],
    ]);
    expect(parts([hdb, idb(0), rdb({})]).map((x) => [x.name, x.upToSeq, x.afterSeq])).toEqual([
      ['h', undefined, undefined],
      ['r', undefined, 0],
    ]);
  });
  it('an RDB without a window answers today alone, as before', () => {
    expect(parts([hdb, idb(44), view('r', 'rdb', { tables: ['trade'], dates: [TODAY] })]).map((x) => [x.name, x.upToSeq, x.afterSeq])).toEqual([
      ['h', undefined, undefined],
      ['r', undefined, undefined],
    ]);
  });
  it('a day the HDB holds whole goes to it even when the windowed RDB still advertises it', () => {
    const hdb2 = view('h', 'hdb', { tables: ['trade'], first: '2026-12-01', last: TODAY });
    expect(parts([hdb2, idb(44), rdb({ [TODAY]: { trade: 41 } })]).map((x) => x.name)).toEqual(['h']);
  });
});
