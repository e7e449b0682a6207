// The WDB's end-of-day merge of one flushed intraday day, alone in its own OS process (so its peak
// RSS, VmHWM, is the merge's and nothing else's): `tsx test/bench/wdb_eod_child.ts <wdbDir>
// <hdbDir> <day> <tablesJson>`. Prints one JSON line: {ms, rows, outcomes, vmHwmKiB}.
import { readFileSync } from 'node:fs';
import { readManifest } from '../../storage/intraday/manifest.ts';
import { mergeDay } from '../../storage/intraday/merge.ts';
import { defineSchema } from '../../storage/schema.ts';
import { defaultWdbSettings } from '../../actors/wdb/settings.ts';

const [wdbDir, hdbDir, day, tablesJson] = process.argv.slice(2);
const m = await readManifest(wdbDir!, day!);
if (!m) throw new Error(`no manifest for ${day} in ${wdbDir}`);
const t0 = performance.now();
const rs = await mergeDay(wdbDir!, hdbDir!, m, defineSchema(JSON.parse(tablesJson!)), {
  memoryLimit: defaultWdbSettings.mergeMemoryLimit,
  threads: defaultWdbSettings.mergeThreads,
  groupRowsMax: defaultWdbSettings.mergeGroupRows,
  verifyCounts: true,
});
const ms = performance.now() - t0;
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
process.stdout.write(`${JSON.stringify({ ms, rows: rs.reduce((a, r) => a + r.rows, 0), outcomes: rs.map((r) => `${r.table}:${r.outcome}${r.error ? ` ${r.error.message}` : ''}`), vmHwmKiB: Number(hwm) })}\n`);
