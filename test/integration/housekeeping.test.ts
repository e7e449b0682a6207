// Proves housekeeping on a real temp tree (real files, real tar, no mocks): rm, zip and tardir
// act only on entries older than their age (mtimes set with fs.utimes from the injected clock),
// a user hook from a hooks module runs by name, a dry run lists exactly what a real run then does
// and changes nothing, a symlink to a file outside the root is never followed, a configured
// directory that is a symlink out of the roots is refused at run time, `..` paths are refused at
// load, and the files-per-run bound stops a run with a report. The named API `run` answers over
// a real nats-server through the process runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { startHousekeeping } from '../../actors/housekeeping/effects.ts';
import { wallToInstant, zoneDate } from '../../actors/common/clock.ts';
import type { HousekeepingReport } from '../../actors/housekeeping/run.ts';
import { clockAt, connectTo, silentLogger, startServer, until } from '../support/bus.ts';

const DAY = 86_400_000;
let tmp: string;
let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tickbus-hk-'));
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh root with a data tree; mtimes are `ageMs` before the clock's now. */
function tree(name: string, nowMs: number) {
  const root = join(tmp, name);
  mkdirSync(join(root, 'logs'), { recursive: true });
  mkdirSync(join(root, 'reports', '2026-old', 'sub'), { recursive: true });
  mkdirSync(join(root, 'reports', '2026-new'), { recursive: true });
  const file = (rel: string, text: string, ageMs: number) => {
    writeFileSync(join(root, rel), text);
    const t = new Date(nowMs - ageMs);
    utimesSync(join(root, rel), t, t);
  };
  file('logs/tp1.log', 'old log line\n'.repeat(1000), 3 * DAY);
  file('logs/rdb1.log', 'fresh\n', 1 * 3_600_000);
  file('logs/tick_1.log', 'excluded\n', 10 * DAY);
  file('logs/old.log.gz', 'pretend gzip', 40 * DAY);
  file('logs/new.log.gz', 'pretend gzip', 2 * DAY);
  file('logs/scratch.tmp', 'x', 20 * 60_000);
  file('reports/2026-old/a.txt', 'report a', 9 * DAY);
  file('reports/2026-old/sub/b.txt', 'report b', 9 * DAY);
  const old = new Date(nowMs - 9 * DAY);
  utimesSync(join(root, 'reports', '2026-old'), old, old);
  // Every mtime comes from the clock, never from the file system's own (a faked clock differs).
  utimesSync(join(root, 'reports', '2026-new'), new Date(nowMs), new Date(nowMs));
  // A secret outside the root, and a link to it inside that matches the patterns.
  writeFileSync(join(tmp, `${name}-secret.log`), 'outside');
  utimesSync(join(tmp, `${name}-secret.log`), old, old);
  symlinkSync(join(tmp, `${name}-secret.log`), join(root, 'logs', 'link.log'));
  const hooks = join(root, 'hooks.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport function stamp(e) { appendFileSync(${JSON.stringify(join(root, 'hook-calls.txt'))}, e.path + '\\n'); return { result: 'stamped' }; }\n`);
  const csv = join(root, 'housekeeping.csv');
  writeFileSync(
    csv,
    [
      'function,path,match,exclude,age,agemin,checkfordirectory',
      `zip,${root}/logs,*.log,*tick*,2,,`,
      `rm,logs,*.log.gz,,30,,`,
      `rm,${root}/logs,*.tmp,,10,1,`,
      `tardir,${root}/reports,2026-*,,7,,1`,
      `stamp,${root}/logs,tick_*,,5,,`,
      `rm,${root}/nothing-here,*,,1,,`,
    ].join('\n') + '\n',
  );
  return { root, csv, hooks };
}

function results(r: HousekeepingReport): string[] {
  return r.rows.map((x) => `${x.line} ${x.path.split('/').slice(-2).join('/')} ${x.result}`).sort();
}

describe('housekeeping', () => {
  it('housekeeping: rm, zip, tardir and a hook by age; a dry run lists the same and changes nothing', async () => {
    const clock = clockAt(Date.now());
    const { root, csv, hooks } = tree('t1', clock.now());
    process.env.TICKBUS_DATA = root; // relative task paths (`logs`) resolve inside the data dir
    const hk = await startHousekeeping({ name: 'hk1', csv, roots: [root], hooksModule: hooks, runtimes: ['12:00'] }, silentLogger, undefined, clock);
    const listing = () => execFileSync('find', [root], { encoding: 'utf8' }).split('\n').sort().join('\n');
    const before = listing();
    const dry = await hk.run({ dryRun: true });
    expect(listing()).toBe(before);
    expect(dry.dryRun).toBe(true);
    expect(results(dry)).toEqual([
      '2 logs/link.log skipped: symlink (never followed)',
      '2 logs/tp1.log would zip',
      '3 logs/old.log.gz would rm',
      '4 logs/scratch.tmp would rm',
      '5 reports/2026-old would tardir',
      '6 logs/tick_1.log would stamp',
      '7 t1/nothing-here missing',
    ]);
    const bytes = Object.fromEntries(dry.rows.map((x) => [x.path.split('/').pop(), x.bytes]));
    expect(bytes['tp1.log']).toBe('old log line\n'.length * 1000);
    expect(bytes['2026-old']).toBe('report a'.length + 'report b'.length);

    const real = await hk.run();
    expect(results(real)).toEqual([
      '2 logs/link.log skipped: symlink (never followed)',
      '2 logs/tp1.log zipped',
      '3 logs/old.log.gz removed',
      '4 logs/scratch.tmp removed',
      '5 reports/2026-old archived',
      '6 logs/tick_1.log stamped',
      '7 t1/nothing-here missing',
    ]);
    expect(real.errors).toBe(0);
    // zip: the original is gone, the .gz holds its bytes and keeps its mtime.
    expect(existsSync(join(root, 'logs', 'tp1.log'))).toBe(false);
    expect(gunzipSync(readFileSync(join(root, 'logs', 'tp1.log.gz'))).toString()).toBe('old log line\n'.repeat(1000));
    // Younger than their age, or excluded: untouched.
    for (const f of ['rdb1.log', 'tick_1.log', 'new.log.gz']) expect(existsSync(join(root, 'logs', f))).toBe(true);
    // tardir: the directory is an archive with both files (the real tar lists it).
    expect(existsSync(join(root, 'reports', '2026-old'))).toBe(false);
    expect(existsSync(join(root, 'reports', '2026-new'))).toBe(true);
    const listed = execFileSync('tar', ['-tzf', join(root, 'reports', '2026-old.tar.gz')], { encoding: 'utf8' });
    expect(listed).toContain('2026-old/a.txt');
    expect(listed).toContain('2026-old/sub/b.txt');
    // The hook ran once, on the one matching file; the link and what it points at are untouched.
    expect(readFileSync(join(root, 'hook-calls.txt'), 'utf8')).toBe(join(root, 'logs', 'tick_1.log') + '\n');
    expect(readFileSync(join(root, 'logs', 'link.log'), 'utf8')).toBe('outside');
    expect(readFileSync(join(tmp, 't1-secret.log'), 'utf8')).toBe('outside');
    // A second run finds nothing more to do (the fresh .gz is younger than 30 days) but the hook,
    // which leaves its file where it is.
    expect(results(await hk.run())).toEqual(['2 logs/link.log skipped: symlink (never followed)', '6 logs/tick_1.log stamped', '7 t1/nothing-here missing']);
    expect(hk.status()).toMatchObject({ tasks: 6, runs: 2 });
    await hk.stop();
    delete process.env.TICKBUS_DATA;
  });

  it('housekeeping: a configured directory that leads out of the roots by a symlink is refused at run time; .. is refused at load', async () => {
    const clock = clockAt(Date.now());
    const root = join(tmp, 't2');
    const outside = join(tmp, 't2-outside');
    mkdirSync(root, { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'keep.log'), 'precious');
    const t = new Date(clock.now() - 10 * DAY);
    utimesSync(join(outside, 'keep.log'), t, t);
    symlinkSync(outside, join(root, 'logs'));
    const csv = join(root, 'hk.csv');
    writeFileSync(csv, `function,path,match,exclude,age\nrm,${root}/logs,*.log,,1\n`);
    const hk = await startHousekeeping({ name: 'hk2', csv, roots: [root] }, silentLogger, undefined, clock);
    const r = await hk.run();
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]!.result).toMatch(/^refused: .*t2-outside \(its real path\) is outside the roots/);
    expect(r.errors).toBe(1);
    expect(readFileSync(join(outside, 'keep.log'), 'utf8')).toBe('precious');
    await hk.stop();
    writeFileSync(csv, `function,path,match,exclude,age\nrm,${root}/../t2-outside,*.log,,1\n`);
    await expect(startHousekeeping({ name: 'hk2', csv, roots: [root] }, silentLogger, undefined, clock)).rejects.toMatchObject({
      code: 'BAD_CONFIG',
      message: expect.stringMatching(/hk\.csv line 2: path .* holds a \.\. segment/),
    });
    writeFileSync(csv, `function,path,match,exclude,age\nrm,${outside},*.log,,1\n`);
    await expect(startHousekeeping({ name: 'hk2', csv, roots: [root] }, silentLogger, undefined, clock)).rejects.toMatchObject({
      code: 'BAD_CONFIG',
      detail: { line: 2, column: 'path' },
    });
  });

  it('housekeeping: a run stops at filesPerRunMax, oldest first, and says so; the API answers over the bus', async () => {
    const clock = clockAt(Date.now());
    const root = join(tmp, 't3');
    mkdirSync(root, { recursive: true });
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(root, `f${i}.tmp`), 'x');
      const t = new Date(clock.now() - (10 + i) * DAY);
      utimesSync(join(root, `f${i}.tmp`), t, t);
    }
    const csv = join(root, 'hk.csv');
    writeFileSync(csv, `function,path,match,exclude,age\nrm,${root},*.tmp,,1\n`);
    const rt = new ProcessRuntime({
      proctype: 'housekeeping',
      name: 'hk3',
      servers: server.url,
      logger: silentLogger,
      clock,
      start: async (_nc, ctx) => await startHousekeeping({ name: 'hk3', csv, roots: [root], filesPerRunMax: 3 }, silentLogger, ctx.apis, clock),
    });
    await rt.start();
    const call = async (api: string, args: unknown[]) => decode<any>((await nc.request('q.housekeeping.hk3', encode({ type: 'tickbus.v1.call', api, args }), { timeout: 10_000 })).data);
    const dry = (await call('run', [{ dryRun: true }])) as HousekeepingReport;
    expect(dry.rows.map((x) => x.path.split('/').pop())).toEqual(['f4.tmp', 'f3.tmp', 'f2.tmp']);
    expect(dry.truncated).toEqual({ bound: 'filesPerRunMax', limit: 3, line: 2 });
    const real = (await call('run', [{}])) as HousekeepingReport;
    expect(real.rows.map((x) => x.result)).toEqual(['removed', 'removed', 'removed']);
    expect(['f0.tmp', 'f1.tmp'].every((f) => existsSync(join(root, f)))).toBe(true);
    expect(['f2.tmp', 'f3.tmp', 'f4.tmp'].some((f) => existsSync(join(root, f)))).toBe(false);
    expect((await call('lastReport', [])).actions).toBe(3);
    await rt.stop();
  });

  it('cli: actors housekeeping --dry-run prints what would go and changes nothing; --run does it', () => {
    const root = join(tmp, 't4');
    mkdirSync(join(root, 'logs'), { recursive: true });
    const now = Date.now();
    for (const [f, ageMs] of [['old.log', 3 * DAY], ['new.log', 3_600_000]] as const) {
      writeFileSync(join(root, 'logs', f), 'x'.repeat(2048));
      utimesSync(join(root, 'logs', f), new Date(now - ageMs), new Date(now - ageMs));
    }
    const csv = join(root, 'hk.csv');
    writeFileSync(csv, 'function,path,match,exclude,age\nrm,logs,*.log,,1\n');
    const cli = (flag: string) =>
      spawnSync(process.execPath, [resolve(import.meta.dirname, '..', '..', 'ops', 'actors.mjs'), 'housekeeping', flag, '--data', root, '--set', `csv=${csv}`], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' } });
    const dry = cli('--dry-run');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/dry run: nothing changed/);
    expect(dry.stdout).toMatch(/2\s+rm\s+\S*logs\/old\.log\s+2\.0 KiB\s+would rm/);
    expect(dry.stdout).not.toMatch(/new\.log/);
    expect(existsSync(join(root, 'logs', 'old.log'))).toBe(true);
    const real = cli('--run');
    expect(real.status).toBe(0);
    expect(real.stdout).toMatch(/old\.log\s+2\.0 KiB\s+removed/);
    expect(existsSync(join(root, 'logs', 'old.log'))).toBe(false);
    expect(existsSync(join(root, 'logs', 'new.log'))).toBe(true);
  }, 60_000);

  it('housekeeping: runs when its injected clock passes a runtime, once, and at start with runnow', async () => {
    const root = join(tmp, 't5');
    mkdirSync(root, { recursive: true });
    const csv = join(root, 'hk.csv');
    writeFileSync(csv, `function,path,match,exclude,age\nrm,${root},*.tmp,,0\n`);
    // 1.5 s before 12:00 on the clock's own day in Asia/Tokyo: the day comes from the clock.
    const zone = 'Asia/Tokyo';
    const probe = Date.now();
    const noon = wallToInstant(zoneDate(probe + 86_400_000, zone), '12:00', zone);
    const clock = clockAt(noon - 1_500);
    writeFileSync(join(root, 'a.tmp'), 'x');
    const old = new Date(clock.now() - 60_000);
    utimesSync(join(root, 'a.tmp'), old, old);
    const hk = await startHousekeeping({ name: 'hk5', csv, roots: [root], runtimes: ['12:00', '18:30'], zone, scheduleCheckMs: 1_000 }, silentLogger, undefined, clock);
    expect(hk.nextRunAt()).toBe(noon);
    await until(() => hk.status().runs === 1, 20_000, 50);
    expect(existsSync(join(root, 'a.tmp'))).toBe(false);
    expect(hk.nextRunAt()).toBe(wallToInstant(zoneDate(noon, zone), '18:30', zone));
    await hk.stop();
    const clock2 = clockAt(Date.now());
    writeFileSync(join(root, 'b.tmp'), 'x');
    const old2 = new Date(clock2.now() - 60_000);
    utimesSync(join(root, 'b.tmp'), old2, old2);
    const hk2 = await startHousekeeping({ name: 'hk5', csv, roots: [root], runnow: true }, silentLogger, undefined, clock2);
    await until(() => hk2.status().runs === 1, 20_000, 50);
    expect(existsSync(join(root, 'b.tmp'))).toBe(false);
    // One run going and one waiting at most: a third asked for at once is OVERLOADED.
    const three = await Promise.allSettled([hk2.run({ dryRun: true }), hk2.run({ dryRun: true }), hk2.run({ dryRun: true })]);
    expect(three.map((r) => (r.status === 'fulfilled' ? r.value.type : (r.reason as { code: string }).code))).toEqual(['tickbus.v1.housekeeping.report', 'tickbus.v1.housekeeping.report', 'OVERLOADED']);
    await hk2.stop();
  }, 60_000);
});
