// One process of the process table as a child OS process: `actors start <proctype> --name <procname>`
// with the launcher's config, ready once it answers ctl.<name>.status from this run, stopped over
// ctl.<name>.stop. Used by `actors up` (ops/cli/up.ts) and the programmatic API (system/).
import { spawn, type StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { subjects } from '../../bus/subjects.ts';
import type { ProcessRow } from '../config.ts';
import { nodeFlags, tsxImport } from '../node_flags.mjs';
import type { UpSecurity } from '../security/up_secure.ts';
import { root } from './args.ts';
import type { ChildSpec, ExitInfo, Launched } from './supervisor.ts';

/** Bound on the wait for a started process to answer ctl.<name>.status. */
export const READY_TIMEOUT_MS = 60_000;
/** Bound on the wait for ctl.<name>.stop's reply (the stop itself is bounded by stopGraceMs). */
const CTL_STOP_TIMEOUT_MS = 2_000;

export interface ChildEnv {
  url: string;
  cfgPath: string;
  dataDir: string;
  nc: () => NatsConnection;
  sec: UpSecurity | undefined;
  /** More environment (a cluster's NATS_URL and TICKBUS_REPLICAS). */
  env?: Record<string, string>;
  /** The child's stdio, asked at each launch; default stdin ignored, stdout and stderr the launcher's (system/ gives a log file or none). */
  stdio?: () => StdioOptions;
}

/** How `actors up` (and the programmatic API, system/) runs one process: `actors start <type>` as a child. */
export function childSpec(p: ProcessRow, e: ChildEnv): ChildSpec {
  return {
    procname: p.procname,
    proctype: p.proctype,
    policy: p.restartpolicy,
    launch: (): Launched => {
      const proc = spawn(process.execPath, [...nodeFlags(), ...tsxImport(), join(root, 'ops', 'cli', 'main.ts'), 'start', p.proctype, '--name', p.procname, '--config', e.cfgPath], {
        stdio: e.stdio?.() ?? ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, NATS_URL: e.url, ...e.env, TICKBUS_PARENT_PID: String(process.pid), TICKBUS_DATA: e.dataDir, ...e.sec?.childEnv(p.proctype) },
        detached: true, // own process group: Ctrl-C reaches the launcher, which stops children in order
      });
      const exited = new Promise<ExitInfo>((r) => {
        proc.once('exit', (code, signal) => r({ code, signal }));
        proc.once('error', () => r({ code: 1, signal: null }));
      });
      return {
        pid: proc.pid,
        exited,
        kill: (sig) => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
        },
      };
    },
    ready: async (l) => {
      let gone = false;
      void l.exited.then(() => (gone = true));
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (Date.now() < deadline && !gone) {
        try {
          const m = await e.nc().request(subjects.ctl(p.procname, 'status'), '', { timeout: 500 });
          // A reply from this run, not from a previous one still stopping.
          if ((JSON.parse(new TextDecoder().decode(m.data)) as { pid?: number }).pid === l.pid) return true;
        } catch {
          // not answering yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    },
    askStop: async () => {
      await e.nc().request(subjects.ctl(p.procname, 'stop'), '', { timeout: CTL_STOP_TIMEOUT_MS });
      return true;
    },
  };
}
