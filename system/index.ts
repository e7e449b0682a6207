// The programmatic entry of tickbus: `import { System } from 'tickbus'` (package.json exports).
// docs/api.md describes it.
export { System, type BasicOptions, type SystemOptions } from './system.ts';
export { TickbusProcess, Tickerplant, Rdb, Hdb, Gateway, processDefaults, type ApiSpec, type ProcessLogs, type ProcessOptions, type Tables } from './process.ts';
export { userCodeLimits } from '../actors/common/user_code.ts';
export { tsWorker } from './ts_worker.ts';
export { Publisher, type Ack, type PublisherOptions, type Update } from '../bus/publisher.ts';
export { GatewayClient, type GatewayCallOptions, type GatewayTarget } from '../bus/gateway_client.ts';
export { ErrorCode, TickbusError } from '../bus/errors.ts';
export { NatsServer } from '../bus/nats_server.ts';
export { RestartPolicy } from '../ops/config.ts';
