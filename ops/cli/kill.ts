// `actors kill --type rdb | --name rdb1 | --all`: stops processes cleanly and says, per process,
// how. A process under a launcher (`actors up`, KV `sup`) is stopped by its launcher (so its
// restart policy does not bring it back: it becomes `stopped`); otherwise, or when no launcher
// answers, over ctl.<name>.stop; a process still alive after the bound gets SIGTERM, then SIGKILL,
// when it runs on this host (pid and host from the registry, KV `proc`). Each step has a bound.
import { readFileSync } from 'node:fs';
import { securityOptions } from '../../bus/connection.ts';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import { kv, subjects } from '../../bus/subjects.ts';
import type { ProcessInfo } from '../../actors/common/runtime.ts';
import { natsServers, usageError, type Args, type Command } from './args.ts';
import { askLauncher, SuperviseAction } from './supervise_cmd.ts';
import { readSupRecords } from './sup_store.ts';
import { exitText, SupState, type SupRecord } from './supervisor.ts';
import { printTable } from './table.ts';

export const killCommand: Command = {
  usage: `  actors kill (--name <procname> | --type <proctype> | --all) [--timeout 10000]
      stop processes cleanly: through their launcher (actors up) when supervised, so they stay
      stopped; else over ctl.<name>.stop; a local process that has not exited within --timeout ms
      gets SIGTERM, then SIGKILL after as long again. Prints what happened to each
`,
  flags: ['name', 'type', 'all', 'timeout'],
  run: (a) => kill(a),
};

export interface KillTarget {
  procname: string;
  proctype: string;
  reg?: ProcessInfo;
  sup?: SupRecord;
}

export interface KillOutcome {
  procname: string;
  proctype: string;
  how: string;
  stopped: boolean;
  ms: number;
}

/** Registered processes (KV `proc`), by procname. */
async function readRegistry(nc: NatsConnection): Promise<Map<string, ProcessInfo>> {
  const out = new Map<string, ProcessInfo>();
  try {
    const bucket = await new Kvm(jetstream(nc, { timeout: 2_000 })).open(kv.registryBucket);
    const keys: string[] = [];
    for await (const k of await bucket.keys()) keys.push(k);
    for (const k of keys) {
      const e = await bucket.get(k);
      if (e?.operation === 'PUT') {
        const info = e.json<ProcessInfo>();
        out.set(info.name, info);
      }
    }
  } catch {
    // no registry: nothing registered
  }
  return out;
}

