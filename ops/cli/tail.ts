// `actors tail <table>`: rows of a table as they are logged.
import { connect } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { subscribe } from '../../bus/subscriber.ts';
import { formatIsoNs, isSymColumn, type Column } from '../../storage/batch.ts';
import { natsServers, usageError, type Args, type Command } from './args.ts';

export const tailCommand: Command = {
  usage: `  actors tail <table> [--tp tp1] [--syms A,B] [--from live|today|period] [--json]
      print rows of a table as they are logged (tab separated; --json: one JSON object per row
      and per end of day, a line each, until Ctrl-C)
`,
  flags: ['tp', 'syms', 'from', 'json'],
  run: (a) => tail(a),
};

function cellValue(c: Column, i: number): string | number {
  if (isSymColumn(c)) return c.dict[c.codes[i]!]!;
  const v = (c as ArrayLike<unknown>)[i];
  // Longs as numbers while exact (as the bus's JSON replies give them), else as strings.
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : String(v);
  return typeof v === 'number' ? v : String(v);
}

function cell(c: Column, i: number): string {
  if (isSymColumn(c)) return c.dict[c.codes[i]!]!;
  const v = (c as ArrayLike<unknown>)[i];
  return typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : String(v);
}

async function tail(a: Args): Promise<number> {
  const table = a.positional[0];
  if (!table) throw usageError('actors tail needs a table: actors tail <table>', { param: 'table' });
  const from = a.flags.get('from') ?? 'live';
  if (from !== 'live' && from !== 'today' && from !== 'period') throw usageError(`--from must be live, today or period, not ${JSON.stringify(from)}`, { flag: 'from', value: from });
  const json = a.flags.has('json');
  process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
  const nc = await connect({ servers: natsServers(), name: 'actors-tail', ...securityOptions() });
  const sub = await subscribe(nc, { name: 'actors_tail', tp: a.flags.get('tp') ?? 'tp1', tables: [table], syms: a.flags.get('syms')?.split(','), from });
  process.on('SIGINT', () => void sub.close().then(() => process.exit(0)));
  let header = false;
  for await (const e of sub) {
    if (e.type === 'eod') {
      process.stdout.write(json ? `${JSON.stringify({ eod: e.day, nextDay: e.nextDay })}\n` : `-- end of day ${e.day}; next day ${e.nextDay}\n`);
      continue;
    }
    if (e.type === 'eop') {
      process.stdout.write(json ? `${JSON.stringify({ eop: e.period, nextPeriod: e.nextPeriod, counts: e.counts })}\n` : `-- end of period ${e.period}; next period ${e.nextPeriod}\n`);
      continue;
    }
    if (e.type === 'skipped') {
      process.stdout.write(json ? `${JSON.stringify({ skipped: e.seq, reason: e.reason })}\n` : `-- skipped unreadable message seq ${e.seq}: ${e.reason}\n`);
      continue;
    }
    const names = Object.keys(e.batch.cols);
    if (json) {
      for (let i = 0; i < e.batch.n; i++) {
        const row: Record<string, string | number> = {};
        for (const n of names) row[n] = n === 'time' ? formatIsoNs((e.batch.cols.time as BigInt64Array)[i]!) : cellValue(e.batch.cols[n]!, i);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
      continue;
    }
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

