// Payload codec: CBOR (cbor-x) by default, JSON when the Content-Type header says so. Replies use
// the request's encoding, so a JSON client only ever sees JSON.
import { Encoder } from 'cbor-x';
import { ErrorCode, TickbusError } from './errors.ts';

export const ContentType = {
  cbor: 'application/cbor',
  json: 'application/json',
} as const;
export type Encoding = 'cbor' | 'json';

// `useRecords: false` keeps plain CBOR maps, readable by any CBOR library. Typed arrays travel as
// RFC 8746 tagged byte strings (tag 86 float64 LE, 79 int64 LE, 78 int32 LE, 64 uint8, ...).
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

/** Maps a Content-Type header value (absent means CBOR) to an encoding, or throws BAD_CONTENT_TYPE. */
export function encodingOf(contentType: string | undefined | null): Encoding {
  if (!contentType) return 'cbor';
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  if (base === ContentType.cbor) return 'cbor';
  if (base === ContentType.json || base === 'text/json') return 'json';
  throw new TickbusError(ErrorCode.BAD_CONTENT_TYPE, `unsupported Content-Type ${JSON.stringify(contentType)}`, {
    contentType,
    supported: [ContentType.cbor, ContentType.json],
  });
}

export function encode(value: unknown, encoding: Encoding = 'cbor'): Uint8Array {
  if (encoding === 'cbor') return cbor.encode(value);
  return new TextEncoder().encode(JSON.stringify(value, jsonReplacer));
}

export function decode<T = unknown>(bytes: Uint8Array, encoding: Encoding = 'cbor'): T {
  try {
    // Payloads from nats.js are Node Buffers (views of the socket read); cbor-x's subarray/slice on
    // a Buffer go through Buffer's species constructor, on a plain Uint8Array view of the same
    // bytes they do not (decoding a 100-row batch ~25% faster). Nothing is copied here; typed
    // array columns stay views when aligned, copies otherwise (cbor-x).
    if (encoding === 'cbor') return cbor.decode(bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as T;
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_ENCODING, `payload is not valid ${encoding.toUpperCase()}: ${(e as Error).message}`, {
      encoding,
      bytes: bytes.length,
    });
  }
}

/** JSON has no bigint or typed arrays: bigints become decimal strings, typed arrays plain arrays. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const arr = value as unknown as ArrayLike<number | bigint>;
    const out = new Array(arr.length);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]!;
      out[i] = typeof v === 'bigint' ? v.toString() : v;
    }
    return out;
  }
  return value;
}
