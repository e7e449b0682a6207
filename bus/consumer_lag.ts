// Subscriber lag read from JetStream consumer info: how far each consumer of a log stream is
// behind the stream's last sequence, in messages (exact: the server's num_pending) and bytes
// (estimated: pending messages times the stream's mean stored message size; JetStream has no
// per-range byte count). Shared by the monitor's page, `actors ps` and the tickerplant's slow
// consumer watchdog.
import type { JetStreamManager } from '@nats-io/jetstream';

export interface LagRow {
  stream: string;
  consumer: string;
  filter: string;
  /** Messages behind (matching the consumer's filter), as the server counts them. */
  pending: number;
  ackPending: number;
  /** Estimated: pending messages times the stream's mean message size. */
  bytesBehind: number;
  /** The last stream sequence delivered to the consumer. */
  delivered: number;
  streamLast: number;
}

/** The lag of every consumer of one stream (at most `consumersMax`). */
export async function streamLag(jsm: JetStreamManager, stream: string, consumersMax = 100): Promise<LagRow[]> {
  const info = await jsm.streams.info(stream);
  const meanBytes = info.state.messages ? info.state.bytes / info.state.messages : 0;
  const rows: LagRow[] = [];
  for await (const c of jsm.consumers.list(stream)) {
    if (rows.length >= consumersMax) break;
    rows.push({
      stream,
      consumer: c.name,
      filter: c.config.filter_subject ?? (c.config.filter_subjects ?? []).join(','),
      pending: c.num_pending,
      ackPending: c.num_ack_pending,
      bytesBehind: Math.round(c.num_pending * meanBytes),
      delivered: c.delivered.stream_seq,
      streamLast: info.state.last_seq,
    });
  }
  return rows;
}

/** The lag of every consumer of every tickerplant log stream (`TICK_*`, at most `streamsMax`). */
export async function logLag(jsm: JetStreamManager, o: { streamsMax?: number; consumersPerStreamMax?: number } = {}): Promise<LagRow[]> {
  const names: string[] = [];
  for await (const n of jsm.streams.names()) if (n.startsWith('TICK_') && names.length < (o.streamsMax ?? 64)) names.push(n);
  const rows: LagRow[] = [];
  for (const stream of names.sort()) rows.push(...(await streamLag(jsm, stream, o.consumersPerStreamMax)));
  return rows;
}
