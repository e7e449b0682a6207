// Embedded nats-server launcher: spawns the binary with JetStream on a store dir, waits until it
// accepts connections, stops it cleanly, and can restart it on the same port and dir (the tests
// use that to restart the server mid-run).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, TickbusError } from './errors.ts';

export interface NatsServerOptions {
  /** Port to listen on; 0 picks a free one (tests). */
  port?: number;
  /** JetStream store dir; omitted means a fresh temp dir that stop({removeStore}) deletes. */
  storeDir?: string;
  /** Binary to run; default $NATS_SERVER_BIN or `nats-server` on PATH. */
  bin?: string;
  /** Bound on how long start() waits for the port to accept connections. */
  startTimeoutMs?: number;
  /** Bound on how long stop() waits after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
  /** Largest message the server accepts (nats-server `max_payload`). */
  maxPayloadBytes?: number;
  /** Run in its own process group, so a terminal's Ctrl-C reaches only the launcher (which stops it last). */
  detached?: boolean;
  /** Forward the server's own log lines to this function. */
  onLog?: (line: string) => void;
  /**
   * More server configuration (e.g. `authorization`, `tls`: ops/security/server_config.ts), written
   * with max_payload into a config file of mode 0600 (it may hold passwords) at `configPath`.
   */
  config?: Record<string, unknown>;
  /** Where the generated config file goes; default `<storeDir>/tickbus-server.conf`. */
  configPath?: string;
  /** More command-line flags (a cluster node: `--name`, `--cluster`, `--routes`; bus/nats_cluster.ts). */
  extraArgs?: readonly string[];
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class NatsServer {
  port = 0;
  readonly storeDir: string;
  private readonly ownsStore: boolean;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private exitInfo: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  constructor(private readonly opts: NatsServerOptions = {}) {
    this.ownsStore = !opts.storeDir;
    this.storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'tickbus-nats-'));
    this.port = opts.port ?? 0;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The running server's pid. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Resolves with the exit code and signal when the server started last exits, whoever stopped
   * it (a supervisor watches this to restart a server that died). Undefined before start().
   */
  get whenExited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined {
    return this.exitInfo;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const s = new NatsServer(opts);
    await s.start();
    return s;
  }

  async start(): Promise<void> {
    if (this.child) return;
    if (!this.port) this.port = await freePort();
    mkdirSync(this.storeDir, { recursive: true });
    const bin = this.opts.bin ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir];
    if (this.opts.maxPayloadBytes || this.opts.config) {
      // max_payload, users and TLS have no command-line flags: they go in a config file. The
      // format is a superset of JSON, so the object is written as JSON.
      const conf = this.opts.configPath ?? join(this.storeDir, 'tickbus-server.conf');
      const body = { ...(this.opts.maxPayloadBytes ? { max_payload: this.opts.maxPayloadBytes } : {}), ...this.opts.config };
      writeFileSync(conf, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
      chmodSync(conf, 0o600);
      args.push('-c', conf);
    }
    args.push(...(this.opts.extraArgs ?? []));
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: this.opts.detached ?? false });
    this.child = child;
    const lines: string[] = [];
    const onData = (b: Buffer) => {
      for (const line of b.toString().split('\n')) {
        if (!line) continue;
        if (lines.length < 200) lines.push(line);
        this.opts.onLog?.(line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exitInfo = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = this.exitInfo.then(() => {});
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10_000);
    // Ready means: the port accepts connections and the server logged that JetStream is up.
    while (Date.now() < deadline) {
      if (spawnError || child.exitCode !== null) break;
      if (lines.some((l) => l.includes('Server is ready')) && (await canConnect(this.port))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.stop();
    throw new TickbusError(
      ErrorCode.INTERNAL,
      spawnError
        ? `cannot run ${bin}: ${spawnError.message} (install nats-server or set NATS_SERVER_BIN)`
        : `nats-server did not become ready on port ${this.port}`,
      { bin, port: this.port, log: lines.slice(-20) },
    );
  }

  /** Stops the server (SIGTERM, then SIGKILL after the bound). Keeps the store unless asked. */
  async stop(opts: { removeStore?: boolean; signal?: NodeJS.Signals } = {}): Promise<void> {
    const child = this.child;
    if (child) {
      this.child = undefined;
      if (child.exitCode === null) {
        child.kill(opts.signal ?? 'SIGTERM');
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.opts.stopTimeoutMs ?? 5_000).unref());
        if ((await Promise.race([this.exited, timeout])) === 'timeout') {
          child.kill('SIGKILL');
          await this.exited;
        }
      }
    }
    if (opts.removeStore ?? false) rmSync(this.storeDir, { recursive: true, force: true });
  }

  /** Stops and starts again on the same port and store dir. */
  async restart(opts: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    await this.stop({ signal: opts.signal });
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.start();
  }

  /** Stops and deletes the temp store when this launcher created it. */
  async dispose(): Promise<void> {
    await this.stop({ removeStore: this.ownsStore });
  }
}
