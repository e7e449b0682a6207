// StreamManager (Kemux's Manager): holds stream definitions, loads a streamsDir, starts the
// streams producer-first and stops them. Not a singleton (Kemux's init returns the first instance
// for ever): each init is its own manager, named, with its own JetStream stream.
//
//   const m = StreamManager.init({ name: 'kemux', natsUrl, dataDir });
//   m.addStream('splitter', input, outputs);
//   await m.start();  ...  await m.stop();
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { silentLogger, type Logger } from '../../bus/log.ts';
import { ensureStream, manager } from '../../bus/streams.ts';
import { checkDefinition, type StreamInput, type StreamOutputs } from './define.ts';
import type { StreamDefinition } from './define.ts';
import { loadStreamsDir, type LoadError } from './loader.ts';
import { StreamRunner, type StreamStatus } from './runner.ts';
import { streamsSettings, streamsStreamConfig, type StreamsSettings } from './settings.ts';
import { startOrder } from './topo.ts';

export interface StreamManagerOptions extends Partial<Omit<StreamsSettings, 'name' | 'dataDir'>> {
  name: string;
  /** The NATS server(s); ignored when `nc` is given. */
  natsUrl?: string;
  /** A connection to use (the process runtime's); the manager then does not close it. */
  nc?: NatsConnection;
  dataDir: string;
  logger?: Logger;
}

/** Streams one manager may run. */
export const STREAMS_MAX = 256;

export interface ManagerStatus {
  name: string;
  state: 'idle' | 'running' | 'stopped';
  /** Start order (producers first). */
  order: string[];
  streams: StreamStatus[];
  /** Stream files that did not load, by file, with the reason. */
  loadErrors: LoadError[];
}

export class StreamManager {
  private readonly defs = new Map<string, StreamDefinition>();
  private readonly runners = new Map<string, StreamRunner>();
  private loadErrors: LoadError[] = [];
  private order: string[] = [];
  private state: ManagerStatus['state'] = 'idle';
  private nc: NatsConnection | undefined;
  private readonly ownsConnection: boolean;
  readonly settings: StreamsSettings;

  private constructor(
    private readonly o: StreamManagerOptions,
    private readonly logger: Logger,
  ) {
    const { natsUrl: _u, nc, logger: _l, ...rest } = o;
    this.settings = streamsSettings(rest);
    this.nc = nc;
    this.ownsConnection = !nc;
    if (!nc && !o.natsUrl) throw new TickbusError(ErrorCode.BAD_CONFIG, 'StreamManager needs natsUrl or nc', { manager: o.name });
  }

  static init(o: StreamManagerOptions): StreamManager {
    return new StreamManager(o, o.logger ?? silentLogger);
  }

  /** Adds a stream (Kemux add_stream); after start() it starts at once. */
  addStream(name: string, input: StreamInput<any, any>, outputs: StreamOutputs): void {
    const def = checkDefinition(name, { input, outputs });
    if (this.defs.has(name)) throw new TickbusError(ErrorCode.BAD_CONFIG, `stream ${name} is already added`, { stream: name });
    if (this.defs.size >= STREAMS_MAX) throw new TickbusError(ErrorCode.BAD_CONFIG, `more than ${STREAMS_MAX} streams`, { stream: name });
    this.defs.set(name, def);
    this.order = startOrder(this.defs); // a cycle is refused here, before anything runs
    if (this.state === 'running') {
      this.startOne(name).catch((e) => this.logger.error({ stream: name, err: (e as Error).message }, 'stream did not start'));
    }
  }

  /** Removes a stream (Kemux remove_stream: a missing name is logged, not an error); its durable position stays. */
  async removeStream(name: string): Promise<void> {
    if (!this.defs.delete(name)) {
      this.logger.warn({ stream: name }, 'removeStream: no such stream');
      return;
    }
    this.order = this.order.filter((s) => s !== name);
    const r = this.runners.get(name);
    this.runners.delete(name);
    await r?.stop();
  }

  /** Loads streamsDir (if set), then starts every stream, producers first. */
  async start(): Promise<void> {
    if (this.state === 'running') return;
    if (this.settings.streamsDir) {
      const { streams, errors } = await loadStreamsDir(this.settings.streamsDir);
      this.loadErrors = errors;
      for (const e of errors) this.logger.error({ file: e.file, code: e.code, err: e.message }, 'stream file skipped');
      for (const s of streams) {
        if (this.defs.has(s.name)) this.loadErrors.push({ file: s.file, code: ErrorCode.BAD_CONFIG, message: `stream ${s.name} is already added` });
        else this.defs.set(s.name, s.def);
      }
    }
    if (this.defs.size === 0) {
      // Kemux: ValueError('No streams have been loaded!').
      throw new TickbusError(ErrorCode.BAD_CONFIG, `stream manager ${this.settings.name}: no streams to start`, {
        manager: this.settings.name,
        streamsDir: this.settings.streamsDir,
        loadErrors: this.loadErrors,
      });
    }
    this.order = startOrder(this.defs);
    this.nc ??= await connect({ servers: this.o.natsUrl!, name: `streams-${this.settings.name}`, maxReconnectAttempts: -1 });
    await ensureStream(await manager(this.nc), streamsStreamConfig(this.settings));
    this.state = 'running';
    for (const name of this.order) await this.startOne(name);
    this.logger.info({ order: this.order, loadErrors: this.loadErrors.length }, 'streams started');
  }

  private async startOne(name: string): Promise<void> {
    const r = new StreamRunner(this.nc!, name, this.defs.get(name)!, this.settings, this.logger.child({ stream: name }));
    this.runners.set(name, r);
    await r.start();
  }

  async stop(): Promise<void> {
    // Consumers before producers: the reverse of the start order.
    for (const name of [...this.order].reverse()) await this.runners.get(name)?.stop();
    this.runners.clear();
    if (this.state === 'running') this.state = 'stopped';
    if (this.ownsConnection && this.nc) {
      await this.nc.drain().catch(() => {});
      this.nc = undefined;
    }
  }

  status(): ManagerStatus {
    return {
      name: this.settings.name,
      state: this.state,
      order: [...this.order],
      streams: this.order.flatMap((n) => {
        const r = this.runners.get(n);
        return r ? [r.status()] : [];
      }),
      loadErrors: [...this.loadErrors],
    };
  }
}
