// `actors replay`: the log (a day, or a sequence range) into HDB partitions.
import { connect } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { createLogger } from '../../bus/log.ts';
import { replay } from '../../actors/replay/replay.ts';
import { readConfig } from '../config.ts';
import { configPath, natsServers, usageError, type Args, type Command } from './args.ts';
import { cliDataDir, flagPath, settingPath } from './paths.ts';
import { progressBar } from './progress.ts';
import { printTable } from './table.ts';

export const replayCommand: Command = {
  usage: `  actors replay [--tp tp1] (--date YYYY-MM-DD | --from-seq N --to-seq M) [--tables a,b]
                [--hdb data/hdb] [--data ./data] [--chunk-rows 20000000] [--config ops/config.json] [--check]
                [--repair-to NAME] [--json]
      replay the log (a day, or a sequence range) into HDB partitions; bad messages are
      skipped and reported; HDB processes are told to reload; a progress bar on stderr when
      it is a terminal; --json prints the summary {fromSeq, toSeq, written, skipped, ms}.
      --check writes nothing: it reads and validates every message and compares the rows per
      day and table with the end-of-day markers; exit status 1 when a message is unreadable
      or a count differs.
      --repair-to NAME copies the range's valid messages (readable batches and markers, in
      order) into a new log TICK_NAME (subjects tick.NAME.…, header Tb-Repaired-From) and
      writes no partition: read it as any log (actors replay --tp NAME, subscribers)
      --hdb is relative to the working directory; without it the RDB's hdbDir setting, inside
      the data directory (--data, else $TICKBUS_DATA, else ./data of the checkout)
`,
  flags: ['tp', 'date', 'from-seq', 'to-seq', 'tables', 'hdb', 'chunk-rows', 'config', 'check', 'repair-to', 'json', 'data'],
  run: (a) => replayCmd(a, configPath(a)),
};

async function replayCmd(a: Args, cfgPath: string): Promise<number> {
  const cfg = readConfig(cfgPath);
  const tp = a.flags.get('tp') ?? 'tp1';
  const hdbDir = flagPath(a, 'hdb') ?? settingPath((cfg.defaults.rdb?.hdbDir as string | undefined) ?? 'hdb', cliDataDir(a));
  const num = (k: string) => {
    if (!a.flags.has(k)) return undefined;
    const n = Number(a.flags.get(k));
    if (!Number.isInteger(n) || n < 0) throw usageError(`--${k} must be a non-negative integer, not ${JSON.stringify(a.flags.get(k))}`, { flag: k });
    return n;
  };
  if (!a.flags.has('date') && !(a.flags.has('from-seq') && a.flags.has('to-seq'))) {
    throw usageError('actors replay needs --date YYYY-MM-DD or --from-seq N --to-seq M', { flag: 'date' });
  }
  const json = a.flags.has('json');
  const nc = await connect({ servers: natsServers(), name: 'actors-replay', ...securityOptions() });
  const bar = progressBar('replay', 'rows {rows}  skipped {skipped}');
  const started = Date.now();
  try {
    const r = await replay(nc, {
      tp,
      hdbDir,
      tables: cfg.tables,
      date: a.flags.get('date'),
      fromSeq: num('from-seq'),
      toSeq: num('to-seq'),
      only: a.flags.get('tables')?.split(','),
      chunkRows: num('chunk-rows'),
      check: a.flags.has('check'),
      repairTo: a.flags.get('repair-to'),
      nc,
      logger: createLogger({ proctype: 'replay', name: 'replay' }),
      onProgress: (p) => bar.update(p.seq - p.fromSeq + 1, Math.max(1, p.toSeq - p.fromSeq + 1), { rows: p.rows, skipped: p.skipped }),
    });
    bar.stop();
    if (r.repair) {
      if (json) process.stdout.write(`${JSON.stringify({ fromSeq: r.fromSeq, toSeq: r.toSeq, repair: r.repair, rows: r.rows, skippedCount: r.skippedCount, skipped: r.skipped, ms: Date.now() - started })}\n`);
      else {
        process.stdout.write(`repaired seq ${r.fromSeq}..${r.toSeq} of ${tp} into ${r.repair.stream} (tickerplant name ${r.repair.tp}): ${r.repair.copied} message(s) copied, ${r.skippedCount} skipped, in ${Date.now() - started} ms\n`);
        for (const sk of r.skipped.slice(0, 20)) process.stdout.write(`  skipped seq ${sk.seq} (${sk.subject}): ${sk.reason}\n`);
      }
      return 0;
    }
    if (r.check) {
      const clean = r.skippedCount === 0 && r.check.every((c) => c.match);
      if (json) {
        process.stdout.write(`${JSON.stringify({ fromSeq: r.fromSeq, toSeq: r.toSeq, clean, check: r.check, skippedCount: r.skippedCount, skipped: r.skipped, ms: Date.now() - started })}\n`);
      } else {
        printTable(
          ['date', 'table', 'rows', 'marker', 'match'],
          r.check.map((c) => [c.day, c.table, String(c.rows), c.marker === null ? '(open day)' : String(c.marker), c.match ? 'ok' : 'error']),
        );
        process.stdout.write(`checked seq ${r.fromSeq}..${r.toSeq} in ${Date.now() - started} ms: ${r.skippedCount} unreadable message(s); ${clean ? 'clean' : 'NOT clean'}\n`);
        for (const sk of r.skipped.slice(0, 20)) process.stdout.write(`  skipped seq ${sk.seq} (${sk.subject}): ${sk.reason}\n`);
      }
      return clean ? 0 : 1;
    }
    if (json) {
      const written = r.written.map((w) => ({ date: w.date, table: w.table, rows: w.rows, files: w.files.length, ms: Math.round(w.ms.total) }));
      process.stdout.write(`${JSON.stringify({ fromSeq: r.fromSeq, toSeq: r.toSeq, hdb: hdbDir, written, skipped: r.skipped, ms: Date.now() - started })}\n`);
      return 0;
    }
    printTable(
      ['date', 'table', 'rows', 'files', 'ms'],
      r.written.map((w) => [w.date, w.table, String(w.rows), String(w.files.length), String(Math.round(w.ms.total))]),
    );
    process.stdout.write(`replayed seq ${r.fromSeq}..${r.toSeq} into ${hdbDir} in ${Date.now() - started} ms; skipped ${r.skipped.length} message(s)\n`);
    for (const sk of r.skipped.slice(0, 20)) process.stdout.write(`  skipped seq ${sk.seq} (${sk.subject}): ${sk.reason}\n`);
    return 0;
  } finally {
    bar.stop();
    await nc.close();
  }
}

