// Proves the process table is read by header with csv-parse: optional columns default (old files
// without restartpolicy or startwithall still load), quoted notes with commas, comments, and every
// bad line a typed BAD_CONFIG naming the line and the rule.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readProcessTable } from '../../ops/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'tickbus-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (body: string) => {
  const p = join(dir, `p${n++}.csv`);
  writeFileSync(p, body);
  return p;
};

describe('process table', () => {
  it('config: the shipped ops/process.csv loads with a policy per process', () => {
    const rows = readProcessTable(resolve(import.meta.dirname, '..', '..', 'ops', 'process.csv'));
    expect(rows.map((r) => r.procname)).toEqual(expect.arrayContaining(['tp1', 'rdb1', 'hdb1', 'gw1', 'monitor1', 'feed1']));
    expect(rows.every((r) => r.restartpolicy === 'always' && r.startwithall)).toBe(true);
  });

  it('config: optional columns default; comments, blank lines and quoted commas are read as CSV', () => {
    const rows = readProcessTable(file('# a comment\nprocname,proctype,notes\n\nrdb1,rdb,"today, in memory"\n'));
    // A TorQ file: its other columns are ignored.
    expect(readProcessTable(file('host,port,proctype,procname,U,localtime,g,T,w,load,startwithall,extras,qcmd\nlocalhost,{KDBBASEPORT}+1,rdb,rdb1,appuser,1,1,180,,${KDBCODE}/processes/rdb.q,1,,q\n'))).toEqual([
      { proctype: 'rdb', procname: 'rdb1', startwithall: true, restartpolicy: 'always' },
    ]);
    expect(rows).toEqual([{ proctype: 'rdb', procname: 'rdb1', startwithall: true, restartpolicy: 'always' }]);
    const old = readProcessTable(file('proctype,procname,startwithall\ntickerplant,tp1,1\nrdb,rdb2,0\n'));
    expect(old.map((r) => [r.procname, r.startwithall, r.restartpolicy])).toEqual([
      ['tp1', true, 'always'],
      ['rdb2', false, 'always'],
    ]);
    expect(readProcessTable(file('proctype,procname,restartpolicy\nfeed,f1,on-failure\nfeed,f2,never\n')).map((r) => r.restartpolicy)).toEqual(['on-failure', 'never']);
  });

  it('config: bad lines are BAD_CONFIG naming the line and the rule', () => {
    const bad = (body: string) => {
      try {
        readProcessTable(file(body));
      } catch (e) {
        return e as { code: string; message: string; detail: Record<string, unknown> };
      }
      throw new Error('no error');
    };
    const policy = bad('proctype,procname,restartpolicy\nrdb,rdb1,always\nrdb,rdb2,sometimes\n');
    expect(policy).toMatchObject({ code: 'BAD_CONFIG', detail: { line: 3 } });
    expect(policy.message).toMatch(/line 3: restartpolicy "sometimes" is not one of always \| on-failure \| never/);
    expect(bad('proctype,procname\nrdb,rdb1,extra\n')).toMatchObject({ code: 'BAD_CONFIG', detail: { line: 2 } });
    expect(bad('proctype,procname\nrdb,9x\n').message).toMatch(/line 2: procname name "9x" is invalid/);
    expect(bad('proctype,procname,startwithall\nrdb,r1,yes\n').message).toMatch(/line 2: startwithall "yes"/);
    expect(bad('proctype,procname\nrdb,r1\nhdb,r1\n').message).toMatch(/line 3: procname r1 appears twice/);
    expect(bad('procname\nr1\n').message).toMatch(/no proctype column/);
    expect(bad('proctype,procname,colour\nrdb,r1,red\n').message).toMatch(/unknown column "colour"/);
  });
});
