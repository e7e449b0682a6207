// KX's tickerplant setting names map onto ours: retryIntervalMs (KX retryInterval, the pause
// between retries of a failed log write) is appendRetryDelayMs; a bad value or a conflicting pair
// is a typed BAD_CONFIG naming the setting. So is a bad mode, timeType, timeOffset or
// bufferLimitMb; Tb-Counts headers round-trip; buffer requests are checked field by field.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { checkTickerplantSettings, defaultTickerplantSettings, type TickerplantSettings, withKxAliases } from '../../actors/tickerplant/settings.ts';
import { formatCounts, parseCounts } from '../../actors/tickerplant/batching.ts';
import { parseBufferRequest } from '../../actors/tickerplant/buffer.ts';

describe('tickerplant settings', () => {
  it('settings: retryIntervalMs is an alias of appendRetryDelayMs', () => {
    expect(withKxAliases({ name: 'tp1', retryIntervalMs: 500 })).toEqual({ name: 'tp1', appendRetryDelayMs: 500 });
    expect(withKxAliases({ name: 'tp1', appendRetryDelayMs: 300 })).toEqual({ name: 'tp1', appendRetryDelayMs: 300 });
    expect(withKxAliases({ retryIntervalMs: 300, appendRetryDelayMs: 300 })).toEqual({ appendRetryDelayMs: 300 });
  });

  it('settings: a bad or conflicting retryIntervalMs is BAD_CONFIG naming it', () => {
    for (const bad of [{ retryIntervalMs: 0 }, { retryIntervalMs: 'soon' }, { retryIntervalMs: 1.5 }, { retryIntervalMs: 100, appendRetryDelayMs: 200 }]) {
      let err: unknown;
      try {
        withKxAliases(bad as Record<string, unknown>);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TickbusError);
      expect(err).toMatchObject({ code: ErrorCode.BAD_CONFIG, detail: { setting: 'retryIntervalMs' } });
    }
  });
});

describe('tickerplant slow-consumer settings', () => {
  it('settings: consumer watch bounds are BAD_CONFIG naming the setting', async () => {
    const { checkConsumerWatchSettings, defaultConsumerWatchSettings } = await import('../../actors/tickerplant/consumers.ts');
    expect(() => checkConsumerWatchSettings(defaultConsumerWatchSettings)).not.toThrow();
    for (const [k, v] of [['consumerAlertBytes', -1], ['consumerDisconnectBytes', 1.5], ['consumerCheckMs', 10], ['consumerCheckMs', 'often']] as const) {
      let err: unknown;
      try {
        checkConsumerWatchSettings({ ...defaultConsumerWatchSettings, [k]: v } as never);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: ErrorCode.BAD_CONFIG, detail: { setting: k } });
    }
  });
});

describe('tickerplant settings: modes, stamping, buffer', () => {
  const base = { ...defaultTickerplantSettings, name: 'tp1', tables: {} } as TickerplantSettings;
  it('settings: mode, timeType, timeOffset and bufferLimitMb out of range are BAD_CONFIG naming the setting', () => {
    expect(() => checkTickerplantSettings({ ...base, mode: 'memorybatch' })).not.toThrow();
    for (const [k, v] of [['mode', 'often'], ['timeType', 'UTC'], ['timeOffset', 25], ['timeOffset', 0.5], ['bufferLimitMb', 0], ['bufferLimitMb', -1]] as const) {
      expect(() => checkTickerplantSettings({ ...base, [k]: v }), k).toThrow(expect.objectContaining({ code: ErrorCode.BAD_CONFIG, detail: expect.objectContaining({ setting: k }) }));
    }
  });

  it('settings: Tb-Counts round-trips; entries that do not parse are left out', () => {
    expect(formatCounts([['trade', 12], ['quote', 40]])).toBe('trade=12,quote=40');
    expect([...parseCounts('trade=12,quote=40')]).toEqual([['trade', 12], ['quote', 40]]);
    expect([...parseCounts('trade=x,=3,quote=-1,bid=7')]).toEqual([['bid', 7]]);
    expect(parseCounts(undefined).size).toBe(0);
  });

  it('settings: a buffer request takes an id token (an integer as its digits), an object of args and replay on end only', () => {
    const req = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    expect(parseBufferRequest(req({ id: 10, args: { a: 1 } }), 'start')).toEqual({ id: '10', args: { a: 1 } });
    expect(parseBufferRequest(req({ id: 'e-1', replay: true }), 'end')).toEqual({ id: 'e-1', args: {}, replay: true });
    const bad: Array<[unknown, 'start' | 'end', string]> = [
      [{ id: 'a.b' }, 'start', ErrorCode.BAD_ID],
      [{ id: -1 }, 'start', ErrorCode.BAD_ID],
      [{}, 'start', ErrorCode.BAD_ID],
      [{ id: 'x', args: 'no' }, 'start', ErrorCode.BAD_QUERY],
      [{ id: 'x', args: { big: 'y'.repeat(5000) } }, 'start', ErrorCode.BAD_QUERY],
      [{ id: 'x', replay: true }, 'start', ErrorCode.BAD_QUERY],
      [{ id: 'x', replay: 'yes' }, 'end', ErrorCode.BAD_QUERY],
      [{ type: 'other', id: 'x' }, 'start', ErrorCode.BAD_TYPE],
    ];
    for (const [v, verb, code] of bad) expect(() => parseBufferRequest(req(v), verb), JSON.stringify(v).slice(0, 40)).toThrow(expect.objectContaining({ code }));
    expect(() => parseBufferRequest(new TextEncoder().encode('{'), 'start')).toThrow(expect.objectContaining({ code: ErrorCode.BAD_ENCODING }));
  });
});
