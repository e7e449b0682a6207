// Connection to NATS with bounded reconnect backoff; status changes are logged.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './log.ts';

export interface ConnectOptions {
  servers: string | string[];
  name: string;
  logger: Logger;
  /** Base delay between reconnect attempts; jitter is added by the client. */
  reconnectWaitMs?: number;
  /** Reconnect attempts before giving up (-1 = forever, the default for long-lived processes). */
  maxReconnectAttempts?: number;
  /** Bound on the initial connect. */
  timeoutMs?: number;
}

export async function connectBus(opts: ConnectOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    reconnect: true,
    maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
    reconnectTimeWait: opts.reconnectWaitMs ?? 250,
    reconnectJitter: 100,
    timeout: opts.timeoutMs ?? 5_000,
    waitOnFirstConnect: false,
    pingInterval: 10_000,
    maxPingOut: 3,
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
