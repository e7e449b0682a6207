// `actors up --secure` / `--tls`: one NATS user per role with a random password, kept in a
// credentials file per role (mode 0600, in `<data>/secure`), and the nats-server configuration
// (users with the permissions of ops/security/roles.ts, and the TLS block) built from them.
// Idempotent: existing credentials and certificates are kept, so processes started earlier and
// clients given a file keep working across restarts.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { CREDS_TYPE, type Creds } from '../../bus/connection.ts';
import { ROLES, rolePermissions, type Role, type RoleContext } from './roles.ts';
import { ensureTlsFiles, type TlsFiles } from './tls.ts';

export interface SecureSetup {
  dir: string;
  /** Credentials file of each role. */
  credsFiles: Record<Role, string>;
  /** Server configuration (`authorization`, and `tls` when asked) for NatsServer's `config`. */
  serverConfig: Record<string, unknown>;
  /** Where NatsServer should write it (mode 0600: it holds the passwords). */
  serverConfigPath: string;
  tls?: TlsFiles;
}

export interface SecureOptions extends RoleContext {
  /** Directory of the credentials, certificates and server config (created 0700). */
  dir: string;
  /** Users and permissions per role. */
  users: boolean;
  /** TLS for client connections (a self-signed CA and a server certificate made with openssl). */
  tls: boolean;
}

/** Reads or creates the credentials of one role. */
export function ensureCreds(dir: string, role: Role): { path: string; creds: Creds } {
  const path = join(dir, `${role}.creds.json`);
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    return { path, creds: readCreds(path) };
  }
  const creds: Creds = { type: CREDS_TYPE, role, user: role, password: randomBytes(24).toString('base64url') };
  writeFileSync(path, `${JSON.stringify(creds)}\n`, { mode: 0o600, flag: 'wx' });
  return { path, creds };
}

function readCreds(path: string): Creds {
  let c: Partial<Creds>;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as Partial<Creds>;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `credentials file ${path} is not JSON: ${(e as Error).message}`, { path });
  }
  if (c.type !== CREDS_TYPE || typeof c.user !== 'string' || typeof c.password !== 'string' || c.password.length < 16) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `credentials file ${path} must be {"type":"${CREDS_TYPE}","user":...,"password":... (16+ chars)}`, { path });
  }
  return c as Creds;
}

/** The `authorization` block: one user per role with its permissions. */
export function authorization(users: { creds: Creds; role: Role }[], ctx: RoleContext): Record<string, unknown> {
  return {
    users: users.map(({ creds, role }) => {
      const p = rolePermissions(role, ctx);
      return { user: creds.user, password: creds.password, permissions: { publish: { allow: p.publish }, subscribe: { allow: p.subscribe } } };
    }),
  };
}

export function prepareSecurity(o: SecureOptions): SecureSetup {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  chmodSync(o.dir, 0o700);
  const credsFiles = {} as Record<Role, string>;
  const serverConfig: Record<string, unknown> = {};
  if (o.users) {
    const users = ROLES.map((role) => {
      const { path, creds } = ensureCreds(o.dir, role);
      credsFiles[role] = path;
      return { creds, role };
    });
    serverConfig.authorization = authorization(users, o);
  }
  let tls: TlsFiles | undefined;
  if (o.tls) {
    tls = ensureTlsFiles(o.dir);
    serverConfig.tls = { cert_file: tls.certFile, key_file: tls.keyFile, ca_file: tls.caFile, timeout: 5 };
  }
  // Written here too (NatsServer rewrites it when it runs the server): a server run by hand takes
  // `nats-server -js -sd <store> -c <dir>/nats-server.conf` (docs/security.md).
  const serverConfigPath = join(o.dir, 'nats-server.conf');
  writeFileSync(serverConfigPath, `${JSON.stringify(serverConfig, null, 2)}\n`, { mode: 0o600 });
  chmodSync(serverConfigPath, 0o600);
  return { dir: o.dir, credsFiles, serverConfig, serverConfigPath, tls };
}

/** The environment a process (or CLI) started by `actors up` gets: its role's credentials and the CA. */
export function securityEnv(s: SecureSetup | undefined, role: Role | undefined): Record<string, string> {
  if (!s) return {};
  return {
    ...(role && s.credsFiles[role] ? { TICKBUS_CREDS: s.credsFiles[role] } : {}),
    ...(s.tls ? { TICKBUS_TLS_CA: s.tls.caFile } : {}),
  };
}
