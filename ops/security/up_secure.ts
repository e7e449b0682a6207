// The `--secure` and `--tls` flags of `actors up`: what the launcher needs from ops/security
// (the server's extra config, each child's environment, the launcher's own connection options),
// kept here so that ops/cli/up.ts changes by a few lines.
import { join } from 'node:path';
import type { ConnectionOptions } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Args } from '../cli/args.ts';
import { isRole, type Role } from './roles.ts';
import { prepareSecurity, securityEnv, type SecureSetup } from './setup.ts';

export const UP_SECURITY_USAGE = `      --secure: one NATS user per role with the permissions of docs/security.md; credentials in
      <data>/secure/<role>.creds.json (0600), each process gets its role's (TICKBUS_CREDS)
      --tls: TLS for client connections (a CA and server certificate made with openssl in <data>/secure)
`;

export interface UpSecurity {
  setup: SecureSetup;
  /** NatsServer options for the embedded server. */
  server: { config: Record<string, unknown>; configPath: string };
  /** The environment of the child running `proctype`. */
  childEnv(proctype: string): Record<string, string>;
  /** The launcher's own connection options (admin). */
  launcher(): Pick<ConnectionOptions, 'user' | 'pass' | 'tls'>;
}

/** The role a process type runs as; a type without a role is BAD_CONFIG under --secure. */
export function roleOfProctype(proctype: string): Role {
  if (isRole(proctype) && proctype !== 'client' && proctype !== 'admin') return proctype;
  throw new TickbusError(ErrorCode.BAD_CONFIG, `process type ${proctype} has no role in ops/security/roles.ts; add one to run it with --secure`, { proctype });
}

/** undefined when neither flag is given (the default, open server: unchanged behaviour). */
export function upSecurity(a: Args, dataDir: string, procs: { proctype: string; procname: string }[], logger: Logger): UpSecurity | undefined {
  const users = a.flags.has('secure');
  const tls = a.flags.has('tls');
  if (!users && !tls) return undefined;
  const tps = procs.filter((p) => p.proctype === 'tickerplant').map((p) => p.procname);
  if (users) for (const p of procs) roleOfProctype(p.proctype);
  const streamManagers = procs.filter((p) => p.proctype === 'streams').map((p) => p.procname);
  const chainedTps = procs.filter((p) => p.proctype === 'chainedtp').map((p) => p.procname);
  const setup = prepareSecurity({ dir: join(dataDir, 'secure'), users, tls, tps: tps.length ? tps : ['tp1'], streamManagers, chainedTps });
  // Paths only: the files hold the secrets.
  logger.info({ dir: setup.dir, users, tls, serverConfig: setup.serverConfigPath }, 'secure mode: credentials and server config');
  return {
    setup,
    server: { config: setup.serverConfig, configPath: setup.serverConfigPath },
    childEnv: (proctype) => securityEnv(setup, users ? roleOfProctype(proctype) : undefined),
    launcher: () => securityOptions({ ...securityEnv(setup, users ? 'admin' : undefined) }),
  };
}
