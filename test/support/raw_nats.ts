// A deliberately tiny NATS client written against the protocol text only (CONNECT, SUB, HPUB,
// MSG/HMSG, PING/PONG): the tests use it as "a client we did not write" to prove that the wire
// protocol in bus/SUBJECTS.md is enough to feed and query with JSON.
import { connect as tcp, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface RawReply {
  headers: Record<string, string>;
  body: string;
}

interface RawMsg {
  headers: Record<string, string>;
  payload: Buffer;
}

export interface RawConnectOptions {
  user?: string;
  pass?: string;
  /** Upgrade to TLS after the server's INFO (NATS's order), trusting this CA (PEM). */
  tls?: { ca: string | Buffer };
}

export class RawNats {
  /** The server's `-ERR` lines, in order (`'Permissions Violation for Publish to "x"'`, ...). */
  readonly errors: string[] = [];
  private buf: Buffer = Buffer.alloc(0);
  /** Reply subject -> handler of each message; true when the reply is complete. */
  private readonly waiting = new Map<string, (m: RawMsg) => boolean>();
  private sid = 0;
  /** sids of subscribe(); 1 is the inbox's. */
  private subSid = 1;
  private inbox = `_INBOX.raw${process.pid}${Date.now()}`;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d) => this.onData(d));
    sock.on('close', () => this.closed?.(new Error(`connection closed by the server: ${this.errors.join('; ') || 'no -ERR'}`)));
    sock.on('error', () => {});
  }

  static async connect(port: number, o: RawConnectOptions = {}): Promise<RawNats> {
    let sock: Socket = tcp({ port, host: '127.0.0.1' });
    await new Promise<void>((r, j) => sock.once('connect', () => r()).once('error', j));
    if (o.tls) {
      const plain = sock;
      await new Promise<void>((r, j) => {
        let got = '';
        const onData = (d: Buffer) => {
          got += d.toString();
          if (!got.includes('\r\n')) return;
          plain.off('data', onData);
          r();
        };
        plain.on('data', onData).once('error', j);
      });
      const secure = tlsConnect({ socket: plain, ca: o.tls.ca, servername: 'localhost' });
      await new Promise<void>((r, j) => secure.once('secureConnect', () => r()).once('error', j));
      sock = secure;
    }
    const c = new RawNats(sock);
    const auth = o.user !== undefined ? { user: o.user, pass: o.pass ?? '' } : {};
    sock.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, no_responders: true, lang: 'raw', version: '0', ...auth })}\r\n`);
    sock.write(`SUB ${c.inbox}.* 1\r\n`);
    await c.ping();
    return c;
  }

  private pong: (() => void) | undefined;
  private closed: ((e: Error) => void) | undefined;
  /** PING, resolved by the PONG: every -ERR for what was sent before has been read by then. Rejects when the server closes the connection first. */
  ping(timeoutMs = 5_000): Promise<void> {
    return new Promise((r, j) => {
      const t = setTimeout(() => j(new Error(`no PONG within ${timeoutMs} ms`)), timeoutMs);
      this.pong = () => (clearTimeout(t), r());
      this.closed = (e) => (clearTimeout(t), j(e));
      this.sock.write('PING\r\n');
    });
  }

  /** Publishes (no reply subject) a JSON body. */
  publish(subject: string, json: unknown): void {
    const body = JSON.stringify(json);
    this.sock.write(`PUB ${subject} ${Buffer.byteLength(body)}\r\n${body}\r\n`);
  }

  /** Subscribes; messages are ignored (the tests only ask whether the server lets it). */
  subscribe(subject: string): void {
    this.sock.write(`SUB ${subject} ${++this.subSid}\r\n`);
  }

  /** Subscribes to `subject` (exact, no wildcard) and resolves with its first message. */
  nextMessage(subject: string, timeoutMs = 5_000): Promise<RawReply> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(subject);
        reject(new Error(`no message on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(subject, (m) => {
        clearTimeout(t);
        resolve({ headers: m.headers, body: m.payload.toString() });
        return true;
      });
      this.subscribe(subject);
    });
  }

  /** The subjects the server refused so far, for `Publish` or `Subscription`. */
  violations(kind: 'Publish' | 'Subscription'): string[] {
    const re = new RegExp(`^'Permissions Violation for ${kind} to "(.*)"`);
    return this.errors.flatMap((e) => re.exec(e)?.[1] ?? []);
  }

  /** Request with a JSON body and Content-Type: application/json; resolves with the reply. */
  request(subject: string, json: unknown, timeoutMs = 5_000): Promise<RawReply> {
    return this.send(subject, json, timeoutMs, false);
  }

  /**
   * As request(), with `Tb-Accept-Chunks: 1`: a reply too big for one message arrives as messages
   * with `Tb-Chunk: <i>/<n>` (bus/SUBJECTS.md, "Big replies"), joined here in order. `chunks`
   * says how many messages it took.
   */
  requestChunked(subject: string, json: unknown, timeoutMs = 30_000): Promise<RawReply & { chunks: number }> {
    return this.send(subject, json, timeoutMs, true) as Promise<RawReply & { chunks: number }>;
  }

  private send(subject: string, json: unknown, timeoutMs: number, chunked: boolean): Promise<RawReply & { chunks: number }> {
    const reply = `${this.inbox}.${++this.sid}`;
    const hdr = `NATS/1.0\r\nContent-Type: application/json\r\n${chunked ? 'Tb-Accept-Chunks: 1\r\n' : ''}\r\n`;
    const body = JSON.stringify(json);
    const hlen = Buffer.byteLength(hdr);
    const total = hlen + Buffer.byteLength(body);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(reply);
        reject(new Error(`no reply on ${subject}`));
      }, timeoutMs);
      const parts: Buffer[] = [];
      this.waiting.set(reply, (m) => {
        const c = m.headers['Tb-Chunk'];
        if (c) {
          const [i, n] = c.split('/').map(Number) as [number, number];
          if (i !== parts.length) throw new Error(`chunk ${i} after ${parts.length}`);
          parts.push(m.payload);
          if (parts.length < n) return false;
        } else parts.push(m.payload);
        clearTimeout(t);
        const { 'Tb-Chunk': _, ...headers } = m.headers;
        resolve({ headers, body: Buffer.concat(parts).toString(), chunks: parts.length });
        return true;
      });
      this.sock.write(`HPUB ${subject} ${reply} ${hlen} ${total}\r\n${hdr}${body}\r\n`);
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.buf.subarray(0, eol).toString();
      if (line === 'PING') {
        this.sock.write('PONG\r\n');
        this.buf = this.buf.subarray(eol + 2);
        continue;
      }
      if (line.startsWith('-ERR ')) {
        this.errors.push(line.slice(5));
        this.buf = this.buf.subarray(eol + 2);
        continue;
      }
      if (line === 'PONG' || line.startsWith('INFO') || line === '+OK') {
        if (line === 'PONG') this.pong?.();
        this.buf = this.buf.subarray(eol + 2);
        continue;
      }
      const parts = line.split(' ');
      const isH = parts[0] === 'HMSG';
      if (parts[0] !== 'MSG' && !isH) throw new Error(`unexpected: ${line}`);
      const subject = parts[1]!;
      const total = Number(parts[parts.length - 1]);
      const hlen = isH ? Number(parts[parts.length - 2]) : 0;
      if (this.buf.length < eol + 2 + total + 2) return;
      const payload = this.buf.subarray(eol + 2, eol + 2 + total);
      this.buf = this.buf.subarray(eol + 2 + total + 2);
      const headers: Record<string, string> = {};
      if (isH) {
        for (const h of payload.subarray(0, hlen).toString().split('\r\n').slice(1)) {
          const i = h.indexOf(':');
          if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
        }
      }
      const h = this.waiting.get(subject);
      if (h?.({ headers, payload: Buffer.from(payload.subarray(hlen)) })) this.waiting.delete(subject);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}
