// Proves the pure parts of the `actors` CLI and the usage log: flag parsing (boolean flags take no
// value), flag checking (an unknown flag is BAD_USAGE naming it and the valid ones), --since
// parsing, the usage summary, the state colours of tables (by the cell's first word, and no escape
// codes when not writing to a terminal), and how a usage record's type, table and rows are read
// from a query and its reply.
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import pc from 'picocolors';
import { TickbusError } from '../../bus/errors.ts';
import { queryKind, rowsOf, statusOf } from '../../bus/usage.ts';
import { checkFlags, parseArgs, type Command } from '../../ops/cli/args.ts';
import { printTable, stateColour } from '../../ops/cli/table.ts';
import { parseSince, summarize } from '../../ops/cli/usage_cmd.ts';

const cmd: Command = { usage: '', flags: ['since', 'json'], run: async () => 0 };

describe('cli parts', () => {
  it('cli: boolean flags take no value; others take the next word or =value; --set collects', () => {
    const a = parseArgs(['query', '--json', '{"type":"x"}', '--target=rdb', '--rows', '5', '--set', 'a=1', '--set', 'b=2']);
    expect(a.positional).toEqual(['{"type":"x"}']);
    expect([...a.flags]).toEqual([['json', 'true'], ['target', 'rdb'], ['rows', '5']]);
    expect(a.sets).toEqual(['a=1', 'b=2']);
  });

  it('cli: an undeclared flag is BAD_USAGE naming it and the valid ones; --help and --verbose always pass', () => {
    expect(() => checkFlags('usage', cmd, parseArgs(['usage', '--since', '1h', '--verbose', '--help']))).not.toThrow();
    try {
      checkFlags('usage', cmd, parseArgs(['usage', '--sinse', '1h']));
      throw new Error('expected BAD_USAGE');
    } catch (e) {
      expect(e).toBeInstanceOf(TickbusError);
      expect((e as TickbusError).code).toBe('BAD_USAGE');
      expect((e as TickbusError).message).toBe('unknown flag --sinse for actors usage; valid: --since, --json, --help, --verbose');
      expect((e as TickbusError).detail).toMatchObject({ flag: 'sinse', command: 'usage' });
    }
    expect(() => checkFlags('usage', cmd, parseArgs(['usage', '--set', 'a=1']))).toThrow(/unknown flag --set/);
    expect(() => checkFlags('up', { usage: '', run: async () => 0 }, parseArgs(['up', '--anything']))).not.toThrow();
  });

  it('cli: --since takes durations and ISO times; anything else is BAD_USAGE', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    expect(parseSince('1h', now)).toBe(now - 3_600_000);
    expect(parseSince('30m', now)).toBe(now - 1_800_000);
    expect(parseSince('45s', now)).toBe(now - 45_000);
    expect(parseSince('2d', now)).toBe(now - 2 * 86_400_000);
    expect(parseSince('2026-11-22T09:00:00Z', now)).toBe(Date.parse('2026-11-22T09:00:00Z'));
    expect(() => parseSince('soon', now)).toThrow(/--since "soon" is neither a duration/);
  });

  it('cli: the usage summary counts queries, errors, bytes and time by user, process and status', () => {
    const e = (user: string, name: string, status: string, durationMs: number, bytes: number) => ({ at: 0, user, subject: 's', queryType: 't', durationMs, bytes, status, proctype: 'rdb', name });
    const s = summarize([e('a', 'r1', 'ok', 2, 10), e('a', 'r2', 'BAD_QUERY', 4, 5), e('', 'r1', 'ok', 6, 1)]);
    expect(s).toEqual({ queries: 3, errors: 1, bytes: 16, durationMsMean: 4, durationMsMax: 6, byUser: { a: 2, '(none)': 1 }, byProcess: { 'rdb.r1': 2, 'rdb.r2': 1 }, byStatus: { ok: 2, BAD_QUERY: 1 } });
  });

  it('cli: state cells are coloured by their first word; a table written elsewhere than a terminal has no escape codes', () => {
    const c = pc.createColors(true);
    expect(c.green('x')).not.toBe('x');
    expect(stateColour('ok (0.2s ago, #3)', c)?.('x')).toBe(c.green('x'));
    expect(stateColour('up', c)?.('x')).toBe(c.green('x'));
    expect(stateColour('warning (2.1s ago)', c)?.('x')).toBe(c.yellow('x'));
    expect(stateColour('error', c)?.('x')).toBe(c.red('x'));
    expect(stateColour('no reply', c)?.('x')).toBe(c.red('x'));
    expect(stateColour('BACKEND_ERROR', c)?.('x')).toBe(c.red('x'));
    expect(stateColour('rdb1', c)).toBeUndefined();
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    printTable(['name', 'state'], [['rdb1', 'error'], ['tp1', 'ok']], out);
    expect(text).toBe('name  state\n----  -----\nrdb1  error\ntp1   ok\n');
  });

  it('usage: a record reads the query type, table and rows from the query and its reply', () => {
    expect(queryKind({ type: 'tickbus.v1.getdata', table: 'trade' })).toEqual({ queryType: 'tickbus.v1.getdata', table: 'trade' });
    expect(queryKind({ type: 'tickbus.v1.call', api: 'vwap', args: [] })).toEqual({ queryType: 'call:vwap' });
    expect(queryKind(undefined)).toEqual({ queryType: 'undefined' });
    expect(rowsOf({ type: 'tickbus.v1.result', n: 7 })).toBe(7);
    expect(rowsOf([1, 2, 3])).toBe(3);
    expect(rowsOf({ type: 'tickbus.v1.gateway.reply', result: { n: 4 } })).toBe(4);
    expect(rowsOf('x')).toBeUndefined();
    expect(statusOf({ type: 'tickbus.v1.error', code: 'BAD_QUERY' })).toBe('BAD_QUERY');
    expect(statusOf({ n: 1 })).toBe('ok');
  });
});
