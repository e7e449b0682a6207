// A whole system from a script (PyKX's BASIC): an embedded nats-server (unless natsUrl is given)
// and processes started in order, stopped in reverse order. System.basic() is the tickerplant, RDB,
// HDB and gateway `actors up` runs by default, sharing one HDB directory.
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connectBus } from '../bus/connection.ts';
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import { GatewayClient, type GatewayCallOptions, type GatewayTarget } from '../bus/gateway_client.ts';
import { silentLogger } from '../bus/log.ts';
import { NatsServer } from '../bus/nats_server.ts';
import { Publisher, type PublisherOptions } from '../bus/publisher.ts';
import { Gateway, Hdb, Rdb, Tickerplant, TickbusProcess, type ApiSpec, type ProcessLogs, type ProcessOptions, type Tables } from './process.ts';

export interface SystemOptions {
  /** Where data lives: the embedded server's JetStream store (<dataDir>/nats), the HDB, generated configs. */
  dataDir: string;
  /** A nats-server (or cluster, comma separated) to use instead of an embedded one. */
  natsUrl?: string;
  /** Ports: the embedded nats-server's (default a free one). tickbus processes listen on nothing else. */
  ports?: { nats?: number };
  /** Processes in start order (stopped in reverse). */
  processes: TickbusProcess[];
}

export interface BasicOptions {
  tables: Tables;
  dataDir: string;
  /** The HDB directory (the RDB writes it at end of day, the HDB reads it); default <dataDir>/hdb. */
  hdbDir?: string;
  natsUrl?: string;
  ports?: { nats?: number };
  /** For every process (default true). */
  processLogs?: ProcessLogs;
  /** For every process (default 'child'). */
  mode?: ProcessOptions['mode'];
  /** Settings per process type: {tickerplant: {mode: 'immediate'}, rdb: {...}, ...}. */
  settings?: Partial<Record<'tickerplant' | 'rdb' | 'hdb' | 'gateway', Record<string, unknown>>>;
  /** Named APIs per process type, given at construction (they survive restarts). */
  apis?: Partial<Record<'tickerplant' | 'rdb' | 'hdb' | 'gateway', Record<string, ApiSpec>>>;
  /** Libraries for every process (alias -> module). */
  libraries?: Record<string, string>;
  /** In-process mode only: the clock every process runs on (tests inject one). */
  clock?: ProcessOptions['clock'];
}

export class System {
  private server: NatsServer | undefined;
  /** One connection and one gateway client, made on first use (concurrent first uses share them). */
  private nc: Promise<NatsConnection> | undefined;
  private gw: Promise<GatewayClient> | undefined;
  private readonly all: TickbusProcess[];

  constructor(private readonly o: SystemOptions) {
    const names = new Set<string>();
    for (const p of o.processes) {
      if (names.has(p.name)) throw new TickbusError(ErrorCode.BAD_CONFIG, `process name ${p.name} appears twice in the system`, { name: p.name });
      names.add(p.name);
    }
    this.all = [...o.processes];
  }

  /** A tickerplant (tp1), an RDB (rdb1), an HDB (hdb1) and a gateway (gw1) over one HDB directory. */
  static basic(o: BasicOptions): System {
    const dataDir = resolve(o.dataDir);
    const hdbDir = resolve(dataDir, o.hdbDir ?? 'hdb');
    const common = (type: 'tickerplant' | 'rdb' | 'hdb' | 'gateway'): ProcessOptions => ({
      tables: o.tables,
      dataDir,
      ...(o.processLogs !== undefined ? { processLogs: o.processLogs } : {}),
      ...(o.mode ? { mode: o.mode } : {}),
      ...(o.libraries ? { libraries: o.libraries } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.apis?.[type] ? { apis: o.apis[type] } : {}),
      settings: { ...(type === 'rdb' || type === 'hdb' ? { hdbDir } : {}), ...o.settings?.[type] },
    });
    return new System({
      dataDir,
      ...(o.natsUrl ? { natsUrl: o.natsUrl } : {}),
      ...(o.ports ? { ports: o.ports } : {}),
      processes: [new Tickerplant(common('tickerplant')), new Hdb(common('hdb')), new Rdb(common('rdb')), new Gateway(common('gateway'))],
    });
  }

