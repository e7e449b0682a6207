// `actors compress`: one compression run here and now (TorQ's compression process with
// exitonfinish), without the process. Settings cascade as for `actors start compression`
// (defaults.compression, processes.<name>, --set). --dry-run plans and measures, changing nothing.
// After a real run the HDBs are told to reload, through NATS_URL when a server answers.
import { existsSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { securityOptions } from '../../bus/connection.ts';
import { silentLogger } from '../../bus/log.ts';
import { dateToDays } from '../../storage/batch.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import { loadCompression } from '../../actors/compression/effects.ts';
import { runCompression, type CompressionReport } from '../../actors/compression/run.ts';
import { announceReload } from '../../actors/rdb/write_down.ts';
import { parseOverrides, readConfig, settingsFor } from '../config.ts';
import { configPath, natsServers, usageError, type Args, type Command } from './args.ts';
import { human } from './housekeeping.ts';
import { cliDataDir, flagPath, settingPath } from './paths.ts';
import { printTable } from './table.ts';

export const compressCommand: Command = {
  usage: `  actors compress [--hdb dir] [--config ops/compression.csv] [--dry-run] [--json] [--name compression1]
                  [--today YYYY-MM-DD] [--data ./data] [--set key=value ...]
      rewrite the HDB partitions due per the compression table (TorQ's compressionconfig.csv;
      --config names it, or a .json system config), verified, swapped in atomically, HDBs told to
      reload; --dry-run changes nothing: a table of partitions with current codec and size vs
      planned codec and size (estimated on a sample); --today sets the date ages count from
`,
  flags: ['hdb', 'config', 'dry-run', 'json', 'name', 'today', 'data', 'set'],
  run: (a) => compress(a),
};

async function connectQuietly(): Promise<NatsConnection | string> {
  try {
    return await connect({ servers: natsServers(), name: 'actors-compress', ...securityOptions(), timeout: 2_000 });
  } catch (e) {
    return (e as Error).message;
  }
}

export function printCompressionReport(r: CompressionReport, out: NodeJS.WritableStream = process.stdout): void {
  printTable(
    ['date', 'table', 'age', 'rows', 'current', 'size', 'planned', r.dryRun ? 'estimated' : 'size after', 'action', 'reason'],
    r.rows.map((x) => [
      x.date,
      x.table,
      String(x.age),
      String(x.rows),
      x.current,
      human(x.currentBytes),
      x.planned,
      x.plannedBytes === undefined ? '' : human(x.plannedBytes),
      x.action,
      [x.reason, ...x.notes].filter(Boolean).join('; '),
    ]),
    out,
  );
  const verb = r.dryRun ? 'would compress' : 'compressed';
  const n = r.dryRun ? r.rows.filter((x) => x.action === 'compress').length : r.compressed;
  out.write(
    `${r.dryRun ? 'dry run, nothing changed: ' : ''}${verb} ${n} partition(s), ${human(r.bytesBefore)} -> ${human(r.bytesAfter)}` +
      `${r.failed ? `; ${r.failed} FAILED (originals kept)` : ''}${r.truncated ? `; ${r.truncated.left} left for the next run (partitionsPerRunMax ${r.truncated.limit})` : ''}; today ${r.today}\n`,
  );
}

async function compress(a: Args): Promise<number> {
  // Flags resolve against the working directory, settings inside the data directory (ops/cli/paths.ts).
  const dataDir = cliDataDir(a);
  process.env.TICKBUS_DATA = dataDir;
  const name = a.flags.get('name') ?? 'compression1';
  const given = a.flags.get('config');
  const table = given?.toLowerCase().endsWith('.csv') ? given : undefined;
  const cfg = readConfig(table ? configPath({ ...a, flags: new Map([...a.flags].filter(([k]) => k !== 'config')) }) : configPath(a));
  const raw: Record<string, unknown> = { ...settingsFor(cfg, 'compression', name, parseOverrides(a.sets)) };
  if (table) raw.csv = flagPath(a, 'config');
  const { settings, rules } = loadCompression({ ...raw, hdbDir: flagPath(a, 'hdb') ?? settingPath(String(raw.hdbDir ?? 'hdb'), dataDir), name });
  if (a.flags.has('hdb') && !existsSync(settings.hdbDir)) throw usageError(`--hdb ${settings.hdbDir}: no such directory`, { flag: 'hdb' });
  const today = a.flags.get('today') ?? zoneDate(Date.now(), settings.zone);
  if (dateToDays(today) === undefined) throw usageError(`--today must be YYYY-MM-DD, not ${JSON.stringify(today)}`, { flag: 'today' });
  const dryRun = a.flags.has('dry-run');
  const nc = dryRun ? undefined : await connectQuietly();
  let announced = 0;
  try {
    const report = await runCompression({
      ...settings,
      rules,
      today,
      dryRun,
      logger: silentLogger,
      announce:
        nc && typeof nc !== 'string'
          ? (date, t, n) => {
              announceReload(nc, { date, tables: [t], rows: { [t]: n } });
              announced++;
            }
          : undefined,
    });
    if (a.flags.has('json')) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else {
      process.stdout.write(`compression table ${settings.csv}; hdb ${settings.hdbDir}\n`);
      printCompressionReport(report);
    }
    if (typeof nc === 'string' && report.compressed > 0) process.stderr.write(`actors: HDBs not told to reload (no NATS server at ${natsServers().join(',')}: ${nc}); they pick the files up on their next reload\n`);
    else if (announced) process.stderr.write(`told the HDBs to reload ${announced} partition(s)\n`);
    return report.failed > 0 ? 2 : 0;
  } finally {
    if (nc && typeof nc !== 'string') await nc.drain();
  }
}
