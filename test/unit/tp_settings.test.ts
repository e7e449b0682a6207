// KX's tickerplant setting names map onto ours: retryIntervalMs (KX retryInterval, the pause
// between retries of a failed log write) is appendRetryDelayMs; a bad value or a conflicting pair
// is a typed BAD_CONFIG naming the setting.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { withKxAliases } from '../../actors/tickerplant/settings.ts';

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
