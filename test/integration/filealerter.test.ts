// Proves the file alerter end to end with real OS processes (nats-server, tickerplant, RDB and the
// file alerter started as `actors start`), files dropped into a temp dir: CSV files arrive in the
// RDB with exact counts and are moved to the done dir; the same file dropped again, and a copy
// under another name, load nothing more; a file with a bad value is moved to the error dir with an
// error naming its line and column and loads nothing; a newonly rule leaves files that were there
// at start alone; the file alerter SIGKILLed in the middle of a big file and restarted loads it
// exactly once (every row once in the log and in the RDB). Waits are bounded polls; nothing
// asserts on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import type { NatsServer } from '../../bus/nats_server.ts';
import type { DoneEntry } from '../../actors/filealerter/processed.ts';
import { column, connectTo, dupes, readLog, startServer, testTables, until } from '../support/bus.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';

let server: NatsServer;
let nc: NatsConnection;
let tmp: string;
let incoming: string;
let done: string;
let quotes: string;
let cfg: string;
const procs: Proc[] = [];

function start(proctype: string, name: string): Proc {
  const p = spawnProc(proctype, name, cfg, server.url, { TICKBUS_DATA: tmp });
  procs.push(p);
  return p;
}

beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
  tmp = mkdtempSync(join(tmpdir(), 'tickbus-fa-'));
  incoming = join(tmp, 'incoming');
  done = join(tmp, 'done');
  quotes = join(tmp, 'quotes');
  mkdirSync(incoming, { recursive: true });
  mkdirSync(quotes, { recursive: true });
  writeFileSync(
    join(tmp, 'filealerter.csv'),
    `path,match,function,newonly,movetodirectory\nincoming,trade*.csv,loadcsv,0,done\n${quotes},q*.csv,loadcsv:quote,1,\nnotes,*.txt,shout,0,notes/done\n`,
  );
  // A user hook: copies a note upper-cased next to the hooks module; a note holding "fail" throws.
  writeFileSync(
    join(tmp, 'hooks.mjs'),
    `import { readFileSync, writeFileSync } from 'node:fs';\nexport function shout(f) { const t = readFileSync(f.path, 'utf8'); if (t.includes('fail')) throw new Error('cannot shout ' + f.name); writeFileSync(${JSON.stringify(join(tmp, 'shouted-'))} + f.name, t.toUpperCase()); }\n`,
  );
  cfg = join(tmp, 'config.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      tables: testTables,
      defaults: {
        tickerplant: { mode: 'immediate' },
        rdb: { tp: 'tpf' },
        filealerter: { tp: 'tpf', csv: join(tmp, 'filealerter.csv'), hooksModule: join(tmp, 'hooks.mjs'), pollMs: 100, chunkRowsMax: 1_000, loadRowsPerSecMax: 40_000 },
      },
    }),
  );
  // A quote file present before the file alerter starts: its rule is newonly, so it stays unloaded.
  writeFileSync(join(quotes, 'q_pre.csv'), 'sym,bid,ask,fid\nAAPL,1,2,1\n');
  start('tickerplant', 'tpf');
  await waitUp(nc, 'tpf');
  start('rdb', 'rdbf');
  await waitUp(nc, 'rdbf');
  start('filealerter', 'fa1');
  await waitUp(nc, 'fa1');
}, 90_000);