  /** The server every process uses (the embedded one once started). */
  get natsUrl(): string {
    if (this.o.natsUrl) return this.o.natsUrl;
    if (!this.server) throw new TickbusError(ErrorCode.NOT_READY, 'the system is not started: no nats-server yet', {});
    return this.server.url;
  }

  get processes(): readonly TickbusProcess[] {
    return this.all;
  }

  /** A process by name. */
  get(name: string): TickbusProcess {
    const p = this.all.find((x) => x.name === name);
    if (!p) throw new TickbusError(ErrorCode.BAD_QUERY, `no process ${name} in the system (it has ${this.all.map((x) => x.name).join(', ')})`, { name });
    return p;
  }

  private first<T extends TickbusProcess>(type: string): T {
    const p = this.all.find((x) => x.proctype === type);
    if (!p) throw new TickbusError(ErrorCode.BAD_QUERY, `no ${type} in the system`, { type });
    return p as T;
  }

  get tickerplant(): Tickerplant {
    return this.first('tickerplant');
  }
  get rdb(): Rdb {
    return this.first('rdb');
  }
  get hdb(): Hdb {
    return this.first('hdb');
  }
  get gateway(): Gateway {
    return this.first('gateway');
  }

  /** Adds a process (started with start(), or now by its own start() if the system runs). */
  add(p: TickbusProcess): TickbusProcess {
    if (this.all.some((x) => x.name === p.name)) throw new TickbusError(ErrorCode.BAD_CONFIG, `process name ${p.name} appears twice in the system`, { name: p.name });
    this.all.push(p);
    if (this.server || this.o.natsUrl) p.natsUrl = this.natsUrl;
    return p;
  }

  /** Starts the nats-server (embedded) and every process in order, each once the previous is ready. */
  async start(): Promise<void> {
    if (!this.o.natsUrl && !this.server) {
      this.server = new NatsServer({ port: this.o.ports?.nats ?? 0, storeDir: join(resolve(this.o.dataDir), 'nats') });
      await this.server.start();
    } else if (this.server && !this.server.running) await this.server.start();
    for (const p of this.all) {
      p.natsUrl = this.natsUrl;
      await p.start();
    }
  }

  /** Stops every process cleanly in reverse order, then the embedded nats-server. */
  async stop(): Promise<void> {
    const [gw, nc] = [this.gw, this.nc];
    this.gw = this.nc = undefined;
    (await gw?.catch(() => undefined))?.close();
    await (await nc?.catch(() => undefined))?.close().catch(() => {});
    for (const p of [...this.all].reverse()) await p.stop();
    await this.server?.stop();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Kills (hard) the processes with this name, or of this type; answers the names killed. */
  async kill(nameOrType: string): Promise<string[]> {
    const hit = this.all.filter((p) => p.name === nameOrType || p.proctype === nameOrType);
    if (!hit.length) throw new TickbusError(ErrorCode.BAD_QUERY, `no process named or of type ${nameOrType} in the system`, { target: nameOrType, names: this.all.map((p) => p.name) });
    for (const p of hit) await p.kill();
    return hit.map((p) => p.name);
  }

  private connection(): Promise<NatsConnection> {
    this.nc ??= connectBus({ servers: this.natsUrl.split(','), name: 'system', logger: silentLogger });
    return this.nc;
  }

  /** A publisher to the system's tickerplant (bus/publisher.ts); close() it when done. */
  async publisher(o: Partial<PublisherOptions> = {}): Promise<Publisher> {
    return new Publisher(await this.connection(), { tp: this.tickerplant.name, ...o });
  }

  /** A query through the gateway (bus/gateway_client.ts): the result of the backends, joined. */
  async query<T = unknown>(query: unknown, target?: GatewayTarget, o: GatewayCallOptions = {}): Promise<T> {
    this.gw ??= this.connection().then((nc) => new GatewayClient(nc, { gateway: this.gateway.name }));
    return (await (await this.gw).sync<T>(query, target, o)).result;
  }
}
