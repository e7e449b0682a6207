// `actors up`: an embedded nats-server (unless NATS_URL is set) and every process of the process
// table with startwithall=1, as child processes under a supervisor (ops/cli/supervisor.ts): a
// process that exits is restarted by its policy with a backoff, a crash loop marks it failed and
// alerts, and no exit stops the others. The embedded server is supervised too (same port and
// store; the children reconnect by themselves). State goes to KV bucket `sup`, requests come on
// ctl.<launcher>.supervise.
import { jsonReplacer } from '../../bus/codec.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { systemClock } from '../../actors/common/clock.ts';
import { connectBus } from '../../bus/connection.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { createLogger, type Logger } from '../../bus/log.ts';
import { NatsServer, freePort } from '../../bus/nats_server.ts';
import { assertName, subjects } from '../../bus/subjects.ts';
import { RestartPolicy, readProcessTable } from '../config.ts';
import { clusterSize, startEmbeddedCluster } from './cluster.ts';
import { configPath, root, type Args, type Command } from './args.ts';
import { answerSupervise, DEFAULT_LAUNCHER } from './supervise_cmd.ts';
import { SupStore } from './sup_store.ts';
import { supervisorSettings, Supervisor, SupState, type ChildSpec, type SupRecord } from './supervisor.ts';
import { childSpec, READY_TIMEOUT_MS } from './child_spec.ts';
import { printTable } from './table.ts';
import { upSecurity, UP_SECURITY_USAGE } from '../security/up_secure.ts';
import { supCells } from './sup_view.ts';
import { cliDataDir, flagPath } from './paths.ts';

/** Name of the embedded nats-server in the supervisor and in KV `sup`. */
export const NATS_SERVER_NAME = 'nats-server';

export const upCommand: Command = {
  usage: `  actors up [--config ops/config.json] [--procs ops/process.csv] [--port 4222] [--data ./data] [--name up] [--cluster 3]
            [--backoff-ms 500] [--backoff-max-ms 30000] [--stable-ms 60000]
            [--crash-loop-restarts 5] [--crash-loop-window-ms 60000] [--stop-grace-ms 10000]
            [--status-every-ms 30000] [--json]
      start an embedded nats-server (unless NATS_URL is set) and every process of the process
      table with startwithall=1 under a supervisor: a process that exits is restarted by its
      restartpolicy after a backoff (doubling to the cap, reset after a stable run); more than
      crash-loop-restarts exits within the window mark it failed (alert on alert.launcher.<name>)
      while the others run on. State in KV bucket sup; actors start|restart|kill <procname>
      act on it. Ctrl-C stops all in reverse order. --json: the status as one JSON line per
      refresh (type tickbus.v1.up.status) instead of the table. --cluster N: N embedded servers as
      one JetStream cluster (not supervised), streams and buckets with N replicas
${UP_SECURITY_USAGE}`,
  flags: ['json', 'config', 'procs', 'port', 'data', 'name', 'backoff-ms', 'backoff-max-ms', 'stable-ms', 'crash-loop-restarts', 'crash-loop-window-ms', 'stop-grace-ms', 'status-every-ms', 'secure', 'tls', 'cluster'],
  run: (a) => up(a, configPath(a)),
};

async function up(a: Args, cfgPath: string): Promise<number> {
  const launcher = assertName('launcher', a.flags.get('name') ?? DEFAULT_LAUNCHER);
  const settings = supervisorSettings({
    backoffInitialMs: a.flags.get('backoff-ms'),
    backoffMaxMs: a.flags.get('backoff-max-ms'),
    stableAfterMs: a.flags.get('stable-ms'),
    crashLoopRestarts: a.flags.get('crash-loop-restarts'),
    crashLoopWindowMs: a.flags.get('crash-loop-window-ms'),
    stopGraceMs: a.flags.get('stop-grace-ms'),
  });
  // Every row is supervised (so `actors start <procname>` can start one); startwithall=1 rows start now.
  const procs = readProcessTable(flagPath(a, 'procs') ?? join(root, 'ops', 'process.csv'));
  const logger = createLogger({ proctype: 'launcher', name: launcher });
  const dataDir = cliDataDir(a);
  const sec = upSecurity(a, dataDir, procs, logger);
  const store = new SupStore(launcher, logger);
  const sup = new Supervisor({ launcher, clock: systemClock, settings, logger, onRecord: (r) => store.put(r), onAlert: (x) => store.alert(x) });
  let url = process.env.NATS_URL;
  let server: NatsServer | undefined;
  const size = clusterSize(a.flags.get('cluster'));
  const cluster = !url && size !== undefined ? await startEmbeddedCluster(size, dataDir, logger, a.flags.get('port')) : undefined;
  url ??= cluster?.url;
  if (!url) {
    mkdirSync(dataDir, { recursive: true });
    server = new NatsServer({ port: await pickPort(Number(a.flags.get('port') ?? 4222), logger), storeDir: join(dataDir, 'nats'), detached: true, ...sec?.server });
    url = server.url;
    sup.add(natsServerSpec(server, logger));
    await sup.start(NATS_SERVER_NAME);
    if (sup.record(NATS_SERVER_NAME).state !== SupState.running) await until(() => sup.record(NATS_SERVER_NAME).state === SupState.running, 15_000);
    logger.info({ url, store: server.storeDir }, 'embedded nats-server started');
  }
  const nc = await connectBus({ servers: url.split(','), name: `actors-up-${launcher}`, logger, security: sec?.launcher() });
  if (!server && !cluster) await refuseSecondLauncher(nc, launcher);
  store.attach(nc);
  for (const p of procs) sup.add(childSpec(p, { url, cfgPath, dataDir, nc: () => nc, sec, env: cluster?.env }));
  await store.prune(sup.names());
  const ctl = nc.subscribe(subjects.supervise(launcher), { callback: (_e, m) => void answerSupervise(sup, m) });

  let stopped: Promise<void> | undefined;
  // One stop for every signal: a second Ctrl-C (or a group-wide SIGTERM that also arrives
  // forwarded) waits for the same ordered stop instead of exiting half way.
  const stopAll = () =>
    (stopped ??= (async () => {
      logger.info('stopping processes in reverse order');
      sup.close();
      for (const n of sup.names().reverse()) if (n !== NATS_SERVER_NAME) await sup.stop(n);
      await store.close(2_000);
      ctl.unsubscribe();
      await nc.close().catch(() => {});
      if (server) await sup.stop(NATS_SERVER_NAME, { force: true });
      await cluster?.stop();
      logger.info('all stopped');
    })());
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  // In table order, each once it answers (or has exited, or the bound passed): the tickerplant is
  // up before the RDB replays its log, as before.
  for (const p of procs.filter((x) => x.startwithall)) {
    if (stopped) break;
    await sup.start(p.procname);
    await until(() => sup.record(p.procname).state !== SupState.starting, READY_TIMEOUT_MS).catch(() => logger.warn({ proc: p.procname }, 'not answering yet; starting the next'));
  }
  const json = a.flags.has('json');
  await printStatus(nc, sup.records(), json);
  const every = Number(a.flags.get('status-every-ms') ?? 30_000);
  setInterval(() => void printStatus(nc, sup.records(), json), every).unref();
  await new Promise(() => {});
  return 0;
}

