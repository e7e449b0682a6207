// Proves the HDB's read-only SQL endpoint refuses, as seen from outside, everything that is not
// one query over the HDB: a real HDB process (`actors start hdb`) over a real Parquet partition on
// a real nats-server, asked by a client written without the project's libraries
// (test/support/raw_nats.ts) with JSON `tickbus.v1.sql` requests on q.hdb.<name>. Each case is
// answered with the typed error envelope, code BAD_QUERY, naming `sql`; afterwards the HDB still
// answers, nothing was written outside (or inside) the HDB, and the secret file was not read.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServer } from '../../bus/nats_server.ts';
import { writePartition } from '../../storage/hdb/writer.ts';
import { MemTable, SymbolTable } from '../../storage/table.ts';
import { startServer } from '../support/bus.ts';
import { spawnProc, stopProc, type Proc } from '../support/procs.ts';
import { RawNats } from '../support/raw_nats.ts';
import { fillDay, tradeSchema, tradeTables } from '../support/trades.ts';

let dir: string;
let hdbDir: string;
let secret: string;
let server: NatsServer;
let hdb: Proc;
let raw: RawNats;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickbus-hdb-sql-'));
  hdbDir = join(dir, 'hdb');
  const t = new MemTable(tradeSchema, new SymbolTable());
  fillDay(t, '2026-11-20', 500, 1);
  await writePartition(hdbDir, '2026-11-20', 'trade', t);
  // A file beside the HDB that no query may read.
  secret = join(dir, 'secret.csv');
  writeFileSync(secret, 'a,b\nsecret,1\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ tables: tradeTables, defaults: {}, processes: { hdb1: { hdbDir } } }));
  server = await startServer();
  hdb = spawnProc('hdb', 'hdb1', join(dir, 'config.json'), server.url);
  raw = await RawNats.connect(server.port);
  const deadline = Date.now() + 60_000;
  while (!(await raw.request('ctl.hdb1.status', {}, 1_000).then((r) => r.body !== '', () => false))) {
    if (Date.now() > deadline || hdb.child.exitCode !== null) throw new Error(`hdb1 did not start: ${hdb.output.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 90_000);

afterAll(async () => {
  raw?.close();
  if (hdb) await stopProc(hdb);
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

const sql = async (text: string) => JSON.parse((await raw.request('q.hdb.hdb1', { type: 'tickbus.v1.sql', sql: text }, 30_000)).body) as Record<string, unknown>;

describe('hdb: read-only SQL from outside', () => {
  it('hdb: one query over the HDB is answered (the endpoint works)', async () => {
    const r = await sql('SELECT count(*) AS n FROM trade');
    expect(r).toMatchObject({ type: 'tickbus.v1.result', n: 1 });
  });

  const refused: [string, () => string][] = [
    ['multiple statements', () => 'SELECT 1; SELECT 2'],
    ['a query then a COPY', () => `SELECT 1; COPY (SELECT 1) TO '${join(dir, 'out1.csv')}'`],
    ['COPY ... TO a file outside the HDB', () => `COPY (SELECT * FROM trade) TO '${join(dir, 'out2.csv')}'`],
    ['COPY ... TO a file inside the HDB', () => `COPY (SELECT * FROM trade) TO '${join(hdbDir, 'out3.parquet')}'`],
    ['COPY ... FROM a file (into a view: refused before any file is read)', () => `COPY trade FROM '${secret}'`],
    ['ATTACH', () => `ATTACH '${join(dir, 'x.duckdb')}' AS x`],
    ['INSTALL', () => 'INSTALL httpfs'],
    ['LOAD', () => 'LOAD httpfs'],
    ['SET', () => 'SET enable_external_access = true'],
    ['SET of the allowed directories', () => "SET allowed_directories = ['/']"],
    ['RESET', () => 'RESET lock_configuration'],
    ['PRAGMA', () => 'PRAGMA threads = 1'],
    ['read_csv of /etc/passwd', () => "SELECT * FROM read_csv('/etc/passwd')"],
    ['read_parquet of a file outside the HDB', () => `SELECT * FROM read_parquet('${secret}')`],
    ['read_text of a file outside the HDB', () => `SELECT * FROM read_text('${secret}')`],
    ['a file path as a table', () => `SELECT * FROM '${secret}'`],
    ['a path that climbs out of the HDB', () => `SELECT * FROM read_csv('${hdbDir}/../secret.csv')`],
    ['glob outside the HDB', () => "SELECT * FROM glob('/etc/*')"],
    ['CREATE', () => 'CREATE TABLE t AS SELECT 1'],
    ['DROP', () => 'DROP VIEW trade'],
    ['DETACH', () => 'DETACH memory'],
    ['EXPORT DATABASE', () => `EXPORT DATABASE '${join(dir, 'export')}'`],
  ];
  for (const [name, text] of refused) {
    it(`hdb: SQL refuses ${name} with a typed BAD_QUERY naming sql`, async () => {
      const r = await sql(text());
      expect(r, JSON.stringify(r)).toMatchObject({ type: 'tickbus.v1.error', code: 'BAD_QUERY', detail: { param: 'sql' } });
      expect(String(r.message)).not.toContain('secret,1');
    });
  }

  it('hdb: after every refusal the HDB still answers and nothing was written', async () => {
    const r = await sql('SELECT count(*) AS n FROM trade');
    expect(r).toMatchObject({ type: 'tickbus.v1.result', n: 1 });
    for (const f of ['out1.csv', 'out2.csv', 'x.duckdb', 'export']) expect(existsSync(join(dir, f))).toBe(false);
    expect(readdirSync(hdbDir).sort()).toEqual(['date=2026-11-20']);
  });
});
