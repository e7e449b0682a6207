// `actors ps` (the registry as TorQ's .servers.SERVERS, with heartbeat state) and `actors query`
// (a query through the gateway, printed as a table).
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { securityOptions } from '../../bus/connection.ts';
import { connect } from '@nats-io/transport-node';
import { decode, encode, jsonReplacer } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { CALL_TYPE, GATEWAY_REQUEST_TYPE, GatewayClient, type GatewayTarget } from '../../bus/gateway_client.ts';
import { Header, subjects } from '../../bus/subjects.ts';
import { defaultUser } from '../../bus/usage.ts';
import { logLag, type LagRow } from '../../bus/consumer_lag.ts';
import { manager } from '../../bus/streams.ts';
import { daysToDate, formatIsoNs } from '../../storage/batch.ts';
import { GETDATA_TYPE } from '../../storage/query/request.ts';
import { NULL_INT, NULL_LONG, type QueryResult } from '../../storage/query/result.ts';
import { DEFAULT_HEARTBEAT_MS, Discovery, type ProcessView } from '../../actors/common/discovery.ts';
import type { HeartbeatRow } from '../../actors/monitor/effects.ts';
import { isQueryResult } from '../../actors/gateway/joins.ts';
import { printTable } from './table.ts';
import { supColumns } from './sup_view.ts';

