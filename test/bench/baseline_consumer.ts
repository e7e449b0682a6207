// Benchmark child: the baseline's plain consumer. Reads a stream with an ordered consumer,
// decodes each CBOR batch into typed arrays (into memory, like an RDB without the bookkeeping)
// and publishes `bench.<id>.done` with the rows read once it has `rows` of them.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { decode } from '../../bus/codec.ts';

const [url, stream, id, rowsArg] = process.argv.slice(2) as [string, string, string, string];
const want = Number(rowsArg);
const nc = await connect({ servers: url });
const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
const it = await c.consume({ max_messages: 512 });
nc.publish(`bench.${id}.ready`);
let rows = 0;
const kept: unknown[] = [];
for await (const m of it) {
  const b = decode<{ n: number; cols: Record<string, unknown> }>(m.data);
  rows += b.n;
  kept.push(b.cols);
  if (kept.length > 64) kept.length = 0; // bounded memory; the decode is the work measured
  if (rows >= want) break;
}
nc.publish(`bench.${id}.done`, JSON.stringify({ rows }));
await nc.flush();
await it.close();
await nc.close();
