// The chained tickerplant's period manifest: after each end-of-period marker in its own log, the
// period's entry in KV `stpmeta` under `<ctp>.<start>` (the tickerplant's format, bus/periods.ts),
// so `readPeriod(nc, 'ctp1', period)` reads one period of one table of the chained tp's log. The
// marker is the truth: a failed write is logged, and recovery writes the last period's entry when
// it is missing (a crash between the marker and the write).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../bus/log.ts';
import { openPeriodsBucket, periodRecord } from '../../bus/periods.ts';
import { kv } from '../../bus/subjects.ts';
import type { ChainedTpSettings } from './settings.ts';

/** Bound on one manifest call. */
const MANIFEST_TIMEOUT_MS = 5_000;

/** What an own end-of-period marker holds that the entry needs. */
export interface OwnEop {
  day: string;
  period: string;
  nextPeriod: string;
  start?: number;
  end?: number;
  tables: string[];
  counts: Record<string, number>;
  firstSeq: number;
}

export class Manifest {
  private bucket: KV | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly s: ChainedTpSettings,
    private readonly logger: Logger,
  ) {}

  /** Queues the entry of the period whose marker is at own sequence `lastSeq` (markers without bounds have none). */
  record(e: OwnEop, lastSeq: number, onlyIfMissing = false): Promise<void> {
    if (e.start === undefined || e.end === undefined) return this.writing;
    const rec = periodRecord(this.s.name, this.s.tables, { ...e, start: e.start, end: e.end }, lastSeq);
    this.writing = this.writing.then(async () => {
      try {
        this.bucket ??= await openPeriodsBucket(this.nc, this.jsm, { replicas: this.s.replicas, ttlMs: this.s.logRetentionMs, timeoutMs: MANIFEST_TIMEOUT_MS });
        const key = kv.periodKey(this.s.name, rec.start);
        if (onlyIfMissing && (await this.bucket.get(key))?.operation === 'PUT') return;
        await this.bucket.put(key, JSON.stringify(rec));
      } catch (err) {
        this.logger.warn({ period: rec.period, err: (err as Error).message }, 'chained tp cannot write the period manifest entry');
      }
    });
    return this.writing;
  }
}
