// The monitor's web page: Node's http module serves the page's files (actors/monitor/web/, plain
// ES modules and CSS), uPlot from node_modules (no CDN: the page works offline), the current
// snapshot as JSON (/api/snapshot) and a Server-Sent Events stream (/events) that pushes the
// snapshot whenever something changed, at most every pushEveryMs. Every connection gets only the
// latest snapshot: a slow page never makes the monitor queue (one pending snapshot per client, and
// a client with more than sseClientBufferBytesMax unsent is dropped; it reconnects by itself).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { PageSnapshot } from './page_data.ts';

export interface WebOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** When the port is taken, take a free one instead (logged) rather than fail. */
  fallbackToFreePort: boolean;
  sseClientsMax: number;
  sseClientBufferBytesMax: number;
  pushEveryMs: number;
  /** The page data now. */
  snapshot: () => PageSnapshot;
  /** Registers a change listener; returns the unsubscribe. */
  onChange: (fn: () => void) => () => void;
  logger: Logger;
}

interface StaticFile {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** The files the page needs, read once at start (a fixed, small set: nothing else is served). */
function staticFiles(): Map<string, StaticFile> {
  const web = join(import.meta.dirname, 'web');
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));
  const files: Array<[string, string]> = [
    ['/', join(web, 'index.html')],
    ['/app.js', join(web, 'app.js')],
    ['/render.js', join(web, 'render.js')],
    ['/bins.js', join(web, 'bins.js')],
    ['/style.css', join(web, 'style.css')],
    ['/vendor/uPlot.esm.js', join(uplot, 'uPlot.esm.js')],
    ['/vendor/uPlot.min.css', join(uplot, 'uPlot.min.css')],
  ];
  const out = new Map<string, StaticFile>();
  for (const [path, file] of files) out.set(path, { body: readFileSync(file), type: TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' });
  return out;
}

// The page loads only its own files: no inline script, no other origin.
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

interface Client {
  res: ServerResponse;
  /** A snapshot is waiting for 'drain'. */
  pending: boolean;
}

export class MonitorWeb {
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  private readonly files = staticFiles();
  private dirty = true;
  private timer: ReturnType<typeof setInterval> | undefined;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private unChange: (() => void) | undefined;
  private last = '';
  private eventId = 0;
  readonly stats = { pushes: 0, refused: 0, dropped: 0 };

  constructor(private readonly o: WebOptions) {}

  /** The page's URL once listening. */
  url(): string | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.address.includes(':') ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/`;
  }

  async start(): Promise<string> {
    try {
      await this.listen(this.o.port);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' || !this.o.fallbackToFreePort || this.o.port === 0) {
        throw new TickbusError(ErrorCode.BAD_CONFIG, `monitor page cannot listen on ${this.o.host}:${this.o.port}: ${(e as Error).message}`, { host: this.o.host, port: this.o.port, code }, { cause: e });
      }
      this.o.logger.warn({ port: this.o.port }, 'monitor page: port in use; taking a free one');
      await this.listen(0);
    }
    this.unChange = this.o.onChange(() => (this.dirty = true));
    this.timer = setInterval(() => this.push(), this.o.pushEveryMs);
    // Ages on the page move with the clock: a snapshot at least once a second (which also keeps
    // an idle stream open through proxies).
    this.keepAlive = setInterval(() => {
      this.dirty = true;
    }, 1_000);
    this.timer.unref();
    this.keepAlive.unref();
    return this.url()!;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((req, res) => this.handle(req, res));
      server.maxConnections = this.o.sseClientsMax + 16; // SSE streams plus a few page loads
      server.once('error', reject);
      server.listen(port, this.o.host, () => {
        server.off('error', reject);
        server.on('error', (e) => this.o.logger.warn({ err: e.message }, 'monitor page server error'));
        this.server = server;
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/events') {
      if (req.method === 'HEAD') return void res.writeHead(200, { 'Content-Type': 'text/event-stream' }).end();
      return this.openStream(res);
    }
    if (path === '/api/snapshot') {
      const body = JSON.stringify(this.o.snapshot());
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...SECURITY_HEADERS }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const f = this.files.get(path === '/index.html' ? '/' : path);
    if (!f) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.body.length, 'Cache-Control': 'no-cache', ...SECURITY_HEADERS }).end(req.method === 'HEAD' ? undefined : f.body);
  }

  private openStream(res: ServerResponse): void {
    if (this.clients.size >= this.o.sseClientsMax) {
      this.stats.refused++;
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '5' }).end(`at most ${this.o.sseClientsMax} live pages\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', ...SECURITY_HEADERS });
    // The page reconnects after 2 s when the stream breaks (EventSource does it by itself).
    res.write('retry: 2000\n\n');
    const c: Client = { res, pending: false };
    this.clients.add(c);
    const bye = () => this.clients.delete(c);
    res.on('close', bye); // the connection ended (the page closed or the socket broke)
    res.on('error', bye);
    res.on('drain', () => {
      if (c.pending) {
        c.pending = false;
        this.send(c, this.last);
      }
    });
    this.send(c, this.frame());
  }

  private frame(): string {
    this.last = `id: ${++this.eventId}\nevent: snapshot\ndata: ${JSON.stringify(this.o.snapshot())}\n\n`;
    return this.last;
  }

  private send(c: Client, frame: string): void {
    if (c.res.writableLength > this.o.sseClientBufferBytesMax) {
      this.stats.dropped++;
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    if (c.res.writableNeedDrain) {
      c.pending = true; // it gets the newest snapshot on 'drain', not every one it missed
      return;
    }
    c.res.write(frame);
  }

  /** Sends the snapshot to every page if something changed since the last push. */
  push(): void {
    if (!this.dirty || this.clients.size === 0) return;
    this.dirty = false;
    const frame = this.frame();
    this.stats.pushes++;
    for (const c of [...this.clients]) this.send(c, frame);
  }

  clientCount(): number {
    return this.clients.size;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.keepAlive);
    this.unChange?.();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }
}
