// Bulk acks: a feed that sends `"ack": "bulk"` in a CBOR update lets the tickerplant answer many
// of its requests with one message (bus/SUBJECTS.md, "Bulk acks"). The acks of one append's
// completion that share a reply prefix (the reply subject without its last token) go out as one
// tickbus.v1.acks message on `<prefix>.acks`, each entry naming the request by that last token.
// Nothing waits here: the list is filled and sent within the same completion callback, so a bulk
// ack is never later than the individual ack it replaces; errors and duplicates stay individual.
import { encode } from '../../bus/codec.ts';

export const ACKS_TYPE = 'tickbus.v1.acks';
/** Most acks in one tickbus.v1.acks message (each ~40 bytes: far below the server's max_payload). */
export const bulkAcksMax = 4096;

/** One acknowledged request: [reply token, feed id or null, stream sequence, rows]. */
export type BulkAckEntry = [string, string | null, number, number];

export class BulkAcks {
  private readonly byPrefix = new Map<string, BulkAckEntry[]>();

  constructor(private readonly send: (subject: string, data: Uint8Array) => void) {}

  /** Queues the ack of request `reply`; false when the reply subject has no prefix to bulk on. */
  add(reply: string, id: string | undefined, seq: number, rows: number): boolean {
    const dot = reply.lastIndexOf('.');
    if (dot <= 0 || dot === reply.length - 1) return false;
    const prefix = reply.slice(0, dot);
    let list = this.byPrefix.get(prefix);
    if (!list) this.byPrefix.set(prefix, (list = []));
    list.push([reply.slice(dot + 1), id ?? null, seq, rows]);
    if (list.length >= bulkAcksMax) {
      this.byPrefix.delete(prefix);
      this.sendList(prefix, list);
    }
    return true;
  }

  /** Sends everything queued (called at the end of each append completion). */
  flush(): void {
    if (this.byPrefix.size === 0) return;
    for (const [prefix, list] of this.byPrefix) this.sendList(prefix, list);
    this.byPrefix.clear();
  }

  private sendList(prefix: string, acks: BulkAckEntry[]): void {
    this.send(`${prefix}.acks`, encode({ type: ACKS_TYPE, acks }));
  }
}
