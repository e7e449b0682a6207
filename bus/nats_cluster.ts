// Embedded local NATS cluster: N nats-servers with JetStream, each on its own free client and
// cluster port and its own store dir, routed to each other (the shape of ops/nats/cluster-*.conf on
// one host). start() returns once JetStream has a meta leader (the account info request answers),
// so streams with `replicas: N` can be created at once. One node can be stopped, SIGKILLed and
// restarted on the same ports and store (the cluster scenario does that mid-ingest).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ErrorCode, TickbusError } from './errors.ts';
import { NatsServer, freePort } from './nats_server.ts';

export interface NatsClusterOptions {
  /** Number of servers (3 for R3 streams; a quorum survives the loss of one). */
  size: number;
  /** Parent of the per-node store dirs (`<dir>/node-<i>`); omitted means a temp dir dispose() deletes. */
  storeDir?: string;
  /** Cluster name (nats-server `cluster.name`). */
  name?: string;
  /** Client ports per node; 0 or omitted picks free ones. */
  ports?: readonly number[];
  /** Bound on the wait for every node to start and for a JetStream meta leader. */
  startTimeoutMs?: number;
  /** Largest message the servers accept (nats-server `max_payload`). */
  maxPayloadBytes?: number;
  /** Run the servers in their own process groups (see NatsServerOptions.detached). */
  detached?: boolean;
  onLog?: (node: string, line: string) => void;
}

export class NatsCluster {
  readonly nodes: NatsServer[] = [];
  /** Server names, `<cluster>-<i>`, as stream info reports them in `cluster.leader`. */
  readonly names: string[] = [];

  private constructor(
    private readonly opts: NatsClusterOptions,
    readonly storeDir: string,
    private readonly ownsStore: boolean,
  ) {}

  /** Every node's client URL (give them all to each client: NATS_URL=a,b,c). */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  static async start(opts: NatsClusterOptions): Promise<NatsCluster> {
    if (!Number.isInteger(opts.size) || opts.size < 1 || opts.size > 9) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `cluster size must be an integer from 1 to 9, got ${opts.size}`, { size: opts.size });
    }
    const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'tickbus-cluster-'));
    const c = new NatsCluster(opts, storeDir, !opts.storeDir);
    const name = opts.name ?? 'tickbus';
    const clusterPorts: number[] = [];
    const clientPorts: number[] = [];
    for (let i = 0; i < opts.size; i++) {
      clusterPorts.push(await freePort());
      clientPorts.push(opts.ports?.[i] || (await freePort()));
    }
    const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`).join(',');
    for (let i = 0; i < opts.size; i++) {
      const serverName = `${name}-${i}`;
      const dir = join(storeDir, `node-${i}`);
      mkdirSync(dir, { recursive: true });
      c.names.push(serverName);
      c.nodes.push(
        new NatsServer({
          port: clientPorts[i],
          storeDir: dir,
          startTimeoutMs: opts.startTimeoutMs ?? 20_000,
          maxPayloadBytes: opts.maxPayloadBytes,
          detached: opts.detached,
          onLog: opts.onLog ? (l) => opts.onLog!(serverName, l) : undefined,
          // A single-node "cluster" needs no routes (and JetStream refuses a cluster of one).
          extraArgs: opts.size === 1 ? ['--name', serverName] : ['--name', serverName, '--cluster_name', name, '--cluster', `nats://127.0.0.1:${clusterPorts[i]}`, '--routes', routes],
        }),
      );
    }
    try {
      // In parallel: each node waits for its routes, and JetStream elects a meta leader only once a quorum is up.
      await Promise.all(c.nodes.map((n) => n.start()));
      await c.waitJetStream(opts.startTimeoutMs ?? 20_000);
    } catch (e) {
      await c.dispose();
      throw e;
    }
    return c;
  }

  /** Index of a node by its server name (as in stream info `cluster.leader`); -1 if unknown. */
  indexOf(serverName: string): number {
    return this.names.indexOf(serverName);
  }

  /**
   * Waits (bounded) until JetStream answers through the given nodes (default: every running
   * node): a meta leader exists and each node takes JetStream API requests.
   */
  async waitJetStream(timeoutMs: number, nodes: readonly number[] = this.nodes.map((_, i) => i).filter((i) => this.nodes[i]!.running)): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (const i of nodes) {
      let nc: NatsConnection | undefined;
      try {
        while (Date.now() < deadline) {
          try {
            nc ??= await connect({ servers: this.nodes[i]!.url, timeout: 1_000, reconnect: false, ignoreClusterUpdates: true });
            const jsm = await jetstreamManager(nc, { timeout: 1_000 });
            await jsm.getAccountInfo();
            break;
          } catch (e) {
            last = (e as Error).message;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        await nc?.close().catch(() => {});
      }
      if (Date.now() >= deadline) {
        throw new TickbusError(ErrorCode.NOT_READY, `JetStream on the ${this.nodes.length}-node cluster had no meta leader reachable through ${this.names[i]} within ${timeoutMs} ms: ${last}`, {
          node: this.names[i],
          timeoutMs,
          last,
        });
      }
    }
  }

  /** Stops one node: SIGTERM (a clean shutdown) or SIGKILL (a crash). Its store is kept. */
  async stopNode(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.node(i).stop({ signal });
  }

  /** Starts a stopped node again on the same ports and store; it rejoins the cluster. */
  async startNode(i: number): Promise<void> {
    await this.node(i).start();
  }

  /** Stops one node with `signal`, waits `downMs`, starts it again. */
  async restartNode(i: number, opts: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    await this.node(i).restart(opts);
  }

  /** Stops every node (the last first); keeps the stores. */
  async stop(): Promise<void> {
    for (const n of [...this.nodes].reverse()) await n.stop();
  }

  /** Stops every node and deletes the stores when this launcher created them. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsStore) rmSync(this.storeDir, { recursive: true, force: true });
  }

  private node(i: number): NatsServer {
    const n = this.nodes[i];
    if (!n) throw new TickbusError(ErrorCode.BAD_CONFIG, `no node ${i} in a cluster of ${this.nodes.length}`, { node: i, size: this.nodes.length });
    return n;
  }
}
