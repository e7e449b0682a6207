// Slow consumers (KX's subscriber handle checks, TorQ's .u.w memory watch): a q tickerplant must
// cut a subscriber whose output queue fills its memory. Here the log is in JetStream and a
// subscriber pulls at its own pace with a bounded buffer (bus/subscriber.ts), so a slow one
// cannot fill the tickerplant's memory; what it does hold is a consumer on the server that falls
// further behind. The watch reads the lag of every consumer of the tickerplant's log stream every
// `consumerCheckMs`. A consumer is judged only when it is not catching up (its pending count did
// not shrink since the previous check): a late joiner or a replay is far behind by design while it
// reads at full speed, and is left alone. Falling behind past `consumerAlertBytes`: a
// `slow-consumer` alert (once per transition, logged, on alert.tickerplant.<tp>); past
// `consumerDisconnectBytes`, the consumer is deleted (`consumer-disconnected` alert). A cut subscriber loses nothing: bus/subscriber.ts
// re-creates its consumer from the message after the last one it read and replays the log.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ALERT_TYPE, publishAlert, type Alert } from '../../bus/alerts.ts';
import { streamLag, type LagRow } from '../../bus/consumer_lag.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';

export interface ConsumerWatchSettings {
  /** Bytes behind the log's end (estimated) at which a consumer is reported slow; 0 = never. */
  consumerAlertBytes: number;
  /** Bytes behind at which a consumer is deleted (the subscriber re-joins from the log); 0 = never. */
  consumerDisconnectBytes: number;
  /** How often consumers' lag is read. */
  consumerCheckMs: number;
}

export const defaultConsumerWatchSettings: ConsumerWatchSettings = {
  consumerAlertBytes: 256 * 1024 * 1024,
  consumerDisconnectBytes: 0,
  consumerCheckMs: 5_000,
};

/** Checks the watch's settings: BAD_CONFIG naming the one out of bounds. */
export function checkConsumerWatchSettings(s: ConsumerWatchSettings): void {
  const bounds: Array<[keyof ConsumerWatchSettings, number, number]> = [
    ['consumerAlertBytes', 0, 2 ** 50],
    ['consumerDisconnectBytes', 0, 2 ** 50],
    ['consumerCheckMs', 100, 3_600_000],
  ];
  for (const [k, lo, hi] of bounds) {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant setting ${k}: ${String(v)} is not an integer in [${lo}, ${hi}]`, { setting: k, value: v });
    }
  }
}

/** Consumers looked at per check (the rest are not judged until they fit). */
const CONSUMERS_MAX = 1_000;

export interface ConsumerWatchStatus {
  /** Consumers now past consumerAlertBytes. */
  slow: string[];
  /** Consumers deleted since start. */
  disconnected: number;
  /** The consumer furthest behind at the last check (messages and estimated bytes). */
  worst?: { consumer: string; pending: number; bytesBehind: number };
  checks: number;
}

export class ConsumerWatch {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly slow = new Set<string>();
  /** Each consumer's pending count at the previous check (catching up = it shrank). */
  private readonly prevPending = new Map<string, number>();
  private disconnected = 0;
  private checks = 0;
  private worst: ConsumerWatchStatus['worst'];
  private running = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly tp: string,
    private readonly stream: string,
    private readonly s: ConsumerWatchSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer || (this.s.consumerAlertBytes <= 0 && this.s.consumerDisconnectBytes <= 0)) return;
    this.timer = setInterval(() => void this.check(), this.s.consumerCheckMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  status(): ConsumerWatchStatus {
    return { slow: [...this.slow], disconnected: this.disconnected, ...(this.worst ? { worst: this.worst } : {}), checks: this.checks };
  }

  /** One look at every consumer of the log (no overlap: a check still running skips the next). */
  async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const rows = await streamLag(this.jsm, this.stream, CONSUMERS_MAX);
      this.checks++;
      this.worst = undefined;
      for (const r of rows) if (!this.worst || r.bytesBehind > this.worst.bytesBehind) this.worst = { consumer: r.consumer, pending: r.pending, bytesBehind: r.bytesBehind };
      const present = new Set(rows.map((r) => r.consumer));
      for (const c of this.slow) if (!present.has(c)) this.slow.delete(c);
      for (const c of this.prevPending.keys()) if (!present.has(c)) this.prevPending.delete(c);
      for (const r of rows) await this.judge(r);
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'tickerplant: reading consumer lag failed');
    } finally {
      this.running = false;
    }
  }

  private async judge(r: LagRow): Promise<void> {
    const { consumerAlertBytes: alertAt, consumerDisconnectBytes: cutAt } = this.s;
    const prev = this.prevPending.get(r.consumer);
    this.prevPending.set(r.consumer, r.pending);
    // Catching up (or first seen): not slow, whatever the distance.
    if (prev === undefined || r.pending < prev) {
      if (this.slow.delete(r.consumer)) this.logger.info({ consumer: r.consumer, pending: r.pending }, 'tickerplant: slow consumer is catching up');
      return;
    }
    if (cutAt > 0 && r.bytesBehind >= cutAt) {
      // Past both bounds at once (a fast feed between two checks): the warning still comes first.
      if (alertAt > 0 && r.bytesBehind >= alertAt && !this.slow.has(r.consumer)) {
        this.alert('warning', 'slow-consumer', r, `consumer ${r.consumer} of ${this.stream} is ${r.pending} messages (~${mib(r.bytesBehind)} MiB) behind, past consumerAlertBytes ${mib(alertAt)} MiB`);
      }
      try {
        await this.jsm.consumers.delete(this.stream, r.consumer);
      } catch (e) {
        this.logger.warn({ consumer: r.consumer, err: (e as Error).message }, 'tickerplant: deleting a slow consumer failed');
        return;
      }
      this.disconnected++;
      this.slow.delete(r.consumer);
      this.prevPending.delete(r.consumer);
      this.alert('error', 'consumer-disconnected', r, `consumer ${r.consumer} of ${this.stream} was ${r.pending} messages (~${mib(r.bytesBehind)} MiB) behind, past consumerDisconnectBytes ${mib(cutAt)} MiB: deleted; it re-joins from the log`);
      return;
    }
    if (alertAt > 0 && r.bytesBehind >= alertAt) {
      if (this.slow.has(r.consumer)) return;
      this.slow.add(r.consumer);
      this.alert('warning', 'slow-consumer', r, `consumer ${r.consumer} of ${this.stream} is ${r.pending} messages (~${mib(r.bytesBehind)} MiB) behind, past consumerAlertBytes ${mib(alertAt)} MiB`);
    } else if (this.slow.delete(r.consumer)) {
      this.logger.info({ consumer: r.consumer, pending: r.pending, bytesBehind: r.bytesBehind }, 'tickerplant: slow consumer caught up');
    }
  }

  private alert(level: Alert['level'], kind: 'slow-consumer' | 'consumer-disconnected', r: LagRow, message: string): void {
    const details = { stream: this.stream, consumer: r.consumer, pending: r.pending, bytesBehind: r.bytesBehind, delivered: r.delivered, streamLast: r.streamLast };
    (level === 'error' ? this.logger.error : this.logger.warn).call(this.logger, details, message);
    publishAlert(this.nc, { type: ALERT_TYPE, at: new Date().toISOString(), level, source: { proctype: 'tickerplant', name: this.tp }, kind, subject: r.consumer, message, details }, this.logger);
  }
}

function mib(b: number): string {
  return (b / 1048576).toFixed(1);
}
