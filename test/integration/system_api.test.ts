// Proves the programmatic process API (system/, `import { System } from 'tickbus'`) on a real
// nats-server: System.basic in-process (the tests' mode) ingests and answers through its gateway;
// an API registered on a running in-process RDB is live at once, its failures come back typed;
// kill() is hard (the process stops answering at once) and start() brings it back with its APIs
// and its day replayed from the log; a child whose API module is broken fails to start with a
// typed error naming the process; bad input is a typed BAD_CONFIG / BAD_QUERY naming what was wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System, TickbusProcess, Rdb, ErrorCode, TickbusError } from '../../system/index.ts';
import { compileFunction } from '../../actors/common/user_code.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { clockAt, startServer, testTables, until } from '../support/bus.ts';

let server: NatsServer;
let dir: string;
const clock = clockAt(Date.parse('2026-11-22T10:00:05Z'));
const day = zoneDate(clock.now(), 'UTC');

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'tickbus-sysapi-'));
});

afterAll(async () => {
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  return await p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof TickbusError ? e.code : `untyped: ${String(e)}`),
  );
}

type Result = { n: number; columns: string[]; cols: Record<string, ArrayLike<unknown>> };

describe('system api', () => {
  it('system: basic in-process ingests and answers; APIs live at once, typed failures; kill is hard; start brings APIs and the day back', { timeout: 120_000 }, async () => {
    const sys = System.basic({ tables: testTables, dataDir: join(dir, 'basic'), natsUrl: server.url, mode: 'inprocess', processLogs: false, clock, settings: { tickerplant: { mode: 'immediate' } }, apis: { rdb: { twice: (x: number) => 2 * x } } });
    await sys.start();
    try {
      const pub = await sys.publisher();
      await pub.publish('trade', { rows: [['AAPL', 10.5, 100, 1], ['MSFT', 20.5, 200, 2], ['AAPL', 11.5, 300, 3]] });
      pub.close();
      const q = { type: 'tickbus.v1.getdata', table: 'trade', start: day, end: `${day}T23:59:59Z`, grouping: ['sym'], aggregations: [{ op: 'count' }] };
      const counts = async () => {
        const r = await sys.query<Result>(q);
        return Object.fromEntries(Array.from({ length: r.n }, (_, i) => [String(r.cols.sym![i]), Number(r.cols[r.columns[1]!]![i])]));
      };
      // The gateway learns the RDB's day from its registry entry (re-registered on its heartbeat).
      await until(async () => (await counts().catch(() => ({}) as Record<string, number>)).AAPL === 2, 30_000, 100);
      expect(await counts()).toEqual({ AAPL: 2, MSFT: 1 });
      expect(await sys.rdb.call('twice', 21)).toBe(42);
      // A closure (in-process nothing crosses a process boundary), live without a restart.
      let seen = 0;
      sys.rdb.registerApi('seen', () => ++seen);
      sys.rdb.registerApi('boom', () => {
        throw new Error('no luck');
      });
      expect([await sys.rdb.call('seen'), await sys.rdb.call('seen')]).toEqual([1, 2]);
      expect(await code(sys.rdb.call('boom'))).toBe(ErrorCode.API_FAILED);
      expect(await code(sys.rdb.call('nope'))).toBe(ErrorCode.UNKNOWN_API);

      expect(await sys.kill('rdb')).toEqual(['rdb1']);
      expect(await code(sys.rdb.call('twice', 1))).toBe(ErrorCode.NO_RESPONDERS);
      await sys.rdb.start();
      expect([await sys.rdb.call('twice', 4), await sys.rdb.call('seen')]).toEqual([8, 3]);
      await until(async () => (await counts().catch(() => ({}) as Record<string, number>)).AAPL === 2, 30_000, 100);
      expect(await counts()).toEqual({ AAPL: 2, MSFT: 1 });
      expect(await code(sys.kill('nothing'))).toBe(ErrorCode.BAD_QUERY);
    } finally {
      await sys.stop();
    }
  });

  it('system: a child whose API module is broken does not start, with a typed error naming it', { timeout: 120_000 }, async () => {
    const mod = join(dir, 'broken_api.mjs');
    writeFileSync(mod, 'export const notAFunction = 42;\n');
    const rdb = new Rdb({ name: 'rdbbad', tables: testTables, dataDir: join(dir, 'child'), natsUrl: server.url, processLogs: false, apis: { f: { module: mod, export: 'notAFunction' } } });
    const e = await rdb.start().then(
      () => undefined,
      (x: unknown) => x as TickbusError,
    );
    expect(e).toBeInstanceOf(TickbusError);
    expect(e!.code).toBe(ErrorCode.NOT_READY);
    expect(e!.message).toMatch(/rdb rdbbad did not start: failed \(exit 1\)/);
    await rdb.stop();
  });

  it('system: bad input is a typed error naming what was wrong', () => {
    const bad = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return e instanceof TickbusError ? `${e.code}: ${e.message}` : `untyped: ${String(e)}`;
      }
    };
    expect(bad(() => new TickbusProcess('nosuch'))).toMatch(/^BAD_CONFIG: unknown process type nosuch/);
    expect(bad(() => new Rdb({ name: 'no spaces' }))).toMatch(/^BAD_CONFIG: .*name/);
    expect(bad(() => new Rdb({ apis: { f: 42 as never } }))).toBe('BAD_CONFIG: API f: give a function or {module, export}');
    expect(bad(() => new Rdb().registerApi('bad name!', () => 1))).toBe('BAD_CONFIG: API name "bad name!" is invalid');
    expect(bad(() => new Rdb().setTimer(1_000, 'x' as never))).toBe('BAD_CONFIG: timer: give a function or {module, export}');
    expect(bad(() => new Rdb().setTimer(5, () => 1))).toBe('BAD_CONFIG: timer: everyMs=5 is not an integer in [10, 86400000]');
    expect(bad(() => compileFunction('vwap(sym) { return 1 }', {}, 'API vwap'))).toMatch(/^BAD_CONFIG: API vwap: its source does not compile as a function expression/);
    expect(bad(() => compileFunction('42', {}, 'API n'))).toBe('BAD_CONFIG: API n: its source is not a function');
    expect(bad(() => new System({ dataDir: dir, processes: [new Rdb(), new Rdb()] }))).toBe('BAD_CONFIG: process name rdb1 appears twice in the system');
    // The libraries are in scope of a shipped function under their alias.
    expect(compileFunction('(p) => path.basename(p)', { path: { basename: (p: string) => p.split('/').pop() } }, 'API b')('/a/b.txt')).toBe('b.txt');
  });
});
