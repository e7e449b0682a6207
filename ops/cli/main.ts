// The `actors` CLI: up, start, ps, tail. Run through ops/actors.mjs or `npm start` (= actors up).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../../bus/log.ts';
import { NatsServer, freePort } from '../../bus/nats_server.ts';
import { subjects } from '../../bus/subjects.ts';
import { subscribe } from '../../bus/subscriber.ts';
import { formatIsoNs, isSymColumn, type Column } from '../../storage/batch.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { dataPath, processType } from '../../actors/registry.ts';
import { replay } from '../../actors/replay/replay.ts';
import { parseOverrides, readConfig, readProcessTable, settingsFor } from '../config.ts';
import { nodeFlags } from '../node_flags.mjs';
import { psCommand, queryCommand } from './inspect.ts';
import { printTable } from './table.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Args {
  cmd: string;
  positional: string[];
  flags: Map<string, string>;
  sets: string[];
}

function parseArgs(argv: string[]): Args {
  const [cmd = 'help', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string>();
  const sets: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a.startsWith('--')) {
      const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
      const v = inline ?? (rest[i + 1] && !rest[i + 1]!.startsWith('--') ? rest[++i]! : 'true');
      if (k === 'set') sets.push(v);
      else flags.set(k, v);
    } else positional.push(a);
  }
  return { cmd, positional, flags, sets };
}

const HELP = `actors: run and inspect a tickbus system

  actors up [--config ops/config.json] [--procs ops/process.csv] [--port 4222] [--data ./data]
      start an embedded nats-server (unless NATS_URL is set) and every process of the process
      table with startwithall=1; print a status table; Ctrl-C stops all in reverse order
  actors start <proctype> --name <procname> [--set key=value ...]
      run one process in the foreground (needs NATS_URL, default nats://127.0.0.1:4222)
  actors ps              the registry (KV bucket proc) with each process's heartbeat state
  actors query '<json>' [--target rdb,hdb] [--join raze] [--gw gw1] [--timeout 30000] [--priority 0] [--rows 100] [--json]
      a query through the gateway, printed as a table: a tickbus.v1.gateway.request, or a
      backend query (tickbus.v1.query: rdb by default; tickbus.v1.getdata: split by time range;
      tickbus.v1.call: needs --target)
  actors tail <table> [--tp tp1] [--syms A,B] [--from live|today]
      print rows of a table as they are logged
  actors replay [--tp tp1] (--date YYYY-MM-DD | --from-seq N --to-seq M) [--tables a,b]
                [--hdb data/hdb] [--chunk-rows 20000000]
      replay the log (a day, or a sequence range) into HDB partitions; bad messages are
      skipped and reported; HDB processes are told to reload
`;

const natsUrl = () => process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const cfgPath = resolve(a.flags.get('config') ?? join(root, 'ops', 'config.json'));
  switch (a.cmd) {
    case 'up':
      return await up(a, cfgPath);
    case 'start':
      return await startOne(a, cfgPath);
    case 'ps':
      return await psCommand(natsUrl());
    case 'query': {
      // `--json '{...}'` would read the query as the flag's value: take it back.
      const jsonFlag = a.flags.get('json');
      const text = a.positional[0] ?? (jsonFlag && jsonFlag !== 'true' ? jsonFlag : undefined);
      return await queryCommand(natsUrl(), text, {
        gateway: a.flags.get('gw'),
        target: a.flags.get('target'),
        join: a.flags.get('join'),
        priority: a.flags.get('priority'),
        timeoutMs: a.flags.get('timeout'),
        rows: a.flags.get('rows'),
        json: a.flags.has('json'),
      });
    }
    case 'tail':
      return await tail(a);
    case 'replay':
      return await replayCmd(a, cfgPath);
    default:
      process.stdout.write(HELP);
      return a.cmd === 'help' || a.cmd === '--help' ? 0 : 1;
  }
}

async function startOne(a: Args, cfgPath: string): Promise<number> {
  const proctype = a.positional[0];
  const name = a.flags.get('name');
  if (!proctype || !name) {
    process.stderr.write('usage: actors start <proctype> --name <procname>\n');
    return 1;
  }
  const cfg = readConfig(cfgPath);
  const settings = settingsFor(cfg, proctype, name, parseOverrides(a.sets));
  const type = processType(proctype);
  const logger = createLogger({ proctype, name });
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers: natsUrl(),
    logger,
    subjects: type.subjects(name, settings),
    // Discovery attributes: the tables, plus anything configured (`"attributes": {"region": "eu"}`).
    attributes: { tables: Object.keys(cfg.tables), ...((settings.attributes as Record<string, unknown> | undefined) ?? {}) },
    start: (nc, ctx) => type.start(nc, name, settings, logger, ctx),
  });
  // Stopped while still waiting for nats-server (or starting): nothing to drain, leave at once.
  let started = false;
  const onSignal = () => (started ? void rt.stop() : void rt.stop().finally(() => process.exit(0)));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Started by `actors up`: stop when the launcher is gone (killed without a chance to stop us).
  const parent = Number(process.env.TICKBUS_PARENT_PID ?? 0);
  if (parent) {
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch {
        logger.warn({ parent }, 'launcher is gone; stopping');
        onSignal();
      }
    }, 1_000).unref();
  }
  try {
    await rt.start();
    started = true;
  } catch (e) {
    logger.error({ err: (e as Error).message }, 'process failed to start');
    await rt.stop().catch(() => {});
    return 1;
  }
  await rt.stopped;
  return 0;
}

