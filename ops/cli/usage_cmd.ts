// `actors usage`: the usage log (stream USAGE, TorQ's .usage) from a start time, filtered, as a
// table and a summary, or one JSON document.
import { connect } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { readUsage, type UsageEntry } from '../../bus/usage.ts';
import { natsServers, type Args, type Command } from './args.ts';
import { printTable } from './table.ts';

export const usageCommand: Command = {
  usage: `  actors usage [--since 1h] [--user u] [--proc name|proctype] [--status ok|error|CODE] [--limit 200] [--json]
      the usage log (stream USAGE): every query a gateway, RDB, HDB or named API answered, with
      who asked (the client's Tb-User header, self-declared), how long it took, the reply's size
      and rows, and its status; --since takes 30s, 15m, 1h, 2d or an ISO time (default 1h);
      --limit shows the latest N matching records (the summary counts all of them)
`,
  flags: ['since', 'user', 'proc', 'status', 'limit', 'json'],
  run: (a) => usageCmd(a),
};

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a duration back from now (30s, 15m, 1h, 2d) or an ISO date/time. */
export function parseSince(v: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(v);
  if (m) return now - Number(m[1]) * UNIT_MS[m[2]!]!;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new TickbusError(ErrorCode.BAD_USAGE, `--since ${JSON.stringify(v)} is neither a duration (30s, 15m, 1h, 2d) nor an ISO time`, { flag: 'since', value: v });
  return t;
}

function matches(e: UsageEntry, f: { user?: string; proc?: string; status?: string }): boolean {
  if (f.user !== undefined && e.user !== f.user) return false;
  if (f.proc !== undefined && e.name !== f.proc && e.proctype !== f.proc) return false;
  if (f.status === 'error') return e.status !== 'ok';
  if (f.status !== undefined && e.status !== f.status) return false;
  return true;
}

export interface UsageSummary {
  queries: number;
  errors: number;
  bytes: number;
  durationMsMean: number;
  durationMsMax: number;
  byUser: Record<string, number>;
  byProcess: Record<string, number>;
  byStatus: Record<string, number>;
}

export function summarize(es: UsageEntry[]): UsageSummary {
  const count = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  const s: UsageSummary = { queries: es.length, errors: 0, bytes: 0, durationMsMean: 0, durationMsMax: 0, byUser: {}, byProcess: {}, byStatus: {} };
  let total = 0;
  for (const e of es) {
    if (e.status !== 'ok') s.errors++;
    s.bytes += e.bytes;
    total += e.durationMs;
    s.durationMsMax = Math.max(s.durationMsMax, e.durationMs);
    count(s.byUser, e.user || '(none)');
    count(s.byProcess, `${e.proctype}.${e.name}`);
    count(s.byStatus, e.status);
  }
  s.durationMsMean = es.length ? Math.round((total / es.length) * 1000) / 1000 : 0;
  return s;
}

function positiveInt(a: Args, flag: string, dflt: number): number {
  const v = a.flags.get(flag);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new TickbusError(ErrorCode.BAD_USAGE, `--${flag} must be a positive integer, not ${JSON.stringify(v)}`, { flag, value: v });
  return n;
}

async function usageCmd(a: Args): Promise<number> {
  const sinceMs = parseSince(a.flags.get('since') ?? '1h');
  const limit = positiveInt(a, 'limit', 200);
  const filter = { user: a.flags.get('user'), proc: a.flags.get('proc'), status: a.flags.get('status') };
  const nc = await connect({ servers: natsServers(), name: 'actors-usage', ...securityOptions(), timeout: 2_000 });
  try {
    const { entries, truncated } = await readUsage(nc, { sinceMs });
    const all = entries.filter((e) => matches(e, filter)).sort((x, y) => x.at - y.at);
    const shown = all.slice(-limit);
    const summary = summarize(all);
    if (a.flags.has('json')) {
      process.stdout.write(`${JSON.stringify({ since: new Date(sinceMs).toISOString(), filter, truncated, summary, records: shown })}\n`);
      return 0;
    }
    printTable(
      ['time', 'user', 'process', 'type', 'table', 'ms', 'bytes', 'rows', 'status'],
      shown.map((e) => [new Date(e.at).toISOString().replace('T', ' ').slice(0, 23), e.user, `${e.proctype}.${e.name}`, e.queryType, e.table ?? '', e.durationMs.toFixed(1), String(e.bytes), e.rows === undefined ? '' : String(e.rows), e.status]),
    );
    const top = (m: Record<string, number>) =>
      Object.entries(m)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 5)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
    process.stdout.write(
      `${summary.queries} queries since ${new Date(sinceMs).toISOString()}` +
        (shown.length < all.length ? ` (latest ${shown.length} shown; --limit N)` : '') +
        `; ${summary.errors} errors; ${summary.bytes} bytes; ${summary.durationMsMean} ms mean, ${summary.durationMsMax} ms max\n` +
        (summary.queries ? `  by user: ${top(summary.byUser)}\n  by process: ${top(summary.byProcess)}\n  by status: ${top(summary.byStatus)}\n` : '') +
        (truncated ? '  (the read stopped at its bound: narrow --since)\n' : ''),
    );
    return 0;
  } finally {
    await nc.close();
  }
}
