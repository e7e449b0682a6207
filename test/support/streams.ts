// Test support for stream processors: publish inputs to a manager's stream, read everything it
// stored back (subject, message id, headers, decoded body), wait for a consumer to drain.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { ContentType, decode, encode, encodingOf } from '../../bus/codec.ts';
import { manager } from '../../bus/streams.ts';
import { Header, streams, subjects } from '../../bus/subjects.ts';

export interface StoredStreamMsg {
  seq: number;
  subject: string;
  msgId: string | undefined;
  headers: Record<string, string>;
  value: unknown;
}

/** Publishes JSON messages to st.<mgr>.<token>, awaiting each ack (pipelined by `inflight`). */
export async function publishInputs(nc: NatsConnection, mgr: string, token: string, values: unknown[], inflight = 64): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < values.length; i += inflight) {
    await Promise.all(
      values.slice(i, i + inflight).map((v) => {
        const h = natsHeaders();
        h.set(Header.contentType, ContentType.json);
        return js.publish(subjects.stream(mgr, token), encode(v, 'json'), { headers: h });
      }),
    );
  }
}

/** Every message of STREAMS_<mgr>, in order. */
export async function readStreamMsgs(nc: NatsConnection, mgr: string): Promise<StoredStreamMsg[]> {
  const jsm = await manager(nc);
  const info = await jsm.streams.info(streams.processors(mgr));
  const out: StoredStreamMsg[] = [];
  if (info.state.messages === 0) return out;
  const c = await jetstream(nc).consumers.get(streams.processors(mgr), { deliver_policy: DeliverPolicy.All });
  const it = await c.consume();
  for await (const m of it) {
    const headers: Record<string, string> = {};
    for (const [k, v] of m.headers ?? []) headers[k] = v.join(',');
    let value: unknown;
    try {
      value = decode(m.data, encodingOf(m.headers?.get(Header.contentType)));
    } catch {
      value = m.data;
    }
    out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get(Header.msgId) || undefined, headers, value });
    if (m.seq >= info.state.last_seq) break;
  }
  await it.close();
  return out;
}

/** Messages of one subject token of manager `mgr`. */
export function onSubject(msgs: StoredStreamMsg[], mgr: string, token: string): StoredStreamMsg[] {
  return msgs.filter((m) => m.subject === subjects.stream(mgr, token));
}

/** True when the durable consumer of `stream` has nothing pending and nothing unacknowledged. */
export async function drained(nc: NatsConnection, mgr: string, stream: string): Promise<boolean> {
  try {
    const ci = await (await manager(nc)).consumers.info(streams.processors(mgr), stream);
    return ci.num_pending === 0 && ci.num_ack_pending === 0;
  } catch {
    return false;
  }
}