interface Child {
  proctype: string;
  procname: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
}

async function up(a: Args, cfgPath: string): Promise<number> {
  const procs = readProcessTable(resolve(a.flags.get('procs') ?? join(root, 'ops', 'process.csv'))).filter((p) => p.startwithall);
  const logger = createLogger({ proctype: 'launcher', name: 'up' });
  let server: NatsServer | undefined;
  let url = process.env.NATS_URL;
  const dataDir = resolve(a.flags.get('data') ?? join(root, 'data'));
  if (!url) {
    mkdirSync(dataDir, { recursive: true });
    let port = Number(a.flags.get('port') ?? 4222);
    const probe = await connect({ servers: `nats://127.0.0.1:${port}`, timeout: 500, reconnect: false }).then(
      async (nc) => (await nc.close(), true),
      () => false,
    );
    if (probe) {
      const free = await freePort();
      logger.warn({ port, instead: free }, 'port in use; the embedded nats-server takes another');
      port = free;
    }
    server = await NatsServer.start({ port, storeDir: join(dataDir, 'nats'), detached: true });
    url = server.url;
    logger.info({ url, store: server.storeDir }, 'embedded nats-server started');
  }
  const children: Child[] = [];
  let stopping = false;
  // One stop for every signal: a second Ctrl-C (or a group-wide SIGTERM that also arrives
  // forwarded) waits for the same ordered stop instead of exiting half way.
  let stopped: Promise<void> | undefined;
  const stopAll = () => (stopped ??= stopAllOnce());
  const stopAllOnce = async () => {
    stopping = true;
    logger.info('stopping processes in reverse order');
    for (const c of [...children].reverse()) {
      if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
      const t = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
      await c.exited;
      clearTimeout(t);
      logger.info({ proc: c.procname }, 'stopped');
    }
    await server?.stop();
    logger.info('all stopped');
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  const nc = await connect({ servers: url, name: 'actors-up' });
  for (const p of procs) {
    if (stopping) break;
    const proc = spawn(process.execPath, [...nodeFlags(), '--import', 'tsx', join(root, 'ops', 'cli', 'main.ts'), 'start', p.proctype, '--name', p.procname, '--config', cfgPath], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NATS_URL: url, TICKBUS_PARENT_PID: String(process.pid), TICKBUS_DATA: dataDir },
      detached: true, // own process group: Ctrl-C reaches the launcher, which stops children in order
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    children.push({ ...p, proc, exited });
    await waitReady(nc, p.procname, 60_000, exited);
  }
  await printStatus(nc, procs.map((p) => p.procname));
  const every = Number(a.flags.get('status-every-ms') ?? 30_000);
  const timer = setInterval(() => void printStatus(nc, procs.map((p) => p.procname)), every);
  timer.unref();
  await Promise.race(children.map((c) => c.exited));
  if (!stopping) {
    logger.error('a process exited; stopping the system');
    await stopAll();
    return 1;
  }
  await new Promise(() => {});
  return 0;
}

async function waitReady(nc: Awaited<ReturnType<typeof connect>>, name: string, timeoutMs: number, exited: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  while (Date.now() < deadline && !gone) {
    try {
      await nc.request(subjects.ctl(name, 'status'), '', { timeout: 500 });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${name} did not become ready`);
}

async function printStatus(nc: Awaited<ReturnType<typeof connect>>, names: string[]): Promise<void> {
  const rows: string[][] = [];
  for (const n of names) {
    try {
      const m = await nc.request(subjects.ctl(n, 'status'), '', { timeout: 1_000 });
      const s = JSON.parse(new TextDecoder().decode(m.data)) as { proctype: string; pid: number; status: Record<string, unknown> };
      rows.push([n, s.proctype, String(s.pid), 'up', summarize(s.status)]);
    } catch {
      rows.push([n, '?', '?', 'no reply', '']);
    }
  }
  printTable(['procname', 'proctype', 'pid', 'state', 'detail'], rows);
}

function summarize(st: Record<string, unknown>): string {
  return Object.entries(st)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ')
    .slice(0, 160);
}

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

main().then(
  (code) => {
    process.exit(code);
  },
  (e: Error) => {
    process.stderr.write(`actors: ${e.message}\n`);
    process.exit(1);
  },
);
