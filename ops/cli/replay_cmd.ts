// `actors replay`: the log (a day, or a sequence range) into HDB partitions.
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../../bus/log.ts';
import { dataPath } from '../../actors/registry.ts';
import { replay } from '../../actors/replay/replay.ts';
import { readConfig } from '../config.ts';
import { configPath, natsUrl, type Args, type Command } from './args.ts';
import { printTable } from './table.ts';

export const replayCommand: Command = {
  usage: `  actors replay [--tp tp1] (--date YYYY-MM-DD | --from-seq N --to-seq M) [--tables a,b]
                [--hdb data/hdb] [--chunk-rows 20000000]
      replay the log (a day, or a sequence range) into HDB partitions; bad messages are
      skipped and reported; HDB processes are told to reload
`,
  run: (a) => replayCmd(a, configPath(a)),
};

async function replayCmd(a: Args, cfgPath: string): Promise<number> {
  const cfg = readConfig(cfgPath);
  const tp = a.flags.get('tp') ?? 'tp1';
  const hdbDir = dataPath(a.flags.get('hdb') ?? (cfg.defaults.rdb?.hdbDir as string | undefined) ?? 'hdb');
  const num = (k: string) => (a.flags.has(k) ? Number(a.flags.get(k)) : undefined);
  const nc = await connect({ servers: natsUrl(), name: 'actors-replay' });
  const tty = process.stderr.isTTY;
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
      nc,
      logger: createLogger({ proctype: 'replay', name: 'replay' }),
      onProgress: (p) => {
        if (!tty) return;
        const f = (p.seq - p.fromSeq + 1) / Math.max(1, p.toSeq - p.fromSeq + 1);
        const bar = '#'.repeat(Math.round(f * 30)).padEnd(30, '.');
        process.stderr.write(`\r[${bar}] ${(f * 100).toFixed(0).padStart(3)}%  seq ${p.seq}/${p.toSeq}  rows ${p.rows}  skipped ${p.skipped}`);
      },
    });
    if (tty) process.stderr.write('\n');
    printTable(
      ['date', 'table', 'rows', 'files', 'ms'],
      r.written.map((w) => [w.date, w.table, String(w.rows), String(w.files.length), String(Math.round(w.ms.total))]),
    );
    process.stdout.write(`replayed seq ${r.fromSeq}..${r.toSeq} into ${hdbDir} in ${Date.now() - started} ms; skipped ${r.skipped.length} message(s)\n`);
    for (const sk of r.skipped.slice(0, 20)) process.stdout.write(`  skipped seq ${sk.seq} (${sk.subject}): ${sk.reason}\n`);
    return 0;
  } finally {
    await nc.close();
  }
}

