// `actors housekeeping [--dry-run | --run]`: the housekeeping tasks of a process's settings, here
// and now, without NATS (TorQ's `-hk.runnow 1`, which exits when done). A dry run (the default)
// prints what would go; `--run` does it. Settings cascade as for `actors start`
// (defaults.housekeeping, processes.<name>, --set); `--data` sets the data dir.
import { silentLogger } from '../../bus/log.ts';
import { loadHousekeeping } from '../../actors/housekeeping/effects.ts';
import { runHousekeeping } from '../../actors/housekeeping/run.ts';
import { parseOverrides, readConfig, settingsFor } from '../config.ts';
import { configPath, type Args, type Command } from './args.ts';
import { cliDataDir } from './paths.ts';
import { printTable } from './table.ts';

export const housekeepingCommand: Command = {
  usage: `  actors housekeeping [--dry-run | --run] [--name housekeeping1] [--data ./data] [--json] [--set key=value ...]
      the housekeeping tasks (ops/housekeeping.csv) now: --dry-run (default) lists what would go,
      --run does it; a table of path, function, bytes, result
`,
  flags: ['dry-run', 'run', 'name', 'data', 'json', 'config', 'set'],
  run: (a) => housekeeping(a),
};

export function human(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

async function housekeeping(a: Args): Promise<number> {
  // The data dir as every command takes it (ops/cli/paths.ts): --data, $TICKBUS_DATA, ./data of the checkout.
  process.env.TICKBUS_DATA = cliDataDir(a);
  const name = a.flags.get('name') ?? 'housekeeping1';
  const dryRun = !a.flags.has('run');
  const cfg = readConfig(configPath(a));
  const { settings, tasks, hooks } = await loadHousekeeping({ ...settingsFor(cfg, 'housekeeping', name, parseOverrides(a.sets)), name });
  const report = await runHousekeeping(tasks, { ...settings, dryRun, nowMs: Date.now(), hooks, logger: silentLogger });
  if (a.flags.has('json')) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    process.stdout.write(`${dryRun ? 'dry run: nothing changed' : 'run'}; tasks from ${settings.csv}; roots ${settings.roots.join(', ')}\n`);
    printTable(
      ['line', 'function', 'path', 'bytes', 'result'],
      report.rows.map((r) => [String(r.line), r.function, r.path, human(r.bytes), r.result]),
    );
    const total = report.rows.filter((r) => r.result.startsWith('would') || ['removed', 'zipped', 'archived'].includes(r.result)).reduce((s, r) => s + r.bytes, 0);
    process.stdout.write(`${report.actions} action(s), ${human(total)}${report.errors ? `, ${report.errors} error(s)` : ''}${report.truncated ? `; stopped at ${report.truncated.bound} = ${report.truncated.limit} (line ${report.truncated.line})` : ''}\n`);
  }
  return report.errors > 0 ? 2 : 0;
}
