// Benchmark child: the request/reply baseline for single-row acked updates. A plain nats.js
// responder (no JetStream, no tickerplant) on the same subjects a tickerplant serves: it decodes
// each one-row CBOR update, as a tickerplant must, and replies with a CBOR ack.
import { connect } from '@nats-io/transport-node';
import { decode, encode } from '../../bus/codec.ts';

const [url, tp] = process.argv.slice(2) as [string, string];
const nc = await connect({ servers: url });
let seq = 0;
nc.subscribe(`tp.${tp}.upd.>`, {
  callback: (_err, m) => {
    const body = decode<{ id?: string; rows?: unknown[][]; cols?: Record<string, unknown> }>(m.data);
    const rows = body.rows?.length ?? 1;
    if (m.reply) nc.publish(m.reply, encode({ type: 'tickbus.v1.ack', id: body.id, seq: ++seq, rows }));
  },
});
await nc.flush();
nc.publish(`bench.${tp}.ready`);
process.on('SIGTERM', () => void nc.close().then(() => process.exit(0)));
