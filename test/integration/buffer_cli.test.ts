// `actors buffer start|end|status` (decision 108's buffer events from the command line), by running
// the real CLI (node ops/actors.mjs, a child process) against a real tickerplant on a real
// nats-server: status with no event, start with args, rows held (status counts them against the
// bound), end with --replay puts them into the live log once; usage mistakes are BAD_USAGE before
// anything is sent; the tickerplant's refusals come back typed (BAD_QUERY, BAD_CONFIG), exit 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { manager } from '../../bus/streams.ts';
import { subjects } from '../../bus/subjects.ts';
import { readBufferMessages } from '../../actors/tickerplant/buffer.ts';
import { startTickerplant, type Tickerplant } from '../../actors/tickerplant/effects.ts';
import { bufferRequest } from '../../ops/cli/buffer_cmd.ts';
import { parseArgs } from '../../ops/cli/args.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { column, connectTo, readLog, silentLogger, startServer, testTables } from '../support/bus.ts';
import { runActorsCli } from '../support/procs.ts';

let server: NatsServer;
let nc: NatsConnection;
const tps: Tickerplant[] = [];

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  for (const t of tps) await t.stop().catch(() => {});
  await nc?.close();
  await server?.dispose();
});

const actors = (args: string[]) => runActorsCli(args, { NATS_URL: server.url });

async function tp(name: string, extra: Record<string, unknown>): Promise<Tickerplant> {
  const t = await startTickerplant(nc, { name, tables: testTables, mode: 'batch', pubFreqMs: 10, ...extra }, silentLogger);
  await t.ready();
  tps.push(t);
  return t;
}

/** The BAD_USAGE message of a command line, or undefined when it parses. */
function usage(argv: string[]): string | undefined {
  try {
    bufferRequest(parseArgs(['buffer', ...argv]));
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(TickbusError);
    expect((e as TickbusError).code).toBe(ErrorCode.BAD_USAGE);
    return (e as TickbusError).message;
  }
}

describe('actors buffer', () => {
  it('actors buffer: usage mistakes are BAD_USAGE naming what is wrong', () => {
    expect(usage([])).toMatch(/needs start, end or status/);
    expect(usage(['open', '--tp', 'tp1', '--id', 'a'])).toMatch(/needs start, end or status \(got "open"\)/);
    expect(usage(['start', '--id', 'a'])).toMatch(/needs --tp/);
    expect(usage(['start', '--tp', 'tp1'])).toMatch(/needs --id/);
    expect(usage(['end', '--tp', 'tp1', '--id', 'a b'])).toMatch(/is not an event id/);
    expect(usage(['start', '--tp', 'tp1', '--id', 'a', '--args', '{x'])).toMatch(/--args is not JSON/);
    expect(usage(['start', '--tp', 'tp1', '--id', 'a', '--args', '[1]'])).toMatch(/must be a JSON object/);
    expect(usage(['start', '--tp', 'tp1', '--id', 'a', '--replay'])).toMatch(/--replay is for end/);
    expect(usage(['end', '--tp', 'tp1', '--id', 'a', '--replay=maybe'])).toMatch(/--replay takes no value/);
    expect(usage(['status', '--tp', 'tp1', '--args', '{}'])).toMatch(/--args is for start and end/);
    expect(usage(['status', '--tp', 'tp1', 'extra'])).toMatch(/unexpected argument "extra"/);
    expect(usage(['status', '--tp', 'tp1'])).toBeUndefined();
    expect(bufferRequest(parseArgs(['buffer', 'end', '--tp', 'tp1', '--id', '7', '--replay', '--args', '{"k":1}'])).body).toEqual({ type: 'tickbus.v1.buffer.request', id: '7', args: { k: 1 }, replay: true });
    expect(bufferRequest(parseArgs(['buffer', 'end', '--tp', 'tp1', '--id', '7', '--replay=false'])).body).toMatchObject({ replay: false });
  });

  it('actors buffer: status, start with args, rows held and counted, end --replay puts them live once; refusals are typed', async () => {
    await tp('bcli', { bufferEnabled: true, bufferLimitMb: 1 });
    const none = await actors(['buffer', 'status', '--tp', 'bcli']);
    expect(none).toMatchObject({ code: 0, err: '' });
    expect(none.out).toBe('bcli: no buffer event open\n');

    const start = await actors(['buffer', 'start', '--tp', 'bcli', '--id', 'ev1', '--args', '{"source":"cli"}']);
    expect(start.err).toBe('');
    expect(start.out).toBe(`bcli: buffer event ev1 started (log ${subjects.buffer('bcli', 'ev1')}; rows 0, bytes 0)\n`);
    const pub = new Publisher(nc, { tp: 'bcli' });
    const trade = (syms: string[], fid0: number) => ({
      cols: { sym: { dict: syms, codes: Uint32Array.from(syms, (_, i) => i) }, price: new Float64Array(syms.length).fill(1), size: new BigInt64Array(syms.length).fill(1n), fid: BigInt64Array.from(syms, (_, i) => BigInt(fid0 + i)) },
    });
    await pub.publish('trade', trade(['AAPL', 'MSFT'], 1));
    await pub.publish('trade', trade(['IBM'], 3));
    pub.close();

    const st = await actors(['buffer', 'status', '--tp', 'bcli', '--id', 'ev1', '--json']);
    expect(st.code).toBe(0);
    const body = JSON.parse(st.out) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'tickbus.v1.buffer.status', tp: 'bcli', enabled: true, open: 'ev1', args: { source: 'cli' }, rows: 3, limitMb: 1, limitBytes: 1_048_576, replaying: false });
    expect(body.bytes as number).toBeGreaterThan(0);
    const text = await actors(['buffer', 'status', '--tp', 'bcli', '--id', 'other']);
    expect(text.out).toMatch(/^bcli: buffer event ev1 open \(log tickbuf\.bcli\.ev1; rows 3, bytes \d+ of 1048576, bufferLimitMb 1\)\nevent other: not open\n$/);
    expect(column((await readLog(nc, 'bcli')).batches, 'fid')).toEqual([]); // all held

    const wrong = await actors(['buffer', 'end', '--tp', 'bcli', '--id', 'ev2']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/^actors: BAD_QUERY: buffer event ev1 is open, not ev2/);
    const end = await actors(['buffer', 'end', '--tp', 'bcli', '--id', 'ev1', '--replay']);
    expect(end.err).toBe('');
    expect(end.out).toMatch(/^bcli: buffer event ev1 ended and replayed \(log tickbuf\.bcli\.ev1; rows 3, /);
    expect(column((await readLog(nc, 'bcli')).batches, 'fid')).toEqual([1n, 2n, 3n]);
    expect((await readBufferMessages(nc, await manager(nc), 'bcli', 'ev1')).length).toBeGreaterThan(0);
    const reused = await actors(['buffer', 'start', '--tp', 'bcli', '--id', 'ev1']);
    expect(reused.err).toMatch(/^actors: BAD_QUERY: buffer event id ev1 was used before/);

    await tp('bcoff', {});
    const off = await actors(['buffer', 'start', '--tp', 'bcoff', '--id', 'x']);
    expect(off.code).toBe(2);
    expect(off.err).toMatch(/^actors: BAD_CONFIG: .*bufferEnabled/);
    expect((await actors(['buffer', 'status', '--tp', 'bcoff'])).out).toBe('bcoff: buffer events off (bufferEnabled false)\n');
    const bad = await actors(['buffer', 'start', '--tp', 'bcli']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^actors: BAD_USAGE: actors buffer start needs --id/);
  }, 240_000);
});
