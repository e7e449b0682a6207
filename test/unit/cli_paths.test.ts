// The `actors` CLI's one path rule (ops/cli/paths.ts, decision 123): a path flag resolves against
// the working directory (as `actors up --data ./data`), a path from settings inside the data
// directory, and the data directory is --data, else $TICKBUS_DATA, else `<repository>/data`.
// Pure functions over an injected working directory, environment and root: no file is touched.
import { describe, expect, it } from 'vitest';
import { configPath, parseArgs } from '../../ops/cli/args.ts';
import { cliDataDir, flagPath, settingPath, type PathContext } from '../../ops/cli/paths.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

const ctx = (env: Record<string, string> = {}): PathContext => ({ cwd: '/home/u/tickbus', env, root: '/opt/tickbus' });
const args = (...argv: string[]) => parseArgs(['replay', ...argv]);

describe('CLI paths', () => {
  it('a bare --config (no path) is BAD_USAGE naming the flag, not a file called "true"', () => {
    expect(() => configPath(args('--config'))).toThrow(expect.objectContaining({ code: 'BAD_USAGE', detail: { flag: 'config' } }));
    expect(() => configPath(args('--config', '--date', '2026-01-01'))).toThrow(/--config needs a path/);
    expect(configPath(args('--config', '/etc/tb.json'))).toBe('/etc/tb.json');
  });
  it('a path flag resolves against the working directory; absolute stays; absent is undefined', () => {
    expect(flagPath(args('--hdb', 'data/hdb'), 'hdb', ctx())).toBe('/home/u/tickbus/data/hdb');
    expect(flagPath(args('--hdb', './data/hdb'), 'hdb', ctx({ TICKBUS_DATA: '/var/tb' }))).toBe('/home/u/tickbus/data/hdb');
    expect(flagPath(args('--hdb', '../x'), 'hdb', ctx())).toBe('/home/u/x');
    expect(flagPath(args('--hdb=/srv/hdb'), 'hdb', ctx())).toBe('/srv/hdb');
    expect(flagPath(args('--date', '2026-01-01'), 'hdb', ctx())).toBeUndefined();
  });

  it('a path flag given without a value is BAD_USAGE naming the flag', () => {
    for (const argv of [['--hdb'], ['--hdb', '--json'], ['--hdb=']]) {
      try {
        flagPath(args(...argv), 'hdb', ctx());
        expect.unreachable(`${argv.join(' ')} parsed`);
      } catch (e) {
        expect(e).toBeInstanceOf(TickbusError);
        expect((e as TickbusError).code).toBe(ErrorCode.BAD_USAGE);
        expect((e as TickbusError).detail).toEqual({ flag: 'hdb' });
      }
    }
  });

  it('the data directory: --data (working directory), else $TICKBUS_DATA, else <repository>/data', () => {
    expect(cliDataDir(args('--data', 'd2'), ctx({ TICKBUS_DATA: '/var/tb' }))).toBe('/home/u/tickbus/d2');
    expect(cliDataDir(args(), ctx({ TICKBUS_DATA: '/var/tb' }))).toBe('/var/tb');
    expect(cliDataDir(args(), ctx({ TICKBUS_DATA: 'rel' }))).toBe('/home/u/tickbus/rel');
    expect(cliDataDir(args(), ctx())).toBe('/opt/tickbus/data');
  });

  it('a path from settings lands inside the data directory, never doubled', () => {
    const data = cliDataDir(args('--data', 'data'), ctx());
    expect(settingPath('hdb', data)).toBe('/home/u/tickbus/data/hdb');
    expect(settingPath('/srv/hdb', data)).toBe('/srv/hdb');
    // The quick start's `--hdb data/hdb` from the checkout and the default setting name one directory.
    expect(flagPath(args('--hdb', 'data/hdb'), 'hdb', ctx())).toBe(settingPath('hdb', data));
  });
});
