// `actors tail <table>`: rows of a table as they are logged.
import { connect } from '@nats-io/transport-node';
import { subscribe } from '../../bus/subscriber.ts';
import { formatIsoNs, isSymColumn, type Column } from '../../storage/batch.ts';
import { natsUrl, type Args, type Command } from './args.ts';

export const tailCommand: Command = {
  usage: `  actors tail <table> [--tp tp1] [--syms A,B] [--from live|today]
      print rows of a table as they are logged
`,
  run: (a) => tail(a),
};

function cell(c: Column, i: number): string {
  if (isSymColumn(c)) return c.dict[c.codes[i]!]!;
  const v = (c as ArrayLike<unknown>)[i];
  return typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : String(v);
}

async function tail(a: Args): Promise<number> {
  const table = a.positional[0];
  if (!table) {
    process.stderr.write('usage: actors tail <table> [--tp tp1] [--syms A,B]\n');
    return 1;
  }
  process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
  const nc = await connect({ servers: natsUrl(), name: 'actors-tail' });
  const from = (a.flags.get('from') ?? 'live') as 'live' | 'today';
  const sub = await subscribe(nc, { tp: a.flags.get('tp') ?? 'tp1', tables: [table], syms: a.flags.get('syms')?.split(','), from });
  process.on('SIGINT', () => void sub.close().then(() => process.exit(0)));
  let header = false;
  for await (const e of sub) {
    if (e.type === 'eod') {
      process.stdout.write(`-- end of day ${e.day}; next day ${e.nextDay}\n`);
      continue;
    }
    if (e.type === 'skipped') {
      process.stdout.write(`-- skipped unreadable message seq ${e.seq}: ${e.reason}\n`);
      continue;
    }
    const names = Object.keys(e.batch.cols);
    if (!header) {
      process.stdout.write(names.join('\t') + '\n');
      header = true;
    }
    for (let i = 0; i < e.batch.n; i++) {
      const row = names.map((n) => (n === 'time' ? formatIsoNs((e.batch.cols.time as BigInt64Array)[i]!) : cell(e.batch.cols[n]!, i)));
      process.stdout.write(row.join('\t') + '\n');
    }
  }
  return 0;
}

