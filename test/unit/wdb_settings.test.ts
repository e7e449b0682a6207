// WDB settings (bad values are BAD_CONFIG naming the setting), the gateway's reload holds (ended
// by reloadend or by their own bound, HDB-bound parts of the day only), and the intraday merge's
// refusals (a day not flushed; rows that differ from the end-of-day marker: COUNT_MISMATCH).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wdbSettings } from '../../actors/wdb/settings.ts';
import { advertises } from '../../actors/wdb/reload.ts';
import { ReloadHolds } from '../../actors/gateway/reload_hold.ts';
import { dayBoundsNs } from '../../actors/gateway/data_access.ts';
import { dateToDays } from '../../storage/batch.ts';
import { emptyManifest } from '../../storage/intraday/manifest.ts';
import { mergeDay } from '../../storage/intraday/merge.ts';
import { defineSchema } from '../../storage/schema.ts';
import { testTables, until } from '../support/bus.ts';

const base = { name: 'w1', tp: 'tp1', tables: testTables };
const dir = mkdtempSync(join(tmpdir(), 'tickbus-wdbunit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('wdb settings', () => {
  it('fills defaults and names each bad value', () => {
    const s = wdbSettings({ ...base, maxRows: '500' as unknown as number, reloadOrder: 'hdb,idb' as unknown as string[], immediate: 'true' as unknown as boolean });
    expect(s).toMatchObject({ maxRows: 500, reloadOrder: ['hdb', 'idb'], immediate: true, mode: 'saveandsort', writedownmode: 'default', partColumn: 'sym' });
    expect(wdbSettings(base)).toMatchObject({ writeOffThread: true, writeTimeoutMs: 300_000, stopTimeoutMs: 30_000 });
    expect(wdbSettings({ ...base, writeOffThread: 'false' as unknown as boolean, stopTimeoutMs: '5000' as unknown as number })).toMatchObject({ writeOffThread: false, stopTimeoutMs: 5_000 });
    for (const [k, v] of [['maxRows', 0], ['saveIntervalMs', -1], ['mergeGroupRows', 'x'], ['mode', 'fast'], ['writedownmode', 'byday'], ['keepDays', -1], ['logStallMs', 10], ['partColumn', 'price'], ['writeTimeoutMs', 0], ['stopTimeoutMs', 'soon']] as const) {
      const bad = { ...base, [k]: v, ...(k === 'partColumn' ? { writedownmode: 'partbyattr' as const } : {}) };
      expect(() => wdbSettings(bad)).toThrow(expect.objectContaining({ code: 'BAD_CONFIG', detail: expect.objectContaining({ setting: k }) }));
    }
    expect(() => wdbSettings({ ...base, maxRowsByTable: { trade: 0 } })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG', detail: expect.objectContaining({ setting: 'maxRowsByTable.trade' }) }));
  });

  it('advertises: a first..last range or a dates list, as the registry shows them', () => {
    expect(advertises({ first: '2026-03-01', last: '9999-12-31', dates: ['2026-03-01', '2026-03-02'] }, '2026-03-01')).toBe(true);
    expect(advertises({ first: '2026-03-02', last: '9999-12-31', dates: ['2026-03-02'] }, '2026-03-01')).toBe(false);
    expect(advertises({ dates: ['2026-02-01', '2026-03-03'] }, '2026-03-01')).toBe(true);
    expect(advertises({}, '2026-03-01')).toBe(false);
  });
});

describe('gateway reload holds', () => {
  const part = (proctype: string, day: string) => {
    const [lo, hi] = dayBoundsNs(dateToDays(day)!, '00:00', 'UTC');
    return { proctype, request: { start: String(lo), end: String(hi - 1n) } };
  };
  it('holds HDB-bound parts of the day until reloadend; ignores bad notices', () => {
    let ends = 0;
    const h = new ReloadHolds(() => ends++, 30_000);
    expect(h.start({ wdb: 'w1', date: 'nope' })).toBe(false);
    expect(h.start(undefined)).toBe(false);
    expect(h.start({ wdb: 'w1', date: '2026-03-03', holdMs: 60_000 })).toBe(true);
    expect(h.blocking([part('hdb', '2026-03-03')], '00:00', 'UTC')).toEqual({ day: '2026-03-03', wdb: 'w1' });
    expect(h.blocking([part('rdb', '2026-03-03')], '00:00', 'UTC')).toBeUndefined();
    expect(h.blocking([part('hdb', '2026-03-02')], '00:00', 'UTC')).toBeUndefined();
    expect(h.held()[0]!.untilMs - Date.now()).toBeLessThanOrEqual(30_000); // bounded by eodHoldMs, not the notice's 60 s
    h.end({ date: '2026-03-03' });
    expect(ends).toBe(1);
    expect(h.blocking([part('hdb', '2026-03-03')], '00:00', 'UTC')).toBeUndefined();
    h.close();
  });
  it('ends a hold by itself when reloadend never comes', async () => {
    let ends = 0;
    const h = new ReloadHolds(() => ends++, 30_000);
    h.start({ wdb: 'w1', date: '2026-03-03', holdMs: 50 });
    await until(() => ends === 1, 10_000);
    expect(h.stats).toMatchObject({ started: 1, ended: 0, expired: 1 });
    expect(h.held()).toEqual([]);
  });
});

describe('intraday merge refusals', () => {
  const schema = defineSchema(testTables);
  it('a day not flushed is INTERNAL; rows that differ from the marker are COUNT_MISMATCH and nothing is merged', async () => {
    const m = emptyManifest('tp1', 'w1', '2026-03-03');
    await expect(mergeDay(join(dir, 'wdb'), join(dir, 'hdb'), m, schema, { memoryLimit: '256MB', threads: 1, verifyCounts: true })).rejects.toMatchObject({ code: 'INTERNAL' });
    m.tables.trade = { lastSeq: 9, rows: 5, nextPart: 1 };
    m.files.push({ file: 'trade/part-00000.parquet', table: 'trade', rows: 5, firstSeq: 1, lastSeq: 9 });
    m.eodSeq = 10;
    m.eodCounts = { trade: 6, quote: 0 };
    const r = await mergeDay(join(dir, 'wdb'), join(dir, 'hdb'), m, schema, { memoryLimit: '256MB', threads: 1, verifyCounts: true });
    expect(r.find((x) => x.table === 'trade')).toMatchObject({ outcome: 'failed', error: expect.objectContaining({ code: 'COUNT_MISMATCH', detail: expect.objectContaining({ held: 5, expected: 6 }) }) });
    expect(r.find((x) => x.table === 'quote')).toMatchObject({ outcome: 'empty' });
    expect(m.merged).toBeFalsy();
  });
});