/** The processes a selector names; an empty result for --name or --type is a typed error. */
export function selectTargets(reg: Map<string, ProcessInfo>, sups: Map<string, SupRecord>, sel: { name?: string; type?: string; all?: boolean }): KillTarget[] {
  const names = new Set([...reg.keys(), ...sups.keys()]);
  const all = [...names].map((n) => ({ procname: n, proctype: reg.get(n)?.proctype ?? sups.get(n)!.proctype, reg: reg.get(n), sup: sups.get(n) }));
  // The embedded nats-server is only stopped when named: --all means the processes.
  const picked = sel.name ? all.filter((t) => t.procname === sel.name) : sel.type ? all.filter((t) => t.proctype === sel.type) : all.filter((t) => t.proctype !== 'nats-server');
  if (picked.length === 0 && !sel.all) {
    const what = sel.name ? `process ${sel.name}` : `process of type ${sel.type}`;
    throw new TickbusError(ErrorCode.NO_MATCHING_PROCESS, `no ${what} is registered or supervised`, { ...sel, known: [...names] });
  }
  return picked;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether pid runs; a zombie (exited, its parent not yet told) counts as gone (Linux /proc). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Whether the process has gone within timeoutMs: its pid (local) or its ctl.status (remote). */
async function goneWithin(nc: NatsConnection, t: KillTarget, local: boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (local && t.reg) {
      if (!alive(t.reg.pid)) return true;
    } else {
      const answers = await nc.request(subjects.ctl(t.procname, 'status'), '', { timeout: 300 }).then(
        () => true,
        () => false,
      );
      if (!answers) return true;
    }
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** Stops one process; never throws (the outcome says what failed). */
export async function killOne(nc: NatsConnection, t: KillTarget, timeoutMs: number): Promise<KillOutcome> {
  const t0 = Date.now();
  const done = (how: string, stopped: boolean): KillOutcome => ({ procname: t.procname, proctype: t.proctype, how, stopped, ms: Date.now() - t0 });
  const notes: string[] = [];
  if (t.sup && t.sup.state !== SupState.stopped) {
    try {
      // The launcher steps through ctl stop, SIGTERM and SIGKILL itself, each within its stopGraceMs.
      const r = await askLauncher(nc, t.sup.launcher, SuperviseAction.stop, t.procname, 3 * timeoutMs + 5_000);
      return done(`stopped by launcher ${t.sup.launcher}${r.lastExit ? ` (exit ${exitText(r.lastExit)})` : ''}; it stays stopped`, r.state === SupState.stopped);
    } catch (e) {
      notes.push(`launcher ${t.sup.launcher}: ${toTickbusError(e).message}`);
    }
  }
  if (!t.reg) return done(notes.length ? notes.join('; ') : 'not running', notes.length === 0);
  const local = t.reg.host === hostname();
  const ctlOk = await nc.request(subjects.ctl(t.procname, 'stop'), '', { timeout: Math.min(timeoutMs, 2_000) }).then(
    () => true,
    () => false,
  );
  if (ctlOk && (await goneWithin(nc, t, local, timeoutMs))) return done([...notes, 'stopped over ctl stop'].join('; '), true);
  notes.push(ctlOk ? `ctl stop answered but still running after ${timeoutMs} ms` : 'no answer to ctl stop');
  if (!local) return done([...notes, `runs on ${t.reg.host}: cannot signal it from here`].join('; '), false);
  if (!alive(t.reg.pid)) return done([...notes, 'not running (stale registry entry)'].join('; '), true);
  process.kill(t.reg.pid, 'SIGTERM');
  if (await goneWithin(nc, t, true, timeoutMs)) return done([...notes, 'stopped by SIGTERM'].join('; '), true);
  process.kill(t.reg.pid, 'SIGKILL');
  const gone = await goneWithin(nc, t, true, 2_000);
  return done([...notes, `no exit ${timeoutMs} ms after SIGTERM; ${gone ? 'killed by SIGKILL' : 'still alive after SIGKILL'}`].join('; '), gone);
}

async function kill(a: Args): Promise<number> {
  const name = a.flags.get('name');
  const type = a.flags.get('type');
  const all = a.flags.has('all');
  const timeoutMs = Number(a.flags.get('timeout') ?? 10_000);
  if ([name, type, all || undefined].filter(Boolean).length !== 1) throw usageError('actors kill takes one of --name <procname>, --type <proctype>, --all');
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 300_000) throw usageError(`--timeout ${a.flags.get('timeout')} is not an integer in [100, 300000] ms`);
  const nc = await connect({ servers: natsServers(), name: 'actors-kill', ...securityOptions(), timeout: 2_000 });
  try {
    const [reg, sups] = await Promise.all([readRegistry(nc), readSupRecords(nc)]);
    const targets = selectTargets(reg, sups, { name, type, all });
    // Feeds and gateways first, the tickerplant last (the reverse of the start order).
    const order = ['feed', 'gateway', 'monitor', 'hdb', 'rdb', 'chainedtp', 'tickerplant'];
    targets.sort((x, y) => order.indexOf(x.proctype) - order.indexOf(y.proctype));
    const outcomes: KillOutcome[] = [];
    for (const t of targets) outcomes.push(await killOne(nc, t, timeoutMs));
    printTable(
      ['procname', 'proctype', 'stopped', 'ms', 'how'],
      outcomes.map((o) => [o.procname, o.proctype, o.stopped ? 'yes' : 'NO', String(o.ms), o.how]),
    );
    return outcomes.every((o) => o.stopped) ? 0 : 1;
  } finally {
    await nc.close();
  }
}