function compactAttributes(a: Record<string, unknown>, max = 70): string {
  const s = Object.entries(a)
    .map(([k, v]) => {
      const val = Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? Object.keys(v).join(',') : String(v);
      return `${k}=${val}`;
    })
    .join(' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Heartbeat rows from a running monitor (named API `heartbeats` on q.monitor), or undefined. */
async function fromMonitor(nc: NatsConnection, timeoutMs: number): Promise<HeartbeatRow[] | undefined> {
  try {
    const h = natsHeaders();
    const user = defaultUser();
    if (user) h.set(Header.user, user); // the monitor logs the call under who ran actors ps
    const m = await nc.request(subjects.queryGroup('monitor'), encode({ type: CALL_TYPE, api: 'heartbeats', args: [] }), { timeout: timeoutMs, headers: h });
    const v = decode<HeartbeatRow[]>(m.data);
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function age(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** Prints the registry with each process's heartbeat state. */
export async function psCommand(url: string | string[], out: NodeJS.WritableStream = process.stdout, o: { json?: boolean } = {}): Promise<number> {
  const nc = await connect({ servers: url, name: 'actors-ps', ...securityOptions(), timeout: 2_000 });
  try {
    const d = await Discovery.open(nc, { openTimeoutMs: 3_000 });
    const procs = d.list();
    const monitor = await fromMonitor(nc, 1_000);
    let note: string;
    const hb = new Map<string, string>();
    if (monitor) {
      note = 'heartbeat state from the monitor';
      for (const r of monitor) hb.set(`${r.proctype}.${r.name}`, `${r.state} (${age(r.ageMs)} ago, #${r.counter})`);
    } else {
      // No monitor: listen for a little over one heartbeat period; silent processes are flagged.
      const listenMs = Math.min(3_000, 1.2 * Math.max(DEFAULT_HEARTBEAT_MS, ...procs.map((p) => p.heartbeatMs ?? DEFAULT_HEARTBEAT_MS)));
      await new Promise((r) => setTimeout(r, listenMs));
      note = `no monitor running: heartbeats listened for ${Math.round(listenMs)} ms`;
      for (const p of d.list()) hb.set(p.key, p.lastBeatMs === undefined ? `silent ${age(listenMs)}` : `ok (#${p.beats})`);
    }
    const sup = await supColumns(nc);
    const lag = await subscriberLag(nc);
    if (o.json) {
      const processes = procs.map((p: ProcessView) => ({ name: p.name, proctype: p.proctype, host: p.host, pid: p.pid, startedAt: p.startedAt, heartbeat: hb.get(p.key) ?? null, state: (hb.get(p.key) ?? '?').split(' ')[0], attributes: p.attributes, sup: sup.record(p.name) ?? null }));
      // Supervised processes not in the registry (backoff, failed, stopped, the embedded nats-server).
      const supervised = sup.unregistered(new Set(procs.map((p) => p.name)));
      out.write(`${JSON.stringify({ processes, supervised, subscribers: lag, source: note }, jsonReplacer)}\n`);
      await d.close();
      return 0;
    }
    const rows = procs.map((p: ProcessView) => [p.name, p.proctype, `${p.host}:${p.pid}`, p.startedAt.replace('T', ' ').slice(0, 19), hb.get(p.key) ?? '?', ...sup.cells(p.name), compactAttributes(p.attributes)]);
    // Supervised processes not in the registry (backoff, failed, stopped, the embedded nats-server).
    for (const r of sup.unregistered(new Set(procs.map((p) => p.name)))) rows.push([r.procname, r.proctype, r.pid ? String(r.pid) : '', r.startedAt?.replace('T', ' ').slice(0, 19) ?? '', '', ...sup.cells(r.procname), '']);
    printTable(['procname', 'proctype', 'host:pid', 'started', 'heartbeat', ...sup.headers, 'attributes'], rows, out);
    out.write(`(${procs.length} registered; ${note})\n`);
    if (lag.length) {
      // Subscriber lag: each consumer of a log stream (named after its subscriber, e.g. rdb_rdb1_…).
      out.write('\n');
      printTable(
        ['subscriber (consumer)', 'log', 'behind (msgs)', '~behind (bytes)', 'delivered', 'log last'],
        lag.map((r) => [r.consumer, r.stream, String(r.pending), String(r.bytesBehind), String(r.delivered), String(r.streamLast)]),
        out,
      );
    }
    await d.close();
    return 0;
  } finally {
    await nc.close();
  }
}

function cellText(col: unknown, type: string, i: number): string {
  if (Array.isArray(col)) return String(col[i] ?? '');
  const v = (col as ArrayLike<number | bigint>)[i]!;
  switch (type) {
    case 'timestamp':
      return v === NULL_LONG ? '' : formatIsoNs(v as bigint);
    case 'date':
      return v === NULL_INT ? '' : daysToDate(v as number);
    case 'int':
      return v === NULL_INT ? '' : String(v);
    case 'long':
    case 'timespan':
      return v === NULL_LONG ? '' : String(v);
    case 'bool':
      return v ? 'true' : 'false';
    case 'float':
      return Number.isNaN(v) ? '' : String(Math.round((v as number) * 1e6) / 1e6);
    default:
      return String(v);
  }
}

/** Prints a query result as an aligned table (at most rowsMax rows). */
export function printResult(r: QueryResult, out: NodeJS.WritableStream, rowsMax: number): void {
  const shown = Math.min(r.n, rowsMax);
  const rows: string[][] = [];
  for (let i = 0; i < shown; i++) rows.push(r.columns.map((c, k) => cellText(r.cols[c], r.types[k]!, i)));
  printTable(r.columns, rows, out);
  if (shown < r.n) out.write(`... ${r.n - shown} more rows (--rows N shows more)\n`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** A list of records (e.g. the monitor's heartbeat table) as a table; nested values as compact JSON. */
function printRecords(rows: Record<string, unknown>[], out: NodeJS.WritableStream, rowsMax: number): void {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const text = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v, jsonReplacer) : String(v));
  printTable(
    keys,
    rows.slice(0, rowsMax).map((r) => keys.map((k) => text(r[k]))),
    out,
  );
  if (rows.length > rowsMax) out.write(`... ${rows.length - rowsMax} more rows (--rows N shows more)\n`);
}

export interface QueryFlags {
  gateway?: string;
  target?: string;
  join?: string;
  priority?: string;
  timeoutMs?: string;
  rows?: string;
  json?: boolean;
}

/** `actors query '<json>'`: a full gateway request, or a backend query plus --target. */
export async function queryCommand(url: string | string[], text: string | undefined, f: QueryFlags, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (!text) throw new TickbusError(ErrorCode.BAD_USAGE, `actors query needs the query as its argument: actors query '<json>'`, { param: 'query' });
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_USAGE, `the query is not JSON: ${(e as Error).message}`, { param: 'query' });
  }
  const timeoutMs = Number(f.timeoutMs ?? 30_000);
  let query: unknown = parsed;
  let target: GatewayTarget | undefined = f.target?.split(',').filter(Boolean);
  let join = f.join;
  let priority = f.priority === undefined ? undefined : Number(f.priority);
  if (parsed.type === GATEWAY_REQUEST_TYPE) {
    query = parsed.query;
    target = (parsed.target as GatewayTarget | undefined) ?? target;
    join = (parsed.join as string | undefined) ?? join;
    priority = (parsed.priority as number | undefined) ?? priority;
  } else if (target === undefined && parsed.type !== GETDATA_TYPE) {
    // A simple query (tickbus.v1.query) is the RDB's.
    if (parsed.type === CALL_TYPE) throw new TickbusError(ErrorCode.BAD_USAGE, 'a named-API call needs --target <proctype,...>', { flag: 'target' });
    target = ['rdb'];
  }
  const nc = await connect({ servers: url, name: 'actors-query', ...securityOptions(), timeout: 2_000 });
  const client = new GatewayClient(nc, { gateway: f.gateway, timeoutMs });
  try {
    const reply = await client.sync(query, target, { join, priority, timeoutMs });
    const r = reply.result;
    if (f.json) out.write(`${JSON.stringify(reply, jsonReplacer, 2)}\n`);
    else if (isQueryResult(r)) printResult(r, out, Number(f.rows ?? 100));
    else if (Array.isArray(r) && r.length > 0 && r.every(isQueryResult)) r.forEach((x, i) => (out.write(`-- ${reply.parts[i]?.name ?? i}\n`), printResult(x, out, Number(f.rows ?? 100))));
    else if (Array.isArray(r) && r.length > 0 && r.every(isRecord)) printRecords(r, out, Number(f.rows ?? 100));
    else out.write(`${JSON.stringify(r, jsonReplacer, 2)}\n`);
    const n = isQueryResult(r) ? `${r.n} rows ` : '';
    err.write(`${n}from ${reply.parts.map((p) => `${p.name} (${p.proctype}, ${p.ms.toFixed(1)} ms)`).join(', ')} in ${reply.ms.toFixed(1)} ms; id ${reply.id}\n`);
    return 0;
  } finally {
    client.close();
    await nc.close();
  }
}

/** Subscriber lag of every log stream (empty when JetStream is not reachable: ps still lists processes). */
async function subscriberLag(nc: NatsConnection): Promise<LagRow[]> {
  try {
    return await logLag(await manager(nc, 2_000));
  } catch {
    return [];
  }
}
