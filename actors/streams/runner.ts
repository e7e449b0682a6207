// One running stream: reads its input, routes each message (route.ts), publishes the outputs and
// dead letters to the manager's JetStream stream, and only then acknowledges the input. Output
// message ids are `<stream>:<output>:<inputSeq>[:<row>]`, so a message re-read after a crash is
// re-published as the same ids and JetStream's dedupe window drops the copies.
// - A subject input is a durable pull consumer (explicit acks) on the manager's stream.
// - A tick-table input goes through bus/subscriber.ts subscribe() (exactly-once replay from a
//   sequence); the last log sequence done is kept in `<dataDir>/<stream>.pos.json`.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AckPolicy, DeliverPolicy, jetstream, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { ContentType, decode, encode, encodingOf } from '../../bus/codec.ts';
import { toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { isNotFound, manager } from '../../bus/streams.ts';
import { subscribe, type Subscription } from '../../bus/subscriber.ts';
import { Header } from '../../bus/subjects.ts';
import type { Batch } from '../../storage/batch.ts';
import { isSymColumn } from '../../storage/batch.ts';
import type { StandardSchemaV1, StreamDefinition, TableInput } from './define.ts';
import { route, type Routed } from './route.ts';
import { streamSubjects, StreamHeader, type StreamsSettings } from './settings.ts';

export interface StreamCounts {
  /** Input messages routed (a tick row is one message; a redelivered message counts again). */
  in: number;
  /** Messages stored per output (duplicates JetStream dropped are not counted). */
  out: Record<string, number>;
  /** Messages dropped (invalid input, invalid output, a user function that threw); each is a dead letter. */
  dropped: number;
  /** Re-publications JetStream answered as duplicates (a crash or a redelivery replayed them). */
  duplicates: number;
  /** Last input sequence fully done (published and acknowledged). */
  lastSeq: number;
}

export interface StreamStatus extends StreamCounts {
  name: string;
  input: string;
  state: 'starting' | 'running' | 'waiting' | 'stopped';
  /** The last failure to read or publish (the stream retries), if any. */
  error?: string;
}

interface Pub {
  subject: string;
  data: Uint8Array;
  msgID: string;
  headers: Record<string, string>;
  output?: string;
}

/** Wait between attempts to (re)open an input that is not there yet (a tickerplant still starting). */
const REOPEN_DELAY_MS = 1_000;
/** Dropped messages logged one line each; past this, one line per 1000. */
const DROP_LOGS_MAX = 20;

export class StreamRunner {
  readonly counts: StreamCounts;
  private state: StreamStatus['state'] = 'starting';
  private error: string | undefined;
  private stopped = false;
  private messages: ConsumerMessages | undefined;
  private sub: Subscription | undefined;
  private loop: Promise<void> | undefined;
  private readonly js: JetStreamClient;
  private readonly subj: ReturnType<typeof streamSubjects>;

  constructor(
    private readonly nc: NatsConnection,
    readonly name: string,
    readonly def: StreamDefinition,
    private readonly s: StreamsSettings,
    private readonly logger: Logger,
  ) {
    this.js = jetstream(nc, { timeout: s.publishTimeoutMs });
    this.subj = streamSubjects(s.name);
    this.counts = { in: 0, out: Object.fromEntries(Object.keys(def.outputs).map((o) => [o, 0])), dropped: 0, duplicates: 0, lastSeq: 0 };
  }

  status(): StreamStatus {
    const i = this.def.input;
    const input = i.subject !== undefined ? this.subj.subject(i.subject) : `${i.tp ?? this.s.tp}.${i.table}`;
    return { name: this.name, input, state: this.state, ...this.counts, out: { ...this.counts.out }, ...(this.error ? { error: this.error } : {}) };
  }

  /** Opens the input (the consumer is created before this returns) and runs the loop. */
  async start(): Promise<void> {
    if (this.def.input.subject !== undefined) await this.ensureConsumer();
    this.loop = this.run().catch((e) => {
      this.error = toTickbusError(e).message;
      this.logger.error({ stream: this.name, err: this.error }, 'stream stopped on an error');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => {});
    await this.sub?.close().catch(() => {});
    await this.loop;
    this.state = 'stopped';
  }

  // -------------------------------------------------------------------------------------------
  // Subject input: a durable consumer with explicit acks.

  private async ensureConsumer(): Promise<void> {
    const jsm = await manager(this.nc);
    const stream = this.subj.stream;
    const bounds = { ack_wait: this.s.ackWaitMs * 1_000_000, max_deliver: this.s.deliverMax, max_ack_pending: this.s.ackPendingMax };
    const filter = this.subj.subject(this.def.input.subject!);
    let info;
    try {
      info = await jsm.consumers.info(stream, this.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await jsm.consumers.add(stream, { durable_name: this.name, filter_subject: filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...bounds });
      return;
    }
    // The durable keeps its position across restarts; its bounds follow the settings. A stream
    // whose input subject changed gets a fresh consumer (the old position means nothing there).
    if (info.config.filter_subject !== filter) {
      this.logger.warn({ stream: this.name, was: info.config.filter_subject, now: filter }, 'stream input subject changed; its consumer starts over');
      await jsm.consumers.delete(stream, this.name);
      await jsm.consumers.add(stream, { durable_name: this.name, filter_subject: filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...bounds });
    } else if (info.config.ack_wait !== bounds.ack_wait || info.config.max_deliver !== bounds.max_deliver || info.config.max_ack_pending !== bounds.max_ack_pending) {
      await jsm.consumers.update(stream, this.name, bounds);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.def.input.subject !== undefined) await this.runSubject();
        else await this.runTable();
        if (this.stopped) return;
      } catch (e) {
        if (this.stopped) return;
        this.state = 'waiting';
        this.error = toTickbusError(e).message;
        this.logger.warn({ stream: this.name, err: this.error }, 'stream input failed; reopening');
      }
      await new Promise((r) => setTimeout(r, REOPEN_DELAY_MS));
    }
  }

  private async runSubject(): Promise<void> {
    const consumer = await this.js.consumers.get(this.subj.stream, this.name);
    this.messages = await consumer.consume({ max_messages: this.s.ackPendingMax });
    this.state = 'running';
    this.error = undefined;
    try {
      for await (const m of this.messages) {
        if (this.stopped) return;
        try {
          await this.onSubjectMessage(m);
          m.ack();
          this.counts.lastSeq = m.seq;
        } catch (e) {
          // Not acked: redelivered after a delay (bounded by deliverMax), its outputs deduped.
          this.error = toTickbusError(e).message;
          this.logger.warn({ stream: this.name, seq: m.seq, err: this.error }, 'stream message not done; redelivered later');
          m.nak(REOPEN_DELAY_MS);
        }
      }
    } finally {
      await this.messages.close().catch(() => {});
    }
  }

  private async onSubjectMessage(m: JsMsg): Promise<void> {
    let value: unknown;
    try {
      value = decode(m.data, encodingOf(m.headers?.get(Header.contentType)));
    } catch (e) {
      this.counts.in++;
      await this.publish(this.deadLetters({ out: [], dead: [{ stage: 'input', reason: toTickbusError(e).message, value: m.data }] }, m.seq));
      return;
    }
    this.counts.in++;
    const r = await route(this.def, value);
    await this.publish([...this.outputs(r, m.seq), ...this.deadLetters(r, m.seq)]);
  }

  // -------------------------------------------------------------------------------------------
  // Tick-table input: the project's subscriber, a position file.

  private posFile(): string {
    return join(this.s.dataDir, `${this.name}.pos.json`);
  }

  private readPos(): number | undefined {
    const f = this.posFile();
    if (!existsSync(f)) return undefined;
    const v = JSON.parse(readFileSync(f, 'utf8')) as { seq?: unknown };
    return typeof v.seq === 'number' ? v.seq : undefined;
  }

  private writePos(seq: number): void {
    // Temp file and rename: a kill leaves the old position or the new one, never half a file.
    mkdirSync(this.s.dataDir, { recursive: true });
    const tmp = `${this.posFile()}.tmp`;
    writeFileSync(tmp, JSON.stringify({ seq }));
    renameSync(tmp, this.posFile());
    this.counts.lastSeq = seq;
  }

  private async runTable(): Promise<void> {
    const i = this.def.input as TableInput<StandardSchemaV1, unknown>;
    const pos = this.readPos();
    if (pos !== undefined) this.counts.lastSeq = pos;
    this.sub = await subscribe(this.nc, { tp: i.tp ?? this.s.tp, tables: [i.table!], from: pos !== undefined ? { seq: pos + 1 } : (i.from ?? 'today') });
    this.state = 'running';
    this.error = undefined;
    try {
      for await (const e of this.sub) {
        if (this.stopped) return;
        if (e.type === 'batch') {
          const pubs: Pub[] = [];
          const rows = batchRows(e.batch);
          for (let n = 0; n < rows.length; n++) {
            this.counts.in++;
            const r = await route(this.def, rows[n]);
            pubs.push(...this.outputs(r, e.seq, n), ...this.deadLetters(r, e.seq, n));
          }
          await this.publish(pubs);
        }
        this.writePos(e.seq);
      }
    } finally {
      // A failed batch is read again from the position (its outputs deduped by id).
      await this.sub.close().catch(() => {});
    }
  }

  // -------------------------------------------------------------------------------------------
  // Publishing

  private id(stage: string, seq: number, n?: number): string {
    return n === undefined ? `${this.name}:${stage}:${seq}` : `${this.name}:${stage}:${seq}:${n}`;
  }

  private outputs(r: Routed, seq: number, n?: number): Pub[] {
    return r.out.map(({ output, value }) => ({
      subject: this.subj.subject(this.def.outputs[output]!.subject),
      data: encode(value, this.s.encoding),
      msgID: this.id(output, seq, n),
      headers: { [Header.contentType]: ContentType[this.s.encoding], [StreamHeader.inputSeq]: String(seq) },
      output,
    }));
  }

  private deadLetters(r: Routed, seq: number, n?: number): Pub[] {
    return r.dead.map(({ stage, reason, value }) => {
      this.counts.dropped++;
      if (this.counts.dropped <= DROP_LOGS_MAX || this.counts.dropped % 1000 === 0) {
        this.logger.warn({ stream: this.name, stage, seq, row: n, reason, dropped: this.counts.dropped }, 'stream message dropped to the dead letters');
      }
      let data: Uint8Array;
      try {
        data = value instanceof Uint8Array ? value : encode(value, this.s.encoding);
      } catch {
        data = encode({ unencodable: String(value) }, this.s.encoding);
      }
      return {
        subject: this.subj.dead(this.name),
        data,
        msgID: this.id(`${DEAD_STAGE_PREFIX}${stage}`, seq, n),
        headers: {
          [Header.contentType]: ContentType[this.s.encoding],
          [StreamHeader.deadReason]: reason,
          [StreamHeader.deadStage]: stage,
          [StreamHeader.inputSeq]: String(seq),
          ...(n === undefined ? {} : { [StreamHeader.row]: String(n) }),
        },
      };
    });
  }

  /** Publishes with at most publishInflightMax awaiting their acks; throws if any is not stored. */
  private async publish(pubs: Pub[]): Promise<void> {
    for (let i = 0; i < pubs.length; i += this.s.publishInflightMax) {
      const chunk = pubs.slice(i, i + this.s.publishInflightMax);
      const acks = await Promise.all(
        chunk.map((p) => {
          const h = natsHeaders();
          for (const [k, v] of Object.entries(p.headers)) h.set(k, v);
          return this.js.publish(p.subject, p.data, { msgID: p.msgID, headers: h, timeout: this.s.publishTimeoutMs });
        }),
      );
      acks.forEach((a, k) => {
        const p = chunk[k]!;
        if (a.duplicate) this.counts.duplicates++;
        else if (p.output !== undefined) this.counts.out[p.output]!++;
      });
    }
  }
}

/** Dead-letter ids are `<stream>:dead-<stage>:<seq>[:<row>]`, apart from every output's ids. */
const DEAD_STAGE_PREFIX = 'dead-';

/** A columnar batch as row objects (symbols as strings, timestamps and longs as bigint). */
export function batchRows(b: Batch): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = Array.from({ length: b.n }, () => ({}));
  for (const [k, c] of Object.entries(b.cols)) {
    if (isSymColumn(c)) for (let i = 0; i < b.n; i++) rows[i]![k] = c.dict[c.codes[i]!];
    else for (let i = 0; i < b.n; i++) rows[i]![k] = (c as ArrayLike<unknown>)[i];
  }
  return rows;
}
