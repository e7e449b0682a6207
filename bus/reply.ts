// Replies bigger than one NATS message. nats-server refuses a publish above its max_payload
// (1 MiB by default); before this module a big query result made the responder's publish throw
// and the caller wait out its timeout with no answer. Now every reply goes through sendReply():
//   - it fits: one message, as always;
//   - it does not, and the request said `Tb-Accept-Chunks: 1`: the encoded reply is cut into
//     chunks that each fit, published in order to the same reply subject, each with the header
//     `Tb-Chunk: <i>/<n>` (i from 0); the receiver concatenates the n payloads and decodes once;
//   - it does not, and the request did not opt in: one RESULT_TOO_LARGE error at once, naming
//     the bytes, the server's limit and how to page or opt in.
// NATS keeps the order of messages from one publisher to one subscriber, so chunks arrive in
// order; the receiver still checks the index. The protocol is documented in bus/SUBJECTS.md.
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { ContentType, encode, type Encoding } from './codec.ts';
import { ErrorCode, TickbusError } from './errors.ts';
import { Header } from './subjects.ts';

/** Request header: the caller reassembles chunked replies. */
export const ACCEPT_CHUNKS = 'Tb-Accept-Chunks';
/** Reply header on each chunk: `<index>/<count>`. */
export const CHUNK = 'Tb-Chunk';
/** Bound on one chunked reply (and on what a receiver buffers for one reply). */
export const CHUNKED_REPLY_MAX_BYTES = 1 << 30;
/** Room left in each message for headers and protocol framing. */
const HEADROOM_BYTES = 8 * 1024;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Headers a client sends to receive big replies in chunks. */
export function acceptChunksHeaders(h: MsgHdrs = natsHeaders()): MsgHdrs {
  h.set(ACCEPT_CHUNKS, '1');
  return h;
}

export function acceptsChunks(m: Pick<Msg, 'headers'>): boolean {
  return m.headers?.get(ACCEPT_CHUNKS) === '1';
}

/** The largest payload one message may carry on this connection's server. */
export function maxPayload(nc: NatsConnection): number {
  return nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}

export interface ReplyOptions {
  enc: Encoding;
  /** The request opted in to chunks (acceptsChunks of the request). */
  chunks: boolean;
  /** Extra headers for every message of the reply (e.g. Tb-Query-Id on a postback). */
  headers?: Record<string, string>;
}

/**
 * Publishes an encoded reply to `to`, in chunks when it is too big for one message and the
 * caller accepts them, else as RESULT_TOO_LARGE. Returns how it went (for logs and usage).
 */
export function sendReply(nc: NatsConnection, to: string, bytes: Uint8Array, o: ReplyOptions): 'one' | 'chunked' | 'too-large' {
  const max = maxPayload(nc);
  const room = Math.max(1024, max - HEADROOM_BYTES);
  if (bytes.length <= room) {
    nc.publish(to, bytes, headersFor(o));
    return 'one';
  }
  if (!o.chunks || bytes.length > CHUNKED_REPLY_MAX_BYTES) {
    const err = new TickbusError(
      ErrorCode.RESULT_TOO_LARGE,
      o.chunks
        ? `the reply is ${bytes.length} bytes; at most ${CHUNKED_REPLY_MAX_BYTES} even in chunks: page with limit or ask fewer columns`
        : `the reply is ${bytes.length} bytes and the server takes ${max} per message: send the header ${ACCEPT_CHUNKS}: 1 to receive it in chunks (bus/SUBJECTS.md), or page with limit or ask fewer columns`,
      { bytes: bytes.length, maxPayload: max, chunkedMax: CHUNKED_REPLY_MAX_BYTES },
    );
    nc.publish(to, encode(err.toEnvelope(), o.enc), headersFor(o));
    return 'too-large';
  }
  const n = Math.ceil(bytes.length / room);
  for (let i = 0; i < n; i++) {
    const h = headersFor(o, true)!.headers!;
    h.set(CHUNK, `${i}/${n}`);
    nc.publish(to, bytes.subarray(i * room, Math.min(bytes.length, (i + 1) * room)), { headers: h });
  }
  return 'chunked';
}

function headersFor(o: ReplyOptions, always = false): { headers?: MsgHdrs } | undefined {
  const extra = o.headers ? Object.entries(o.headers) : [];
  if (!always && o.enc !== 'json' && extra.length === 0) return undefined;
  const h = natsHeaders();
  if (o.enc === 'json') h.set(Header.contentType, ContentType.json);
  for (const [k, v] of extra) h.set(k, v);
  return { headers: h };
}

/** `{index, count}` of a chunk message, or undefined for an ordinary one. */
export function chunkOf(m: Pick<Msg, 'headers'>): { index: number; count: number } | undefined {
  const v = m.headers?.get(CHUNK);
  if (!v) return undefined;
  const [a, b] = v.split('/');
  const index = Number(a);
  const count = Number(b);
  return Number.isInteger(index) && Number.isInteger(count) && index >= 0 && index < count ? { index, count } : undefined;
}

/**
 * Collects the chunks of one reply. add() answers the whole reply (a Msg whose data is the
 * concatenation, with the first chunk's headers) once the last chunk arrived, undefined before;
 * a chunk out of order or past the size bound throws.
 */
export class ChunkCollector {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private first: Msg | undefined;

  add(m: Msg): Msg | undefined {
    const c = chunkOf(m);
    if (!c) return m;
    if (c.index !== this.parts.length) throw new TickbusError(ErrorCode.BAD_ENCODING, `chunk ${c.index} of ${c.count} arrived after ${this.parts.length}`, { index: c.index, count: c.count });
    this.bytes += m.data.length;
    if (this.bytes > CHUNKED_REPLY_MAX_BYTES) throw new TickbusError(ErrorCode.RESULT_TOO_LARGE, `a chunked reply passed ${CHUNKED_REPLY_MAX_BYTES} bytes`, { bytes: this.bytes });
    this.first ??= m;
    this.parts.push(m.data);
    if (this.parts.length < c.count) return undefined;
    const data = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      data.set(p, at);
      at += p.length;
    }
    return joined(this.first, data);
  }
}

/** A Msg with another payload (what callers read of a reply: subject, headers, data). */
function joined(first: Msg, data: Uint8Array): Msg {
  const dec = new TextDecoder();
  return {
    subject: first.subject,
    sid: first.sid,
    reply: first.reply,
    headers: first.headers,
    data,
    respond: () => false,
    json: <T>() => JSON.parse(dec.decode(data)) as T,
    string: () => dec.decode(data),
  } as Msg;
}
