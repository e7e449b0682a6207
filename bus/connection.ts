// Connection to NATS with bounded reconnect backoff; status changes are logged.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, TickbusError } from './errors.ts';
import type { Logger } from './log.ts';

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
