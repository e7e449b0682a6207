// A deliberately tiny NATS client written against the protocol text only (CONNECT, SUB, HPUB,
// MSG/HMSG, PING/PONG): the tests use it as "a client we did not write" to prove that the wire
// protocol in bus/SUBJECTS.md is enough to feed and query with JSON.
import { connect as tcp, type Socket } from 'node:net';

export interface RawReply {
  headers: Record<string, string>;
  body: string;
}

interface RawMsg {
  headers: Record<string, string>;
  payload: Buffer;
}

export class RawNats {
  private buf: Buffer = Buffer.alloc(0);
  /** Reply subject -> handler of each message; true when the reply is complete. */
  private readonly waiting = new Map<string, (m: RawMsg) => boolean>();
  private sid = 0;
  private inbox = `_INBOX.raw${process.pid}${Date.now()}`;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d) => this.onData(d));
  }

  static async connect(port: number): Promise<RawNats> {
    const sock = tcp({ port, host: '127.0.0.1' });
    await new Promise<void>((r, j) => sock.once('connect', () => r()).once('error', j));
    const c = new RawNats(sock);
    sock.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"lang":"raw","version":"0"}\r\n');
    sock.write(`SUB ${c.inbox}.* 1\r\n`);
    await c.ping();
    return c;
  }

  private pong: (() => void) | undefined;
  ping(): Promise<void> {
    return new Promise((r) => {
      this.pong = r;
      this.sock.write('PING\r\n');
    });
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
