// A worker thread that publishes to a tickerplant on its own NATS connection (bus/publisher.ts,
// loaded through tsx): `batches` updates of `rows` rows of table trade, all in flight at once
// (bounded by the publisher's inflightMax), each row with a unique fid = worker * 1e6 + i.
// Posts {worker, rows, duplicates} once every update is acked (durable in the log).
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { tsImport } from 'tsx/esm/api';

const { Publisher } = await tsImport('../../bus/publisher.ts', import.meta.url);
const { url, tp, worker, batches, rows } = workerData;
const nc = await connect({ servers: url });
const pub = new Publisher(nc, { tp });
const acks = [];
for (let b = 0; b < batches; b++) {
  const fid = Array.from({ length: rows }, (_, i) => worker * 1_000_000 + b * rows + i);
  acks.push(pub.publish('trade', { cols: { sym: fid.map((i) => `S${i % 7}`), price: fid.map((i) => i / 100), size: fid.map(() => 1), fid } }));
}
const done = await Promise.all(acks);
pub.close();
await nc.close();
parentPort.postMessage({ worker, rows: done.reduce((s, a) => s + a.rows, 0), duplicates: done.filter((a) => a.duplicate).length });
