// The real-time processor's settings and processor names: defaults, bounds, and the forms of
// `processor` (a file, file#export, pkg#name), each bad value a BAD_CONFIG naming the setting.
import { describe, expect, it } from 'vitest';
import { TickbusError } from '../../bus/errors.ts';
import { parseProcessorSpec } from '../../actors/rtp/processor.ts';
import { derivedId } from '../../actors/rtp/published.ts';
import { defaultRtpSettings, rtpSettings } from '../../actors/rtp/settings.ts';

const base = { name: 'agg1', tp: 'tp1', tables: {} };

function badSetting(raw: Record<string, unknown>): unknown {
  try {
    rtpSettings({ ...base, ...raw });
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    expect((e as TickbusError).code).toBe('BAD_CONFIG');
    return (e as TickbusError).detail.setting;
  }
  throw new Error('accepted');
}

describe('rtp settings', () => {
  it('rtp settings: defaults are vanilla with stated bounds; a processor needs vanilla false', () => {
    expect(rtpSettings(base)).toMatchObject({ vanilla: true, publishInflightMax: defaultRtpSettings.publishInflightMax, replayIdsMax: 5_000_000 });
    expect(rtpSettings({ ...base, vanilla: false, processor: 'x.ts' }).processor).toBe('x.ts');
    expect(badSetting({ vanilla: true, processor: 'x.ts' })).toBe('processor');
    expect(badSetting({ vanilla: false })).toBe('processor');
    expect(badSetting({ vanilla: 'false' })).toBe('vanilla');
    expect(badSetting({ publishTimeoutMs: 50 })).toBe('publishTimeoutMs');
    expect(badSetting({ publishesPerBatchMax: 1_001 })).toBe('publishesPerBatchMax');
    expect(badSetting({ replayIdsMax: 0 })).toBe('replayIdsMax');
    expect(badSetting({ groupRowsMax: 0 })).toBe('groupRowsMax');
    expect(badSetting({ groupBytesMax: 100 })).toBe('groupBytesMax');
    expect(badSetting({ groupInputsMax: 100_001 })).toBe('groupInputsMax');
    expect(badSetting({ groupMs: -1 })).toBe('groupMs');
    expect(badSetting({ replayScanTimeoutMs: 10 })).toBe('replayScanTimeoutMs');
    expect(badSetting({ processorConfig: [1] })).toBe('processorConfig');
    expect(() => rtpSettings({ ...base, name: 'bad name' })).toThrow(/rtp name/);
  });

  it('rtp settings: processor names are a file, file#export or pkg#name; derived ids are printable without commas', () => {
    expect(parseProcessorSpec('actors/rtp/examples/aggregate.ts')).toEqual({ module: 'actors/rtp/examples/aggregate.ts', exportName: undefined, isFile: true });
    expect(parseProcessorSpec('./p.mjs#agg')).toEqual({ module: './p.mjs', exportName: 'agg', isFile: true });
    expect(parseProcessorSpec('/abs/p#agg')).toMatchObject({ isFile: true, exportName: 'agg' });
    expect(parseProcessorSpec('@acme/rtp#vwap')).toEqual({ module: '@acme/rtp', exportName: 'vwap', isFile: false });
    expect(() => parseProcessorSpec('p.ts#')).toThrow(TickbusError);
    expect(() => parseProcessorSpec('#x')).toThrow(TickbusError);
    const id = derivedId('agg1', 1187, 1190);
    expect(id).toBe('rtp.agg1.1187-1190');
    expect(/^[\x21-\x7e]{1,128}$/.test(derivedId('a'.repeat(64), Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER)) && !id.includes(',')).toBe(true);
  });
});
