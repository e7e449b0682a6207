// `actors start <proctype> --name <procname>`: one process in the foreground.
import { createLogger } from '../../bus/log.ts';
import { LogForwarder } from '../../bus/log_forward.ts';
import { ProcessRuntime } from '../../actors/common/runtime.ts';
import { clockFromEnv } from '../../actors/common/clock.ts';
import { loadUserCode, type UserCode } from '../../actors/common/user_code.ts';
import type { UsageSettings } from '../../bus/usage.ts';
import { processType, processTypes } from '../../actors/registry.ts';
import { parseOverrides, readConfig, settingsFor } from '../config.ts';
import { replicasFromEnv, withReplicas } from './cluster.ts';
import { configPath, natsServers, usageError, type Args, type Command } from './args.ts';
import { SuperviseAction, superviseCli } from './supervise_cmd.ts';

export const startCommand: Command = {
  usage: `  actors start <proctype> --name <procname> [--config ops/config.json] [--set key=value ...]
      run one process in the foreground (NATS_URL, default nats://127.0.0.1:4222); settings
      cascade: defaults of the type, the process's own in the config, then --set
  actors start <procname> [--launcher up] [--timeout 30000]
      ask the running launcher (actors up) to start one of its processes (stopped or failed)
`,
  flags: ['name', 'config', 'set', 'launcher', 'timeout'],
  // With --name it is a process to run here; a lone procname (not a process type, which needs
  // --name) is one the launcher runs.
  run: (a) => (a.positional.length === 1 && !a.flags.has('name') && !Object.hasOwn(processTypes, a.positional[0]!) ? superviseCli(a, SuperviseAction.start) : startOne(a, configPath(a))),
};

async function startOne(a: Args, cfgPath: string): Promise<number> {
  const proctype = a.positional[0];
  const name = a.flags.get('name');
  if (!proctype || !name) throw usageError('actors start needs a process type and --name: actors start <proctype> --name <procname>', { proctype: proctype ?? null, name: name ?? null });
  const cfg = readConfig(cfgPath);
  // On a cluster (`actors up --cluster N`) streams and buckets take N replicas unless configured.
  const replicas = replicasFromEnv();
  // userCode: the libraries, named APIs and timers a script gave the process (system/, docs/api.md).
  const { userCode, ...settings } = withReplicas(proctype, settingsFor(cfg, proctype, name, parseOverrides(a.sets)), replicas);
  const type = processType(proctype);
  // Warn and error lines also go out on log.<proctype>.<name> for the monitor's page.
  const logForwarder = new LogForwarder();
  const logger = createLogger({ proctype, name }, undefined, logForwarder);
  const rt = new ProcessRuntime({
    proctype,
    name,
    servers: natsServers(),
    logger,
    registryReplicas: replicas,
    logForwarder,
    // `heartbeatMs` in the config or --set (tests use short beats); default 1000.
    heartbeatMs: typeof settings.heartbeatMs === 'number' ? settings.heartbeatMs : undefined,
    subjects: type.subjects(name, settings),
    // Discovery attributes: the tables, plus anything configured (`"attributes": {"region": "eu"}`).
    attributes: { tables: Object.keys(cfg.tables), ...((settings.attributes as Record<string, unknown> | undefined) ?? {}) },
    start: (nc, ctx) => type.start(nc, name, settings, logger, ctx),
    // The usage log's bounds (bus/usage.ts): `"usage": {"queueMax": 50000, "maxAgeMs": ...}` in the config.
    usage: settings.usage as Partial<UsageSettings> | undefined,
    // Simulated time (TICKBUS_SIM_CLOCK, scenarios only): the process's day, stamps and timers.
    clock: clockFromEnv(),
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
    const code = await loadUserCode(userCode as UserCode | undefined, rt.apis, logger);
    void rt.stopped.then(() => code.stop());
    await rt.start();
    code.startTimers();
    started = true;
  } catch (e) {
    logger.error({ err: (e as Error).message }, 'process failed to start');
    await rt.stop().catch(() => {});
    return 1;
  }
  await rt.stopped;
  return 0;
}