afterAll(async () => {
  for (const p of procs.reverse()) await stopProc(p);
  await nc?.close();
  await server?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

let nextFid = 1;
/** A trade CSV of n rows with unique fids; with or without a time column. */
function tradeCsv(n: number, withTime = false): string {
  const lines = [withTime ? 'time,sym,price,size,fid' : 'sym,price,size,fid'];
  const day = new Date().toISOString().slice(0, 10);
  for (let i = 0; i < n; i++) {
    const fid = nextFid++;
    const row = `${['AAPL', 'MSFT', 'IBM'][i % 3]},${(100 + (i % 50) / 4).toFixed(2)},${100 + (i % 7)},${fid}`;
    lines.push(withTime ? `${day}T00:00:00.${String(i % 1e9).padStart(9, '0')}Z,${row}` : row);
  }
  return lines.join('\n') + '\n';
}

/** Writes a file in two steps (temp name outside the pattern, then rename), as a careful producer would. */
function drop(dir: string, name: string, text: string): void {
  writeFileSync(join(dir, `.${name}.part`), text);
  renameSync(join(dir, `.${name}.part`), join(dir, name));
}

async function call<T>(api: string, args: unknown[] = []): Promise<T> {
  const m = await nc.request('q.filealerter.fa1', encode({ type: 'tickbus.v1.call', api, args }), { timeout: 10_000 });
  return decode<T>(m.data);
}

async function rdbCount(table: string): Promise<number> {
  const m = await nc.request('q.rdb.rdbf', encode({ type: 'tickbus.v1.query', table, count: true }), { timeout: 5_000 });
  return decode<{ n: number }>(m.data).n;
}

async function entriesFor(name: string): Promise<DoneEntry[]> {
  return (await call<DoneEntry[]>('processed')).filter((e) => e.name === name);
}

describe('filealerter', () => {
  it('filealerter: dropped CSVs load with exact counts; the same file again or a copy loads nothing', async () => {
    drop(incoming, 'trade_a.csv', tradeCsv(300));
    drop(incoming, 'trade_b.csv', tradeCsv(200, true));
    await until(async () => (await entriesFor('trade_a.csv')).length === 1 && (await entriesFor('trade_b.csv')).length === 1, 30_000, 100);
    expect((await entriesFor('trade_a.csv'))[0]).toMatchObject({ result: 'ok', rows: 300, movedTo: join(done, 'trade_a.csv') });
    expect((await entriesFor('trade_b.csv'))[0]).toMatchObject({ result: 'ok', rows: 200 });
    expect(readdirSync(done).sort()).toEqual(['trade_a.csv', 'trade_b.csv']);
    await until(async () => (await rdbCount('trade')) === 500, 20_000, 100);

    // The same content again, under its own name and under another.
    const a = readFileSync(join(done, 'trade_a.csv'), 'utf8');
    drop(incoming, 'trade_a.csv', a);
    drop(incoming, 'trade_copy.csv', a);
    await until(async () => (await entriesFor('trade_copy.csv')).length === 1 && (await entriesFor('trade_a.csv')).length === 2, 30_000, 100);
    expect((await entriesFor('trade_copy.csv'))[0]).toMatchObject({ result: 'duplicate', movedTo: join(done, 'trade_copy.csv') });
    expect((await entriesFor('trade_a.csv'))[1]).toMatchObject({ result: 'duplicate', movedTo: join(done, 'trade_a.csv.1') });
    // A new file after them: once it is in, the RDB holds exactly the new rows more.
    drop(incoming, 'trade_c.csv', tradeCsv(100));
    await until(async () => (await entriesFor('trade_c.csv')).length === 1, 30_000, 100);
    await until(async () => (await rdbCount('trade')) >= 600, 20_000, 100);
    expect(await rdbCount('trade')).toBe(600);
    // newonly: the quote file present at start stays; a new one loads.
    drop(quotes, 'q_new.csv', 'sym,bid,ask,fid\nAAPL,1.5,1.6,7\nMSFT,2.5,2.6,8\n');
    await until(async () => (await entriesFor('q_new.csv')).length === 1, 30_000, 100);
    await until(async () => (await rdbCount('quote')) === 2, 20_000, 100);
    expect(await entriesFor('q_pre.csv')).toEqual([]);
    expect(existsSync(join(quotes, 'q_pre.csv'))).toBe(true);
  }, 120_000);

  it('filealerter: with its processed table lost, a re-run of a loaded file appends nothing (the tickerplant dedupes the chunk ids)', async () => {
    const before = await rdbCount('trade');
    const fa = procs.find((p) => p.name === 'fa1' && p.child.exitCode === null)!;
    await stopProc(fa);
    rmSync(join(tmp, 'filealerter', 'fa1.processed.jsonl'));
    start('filealerter', 'fa1');
    await waitUp(nc, 'fa1');
    drop(incoming, 'trade_again.csv', readFileSync(join(done, 'trade_a.csv'), 'utf8'));
    await until(async () => (await entriesFor('trade_again.csv')).length === 1, 30_000, 100);
    // Loaded as new (the table forgot it), and every chunk was answered as already in the log.
    expect((await entriesFor('trade_again.csv'))[0]).toMatchObject({ result: 'ok', rows: 300, duplicateRows: 300 });
    drop(incoming, 'trade_e.csv', tradeCsv(10));
    await until(async () => (await entriesFor('trade_e.csv')).length === 1, 30_000, 100);
    await until(async () => (await rdbCount('trade')) >= before + 10, 20_000, 100);
    expect(await rdbCount('trade')).toBe(before + 10);
  }, 60_000);

  it('filealerter: a file with a bad value goes to the error dir, loads nothing, and the error names the line and column', async () => {
    const before = await rdbCount('trade');
    const lines = tradeCsv(5).trimEnd().split('\n');
    lines[3] = 'AAPL,high,100,999999'; // line 4 of the file
    drop(incoming, 'trade_bad.csv', lines.join('\n') + '\n');
    await until(async () => (await entriesFor('trade_bad.csv')).length === 1, 30_000, 100);
    const [e] = await entriesFor('trade_bad.csv');
    expect(e).toMatchObject({ result: 'error', movedTo: join(incoming, 'error', 'trade_bad.csv'), error: { code: 'BAD_COLUMN_TYPE', detail: { file: 'trade_bad.csv', line: 4, column: 'price' } } });
    expect(e!.error!.message).toMatch(/trade_bad\.csv line 4: column price must be float, got "high"/);
    expect(existsSync(join(incoming, 'trade_bad.csv'))).toBe(false);
    drop(incoming, 'trade_d.csv', tradeCsv(50));
    await until(async () => (await entriesFor('trade_d.csv')).length === 1, 30_000, 100);
    await until(async () => (await rdbCount('trade')) >= before + 50, 20_000, 100);
    expect(await rdbCount('trade')).toBe(before + 50);
  }, 120_000);

  it('filealerter: a user hook runs on matching files; one that throws sends its file to the error dir', async () => {
    const notes = join(tmp, 'notes');
    drop(notes, 'hello.txt', 'hello\n');
    drop(notes, 'bad.txt', 'fail\n');
    await until(async () => (await entriesFor('hello.txt')).length === 1 && (await entriesFor('bad.txt')).length === 1, 30_000, 100);
    expect(readFileSync(join(tmp, 'shouted-hello.txt'), 'utf8')).toBe('HELLO\n');
    expect((await entriesFor('hello.txt'))[0]).toMatchObject({ result: 'ok', movedTo: join(notes, 'done', 'hello.txt') });
    expect((await entriesFor('bad.txt'))[0]).toMatchObject({ result: 'error', movedTo: join(notes, 'error', 'bad.txt'), error: { code: 'API_FAILED', message: expect.stringMatching(/cannot shout bad\.txt/) } });
  }, 60_000);

  it('filealerter: with the tickerplant down a file waits where it is, and loads once the tickerplant is back', async () => {
    const before = await rdbCount('trade');
    await stopProc(procs.find((p) => p.name === 'tpf' && p.child.exitCode === null)!);
    drop(incoming, 'trade_wait.csv', tradeCsv(120));
    // The Publisher's bounded retries run out (NO_RESPONDERS), and the file stays for the next poll.
    await until(async () => ((await status<{ retries: number }>(nc, 'fa1'))?.retries ?? 0) >= 1, 60_000, 100);
    expect(existsSync(join(incoming, 'trade_wait.csv'))).toBe(true);
    expect(await entriesFor('trade_wait.csv')).toEqual([]);
    start('tickerplant', 'tpf');
    await waitUp(nc, 'tpf');
    await until(async () => (await entriesFor('trade_wait.csv')).length === 1, 60_000, 100);
    expect((await entriesFor('trade_wait.csv'))[0]).toMatchObject({ result: 'ok', rows: 120 });
    await until(async () => (await rdbCount('trade')) >= before + 120, 30_000, 100);
    expect(await rdbCount('trade')).toBe(before + 120);
  }, 120_000);

  it('filealerter: SIGKILLed in the middle of a big file and restarted, the file is loaded exactly once', async () => {
    const before = await rdbCount('trade');
    const n = 200_000;
    const firstFid = nextFid;
    drop(incoming, 'trade_big.csv', tradeCsv(n));
    // Killed once some chunks are acknowledged and before the last (the load is paced at 40k rows/s).
    let loaded = 0;
    await until(async () => {
      loaded = ((await status<{ loading?: { rows: number } }>(nc, 'fa1', 500))?.loading?.rows ?? 0);
      return loaded >= 20_000;
    }, 60_000, 20);
    const fa = procs.find((p) => p.name === 'fa1' && p.child.exitCode === null)!;
    fa.child.kill('SIGKILL');
    await fa.exited;
    expect(loaded).toBeLessThan(n);
    expect(existsSync(join(incoming, 'trade_big.csv'))).toBe(true);
    start('filealerter', 'fa1');
    await waitUp(nc, 'fa1');
    await until(async () => (await entriesFor('trade_big.csv')).length === 1, 90_000, 200);
    const [big] = await entriesFor('trade_big.csv');
    expect(big).toMatchObject({ result: 'ok', rows: n, movedTo: join(done, 'trade_big.csv') });
    // It resumed after what the killed process had recorded, not from the start.
    expect(big!.resumedAt).toBeGreaterThan(0);
    expect(big!.resumedAt).toBeLessThan(n);
    await until(async () => (await rdbCount('trade')) >= before + n, 30_000, 100);
    expect(await rdbCount('trade')).toBe(before + n);
    // The log holds each of the file's fids exactly once.
    const fids = column((await readLog(nc, 'tpf')).batches, 'fid', 'trade').filter((f) => f >= BigInt(firstFid) && f < BigInt(firstFid + n));
    expect(fids.length).toBe(n);
    expect(dupes(fids)).toEqual([]);
  }, 180_000);
});
