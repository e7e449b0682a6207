// Connection to NATS with bounded reconnect backoff; status changes are logged. Credentials and
// TLS come from the environment (securityOptions), never from arguments that could be logged.
import { readFileSync } from 'node:fs';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, TickbusError } from './errors.ts';
import type { Logger } from './log.ts';

export const CREDS_TYPE = 'tickbus.v1.creds';

/** A credentials file (`actors up --secure` writes one per role, mode 0600; ops/security/setup.ts). */
export interface Creds {
  type: typeof CREDS_TYPE;
  role: string;
  user: string;
  password: string;
}

/**
 * The user, password and TLS options of every connection of this process: `TICKBUS_CREDS` names a
 * credentials file, `TICKBUS_TLS_CA` the CA that signed the server's certificate (and turns TLS
 * on), `TICKBUS_TLS_CERT`/`TICKBUS_TLS_KEY` a client certificate when the server verifies
 * clients. Nothing set: no options (the default, open server). A bad file is BAD_CONFIG naming
 * the file, never its content.
 */
export function securityOptions(env: NodeJS.ProcessEnv = process.env): Pick<ConnectionOptions, 'user' | 'pass' | 'tls'> {
  const o: Pick<ConnectionOptions, 'user' | 'pass' | 'tls'> = {};
  const credsPath = env.TICKBUS_CREDS;
  if (credsPath) {
    let c: Partial<Creds>;
    try {
      c = JSON.parse(readFileSync(credsPath, 'utf8')) as Partial<Creds>;
    } catch (e) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `TICKBUS_CREDS ${credsPath} cannot be read as JSON: ${(e as NodeJS.ErrnoException).code ?? 'parse error'}`, { path: credsPath });
    }
    if (c.type !== CREDS_TYPE || typeof c.user !== 'string' || typeof c.password !== 'string') {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `TICKBUS_CREDS ${credsPath} is not a ${CREDS_TYPE} file with user and password`, { path: credsPath });
    }
    o.user = c.user;
    o.pass = c.password;
  }
  if (env.TICKBUS_TLS_CA || env.TICKBUS_TLS_CERT) {
    o.tls = {
      ...(env.TICKBUS_TLS_CA ? { caFile: env.TICKBUS_TLS_CA } : {}),
      ...(env.TICKBUS_TLS_CERT ? { certFile: env.TICKBUS_TLS_CERT, keyFile: env.TICKBUS_TLS_KEY } : {}),
    };
  }
  return o;
}

export interface ConnectOptions {
  servers: string | string[];
  name: string;
  logger: Logger;
  /** Base delay between reconnect attempts; jitter is added by the client. */
  reconnectWaitMs?: number;
  /** Reconnect attempts before giving up (-1 = forever, the default for long-lived processes). */
  maxReconnectAttempts?: number;
  /** Bound on one connection attempt. */
  timeoutMs?: number;
  /**
   * Bound on the wait for a server at start (default 60 s). A process started while nats-server
   * is restarting (after a crash, under a supervisor) waits for it instead of exiting at once.
   */
  firstConnectWaitMs?: number;
  /** User, password and TLS; default securityOptions() (from the environment). */
  security?: Pick<ConnectionOptions, 'user' | 'pass' | 'tls'>;
}

export async function connectBus(opts: ConnectOptions): Promise<NatsConnection> {
  const waitMs = opts.firstConnectWaitMs ?? 60_000;
  const connecting = connect({
    servers: opts.servers,
    name: opts.name,
    reconnect: true,
    maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
    reconnectTimeWait: opts.reconnectWaitMs ?? 250,
    reconnectJitter: 100,
    timeout: opts.timeoutMs ?? 5_000,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    maxPingOut: 3,
    ...(opts.security ?? securityOptions()),
  });
  const notice = setTimeout(() => opts.logger.warn({ servers: opts.servers, waitMs }, 'waiting for nats-server'), 1_000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const nc = await Promise.race([
    connecting,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The attempt goes on in the background; close it if it ever succeeds.
        void connecting.then((late) => late.close()).catch(() => {});
        reject(new TickbusError(ErrorCode.NOT_READY, `no nats-server at ${String(opts.servers)} within ${waitMs} ms`, { servers: opts.servers, waitMs }));
      }, waitMs);
    }),
  ]).finally(() => {
    clearTimeout(timer);
    clearTimeout(notice);
  });
  opts.logger.debug({ server: nc.getServer() }, 'nats connected');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'ping' || s.type === 'update') continue;
      const level = s.type === 'disconnect' || s.type === 'error' ? 'warn' : 'info';
      opts.logger[level]({ status: s.type, ...('server' in s ? { server: s.server } : {}) }, `nats ${s.type}`);
    }
  })().catch(() => {});
  return nc;
}