/** On a shared server two launchers of one name would both answer its requests: refuse to start. */
async function refuseSecondLauncher(nc: NatsConnection, launcher: string): Promise<void> {
  const other = await nc.request(subjects.supervise(launcher), '{}', { timeout: 1_000 }).then(
    () => true,
    () => false,
  );
  if (other) {
    await nc.close();
    throw new TickbusError(ErrorCode.BAD_CONFIG, `a launcher named ${launcher} already runs on ${nc.getServer()}; give this one another --name`, { launcher, rule: 'one launcher per name on a server' });
  }
}

async function pickPort(port: number, logger: Logger): Promise<number> {
  const taken = await connect({ servers: `nats://127.0.0.1:${port}`, timeout: 500, reconnect: false }).then(
    async (nc) => (await nc.close(), true),
    () => false,
  );
  if (!taken) return port;
  const free = await freePort();
  logger.warn({ port, instead: free }, 'port in use; the embedded nats-server takes another');
  return free;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function natsServerSpec(server: NatsServer, logger: Logger): ChildSpec {
  return {
    procname: NATS_SERVER_NAME,
    proctype: NATS_SERVER_NAME,
    policy: RestartPolicy.always,
    launch: async () => {
      await server.stop(); // forgets a server that died (same port, same store next)
      await server.start();
      const pid = server.pid;
      logger.info({ pid, port: server.port }, 'nats-server running');
      return {
        pid,
        exited: server.whenExited!.then((e) => ({ code: e.code, signal: e.signal })),
        kill: (sig) => {
          try {
            if (pid) process.kill(pid, sig);
          } catch {
            // already gone
          }
        },
      };
    },
    ready: async () => true,
    refuseStop: 'the processes and the launcher need it; restart it, or stop the whole system with Ctrl-C',
  };
}

/**
 * The status table; with --json one JSON line per refresh instead (`tickbus.v1.up.status`: each
 * process's supervisor record and its ctl status), among the processes' own JSON log lines.
 */
async function printStatus(nc: NatsConnection, records: SupRecord[], json = false): Promise<void> {
  const now = Date.now();
  const rows: string[][] = [];
  const pages: string[] = [];
  const out: Array<SupRecord & { status?: Record<string, unknown> }> = [];
  for (const r of records) {
    let detail = '';
    let status: Record<string, unknown> | undefined;
    if (r.state === SupState.running && r.proctype !== NATS_SERVER_NAME) {
      try {
        const m = await nc.request(subjects.ctl(r.procname, 'status'), '', { timeout: 1_000 });
        const s = (JSON.parse(new TextDecoder().decode(m.data)) as { status: Record<string, unknown> }).status;
        status = s;
        detail = summarize(s);
        if (typeof s.url === 'string') pages.push(`monitor page (${r.procname}): ${s.url}`);
      } catch {
        detail = 'no reply';
      }
    }
    const [state, restarts, lastExit, uptime] = supCells(r, now);
    rows.push([r.procname, r.proctype, r.pid ? String(r.pid) : '', state === 'running' ? 'up' : state, restarts, lastExit, uptime, detail]);
    out.push(status ? { ...r, status } : r);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ type: 'tickbus.v1.up.status', at: new Date(now).toISOString(), processes: out, pages }, jsonReplacer)}\n`);
    return;
  }
  printTable(['procname', 'proctype', 'pid', 'state', 'restarts', 'last exit', 'uptime', 'detail'], rows);
  for (const p of pages) process.stdout.write(`${p}\n`);
}

function summarize(st: Record<string, unknown>): string {
  return Object.entries(st)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ')
    .slice(0, 160);
}
