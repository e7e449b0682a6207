// The supervision protocol (`ctl.<launcher>.supervise`) on both sides, and the commands that use
// it: `actors start <procname>` and `actors restart <procname>` ask the running launcher (`actors
// up`) to start or restart one of its processes; `actors kill` asks it to stop one (ops/cli/kill.ts).
import { RequestError, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { securityOptions } from '../../bus/connection.ts';
import { connect } from '@nats-io/transport-node';
import { ErrorCode, TickbusError, isErrorEnvelope, toTickbusError } from '../../bus/errors.ts';
import { assertName, subjects } from '../../bus/subjects.ts';
import { natsServers, usageError, type Args, type Command } from './args.ts';
import { readSupRecord } from './sup_store.ts';
import { exitText, type Supervisor, type SupRecord } from './supervisor.ts';

export const SUPERVISE_TYPE = 'tickbus.v1.supervise' as const;
export const SUPERVISE_REPLY_TYPE = 'tickbus.v1.supervise.reply' as const;
export const SuperviseAction = { start: 'start', stop: 'stop', restart: 'restart' } as const;
export type SuperviseAction = (typeof SuperviseAction)[keyof typeof SuperviseAction];
const ACTIONS: readonly string[] = Object.values(SuperviseAction);

export interface SuperviseRequest {
  type?: typeof SUPERVISE_TYPE;
  action: SuperviseAction;
  name: string;
}

export interface SuperviseReply {
  type: typeof SUPERVISE_REPLY_TYPE;
  action: SuperviseAction;
  record: SupRecord;
}

/** Default launcher name (`actors up --name`). */
export const DEFAULT_LAUNCHER = 'up';

export function parseSuperviseRequest(data: Uint8Array): SuperviseRequest {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_ENCODING, `supervise request is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null) throw new TickbusError(ErrorCode.BAD_QUERY, 'supervise request is not an object');
  if (v.type !== undefined && v.type !== SUPERVISE_TYPE) throw new TickbusError(ErrorCode.BAD_TYPE, `supervise request type ${JSON.stringify(v.type)} is not ${SUPERVISE_TYPE}`, { expected: SUPERVISE_TYPE });
  if (typeof v.action !== 'string' || !ACTIONS.includes(v.action)) {
    throw new TickbusError(ErrorCode.BAD_QUERY, `supervise action ${JSON.stringify(v.action)} is not one of ${ACTIONS.join(', ')}`, { field: 'action', allowed: ACTIONS });
  }
  if (typeof v.name !== 'string' || v.name === '') throw new TickbusError(ErrorCode.BAD_QUERY, 'supervise request needs a name (a procname)', { field: 'name' });
  return { action: v.action as SuperviseAction, name: v.name };
}

/** The launcher's side: answers one request from its supervisor. */
export async function answerSupervise(sup: Supervisor, m: Msg): Promise<void> {
  // A message pushed from a stream (reply `$JS.ACK...`) is no request: see decision 62.
  if (m.reply?.startsWith('$JS.')) return;
  let body: unknown;
  try {
    const req = parseSuperviseRequest(m.data);
    const record = await sup[req.action](req.name); // stop without force: refusals stand
    body = { type: SUPERVISE_REPLY_TYPE, action: req.action, record } satisfies SuperviseReply;
  } catch (e) {
    body = toTickbusError(e).toEnvelope();
  }
  if (m.reply) m.respond(JSON.stringify(body));
}

/**
 * Asks a launcher to start, stop or restart one process; resolves with its record after the
 * action. NO_RESPONDERS when no launcher of that name runs; TIMEOUT after timeoutMs.
 */
export async function askLauncher(nc: NatsConnection, launcher: string, action: SuperviseAction, name: string, timeoutMs: number): Promise<SupRecord> {
  let m: Msg;
  try {
    m = await nc.request(subjects.supervise(launcher), JSON.stringify({ type: SUPERVISE_TYPE, action, name }), { timeout: timeoutMs });
  } catch (e) {
    if (e instanceof RequestError && e.isNoResponders()) {
      throw new TickbusError(ErrorCode.NO_RESPONDERS, `no launcher ${launcher} is running (nothing answers ${subjects.supervise(launcher)})`, { launcher });
    }
    throw new TickbusError(ErrorCode.TIMEOUT, `launcher ${launcher} did not answer ${action} ${name} within ${timeoutMs} ms`, { launcher, action, name, timeoutMs });
  }
  const v = JSON.parse(new TextDecoder().decode(m.data)) as SuperviseReply | unknown;
  if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
  return (v as SuperviseReply).record;
}

/** The launcher that supervises a process: its `sup` record's, else --launcher, else `up`. */
export async function launcherOf(nc: NatsConnection, name: string, flag: string | undefined): Promise<string> {
  if (flag) return assertName('launcher', flag);
  const r = await readSupRecord(nc, name).catch(() => undefined);
  return r?.launcher ?? DEFAULT_LAUNCHER;
}

export function describeRecord(r: SupRecord): string {
  const exit = r.lastExit ? `; last exit ${exitText(r.lastExit)} at ${r.lastExit.at}` : '';
  return `${r.procname} (${r.proctype}) is ${r.state}${r.pid ? `, pid ${r.pid}` : ''}; restarts ${r.restarts}${exit}`;
}

/** `actors start <procname>` and `actors restart <procname>`: one request to the launcher. */
export async function superviseCli(a: Args, action: SuperviseAction): Promise<number> {
  const name = a.positional[0];
  if (!name || a.positional.length > 1) throw usageError(`actors ${action} takes one procname`, { positional: a.positional });
  const timeoutMs = Number(a.flags.get('timeout') ?? 30_000);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw usageError(`--timeout ${a.flags.get('timeout')} is not an integer in [100, 600000] ms`);
  const nc = await connect({ servers: natsServers(), name: `actors-${action}`, ...securityOptions(), timeout: 2_000 });
  try {
    const launcher = await launcherOf(nc, name, a.flags.get('launcher'));
    const r = await askLauncher(nc, launcher, action, name, timeoutMs);
    process.stdout.write(`${describeRecord(r)} (launcher ${launcher})\n`);
    return 0;
  } finally {
    await nc.close();
  }
}

export const restartCommand: Command = {
  usage: `  actors restart <procname> [--launcher up] [--timeout 30000]
      ask the running launcher (actors up) to stop one of its processes and start it again
      (its crash history forgotten); also brings back a process marked failed
`,
  flags: ['launcher', 'timeout'],
  run: (a) => superviseCli(a, SuperviseAction.restart),
};
