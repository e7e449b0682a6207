// `actors up`: an embedded nats-server (unless NATS_URL is set) and every process of the
// process table with startwithall=1, as child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../../bus/log.ts';
import { NatsServer, freePort } from '../../bus/nats_server.ts';
import { subjects } from '../../bus/subjects.ts';
import { readProcessTable } from '../config.ts';
import { nodeFlags, tsxImport } from '../node_flags.mjs';
import { clusterSize, startEmbeddedCluster } from './cluster.ts';
import { configPath, root, type Args, type Command } from './args.ts';
import { printTable } from './table.ts';

export const upCommand: Command = {
  usage: `  actors up [--config ops/config.json] [--procs ops/process.csv] [--port 4222] [--data ./data] [--cluster 3]
      start an embedded nats-server (unless NATS_URL is set) and every process of the process
      table with startwithall=1; print a status table; Ctrl-C stops all in reverse order;
      --cluster N: N servers as one JetStream cluster, streams and buckets with N replicas
`,
  run: (a) => up(a, configPath(a)),
};

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
  const size = clusterSize(a.flags.get('cluster'));
  const cluster = !url && size !== undefined ? await startEmbeddedCluster(size, dataDir, logger, a.flags.get('port')) : undefined;
  url ??= cluster?.url;
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
    await cluster?.stop();
    logger.info('all stopped');
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  const nc = await connect({ servers: url.split(','), name: 'actors-up' });
  for (const p of procs) {
    if (stopping) break;
    const proc = spawn(process.execPath, [...nodeFlags(), ...tsxImport(), join(root, 'ops', 'cli', 'main.ts'), 'start', p.proctype, '--name', p.procname, '--config', cfgPath], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NATS_URL: url, ...cluster?.env, TICKBUS_PARENT_PID: String(process.pid), TICKBUS_DATA: dataDir },
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

