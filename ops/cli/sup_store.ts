// Where the supervisor's state goes: each process's record to KV bucket `sup` (key = procname) and
// alerts to `alert.launcher.<launcher>`. nats-server may be down (it is itself supervised, and may
// be the process being restarted): records then wait in memory, the last value per process only
// (so at most one per supervised process), and are written when the server is back; alerts wait
// in a queue of at most ALERTS_PENDING_MAX (the oldest dropped, counted and logged).
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { kv, subjects } from '../../bus/subjects.ts';
import { SUP_TYPE, type Alert, type SupRecord } from './supervisor.ts';

/** Alerts kept while there is no connection yet (the launcher starts nats-server first). */
const ALERTS_PENDING_MAX = 100;
/** Bound on one KV write or bucket creation. */
const KV_TIMEOUT_MS = 2_000;
/** Wait before retrying writes that failed (server down). */
const RETRY_MS = 500;

export class SupStore {
  private nc: NatsConnection | undefined;
  private bucket: KV | undefined;
  private readonly pending = new Map<string, SupRecord>();
  private alerts: Alert[] = [];
  private alertsDropped = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly launcher: string,
    private readonly logger: Logger,
  ) {}

  /** The connection to write through (records and alerts before it are kept until then). */
  attach(nc: NatsConnection): void {
    this.nc = nc;
    for (const a of this.alerts) this.publishAlert(a);
    this.alerts = [];
    this.kick();
  }

  /**
   * Deletes this launcher's records of processes it no longer runs (rows removed from the table
   * since its last run), so `actors ps` does not show them. Best effort, bounded per call.
   */
  async prune(names: readonly string[]): Promise<void> {
    if (!this.nc) return;
    try {
      const bucket = await new Kvm(jetstream(this.nc, { timeout: KV_TIMEOUT_MS })).create(kv.supervisorBucket, { history: 1 });
      for (const [k, r] of await readSupRecords(this.nc, KV_TIMEOUT_MS)) if (r.launcher === this.launcher && !names.includes(k)) await bucket.delete(k);
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'cannot prune old supervisor records');
    }
  }

  put(r: SupRecord): void {
    this.pending.set(r.procname, r);
    this.kick();
  }

  alert(a: Alert): void {
    if (this.nc) return this.publishAlert(a);
    if (this.alerts.length >= ALERTS_PENDING_MAX) {
      this.alerts.shift();
      this.logger.warn({ dropped: ++this.alertsDropped }, 'alert dropped: no connection yet');
    }
    this.alerts.push(a);
  }

  private publishAlert(a: Alert): void {
    try {
      // While the server is down nats.js keeps publishes in its bounded reconnect buffer.
      this.nc!.publish(subjects.alert(a.source.proctype, a.source.name), JSON.stringify(a));
    } catch (e) {
      this.logger.warn({ err: (e as Error).message, kind: a.kind, proc: a.subject }, 'cannot publish alert');
    }
  }

  private kick(): void {
    if (!this.nc || this.closed) return;
    this.flushing ??= this.flushLoop().finally(() => {
      this.flushing = undefined;
      if (this.pending.size > 0 && !this.closed) this.kick();
    });
  }

  private async flushLoop(): Promise<void> {
    let failures = 0;
    while (this.pending.size > 0 && !this.closed) {
      const [key, r] = this.pending.entries().next().value as [string, SupRecord];
      try {
        this.bucket ??= await new Kvm(jetstream(this.nc!, { timeout: KV_TIMEOUT_MS })).create(kv.supervisorBucket, { history: 1 });
        await this.bucket.put(key, JSON.stringify(r));
        if (this.pending.get(key) === r) this.pending.delete(key);
        failures = 0;
      } catch (e) {
        if (failures++ === 0) this.logger.warn({ err: (e as Error).message, pending: this.pending.size }, 'cannot write supervisor state; kept in memory and retried');
        await new Promise((res) => setTimeout(res, RETRY_MS));
      }
    }
  }

  /** Waits up to boundMs for pending records to be written, then stops writing. */
  async close(boundMs: number): Promise<void> {
    const deadline = Date.now() + boundMs;
    while (this.pending.size > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    this.closed = true;
    await Promise.race([this.flushing, new Promise((res) => setTimeout(res, Math.max(0, deadline - Date.now())))]);
  }
}

async function openBucket(nc: NatsConnection, timeoutMs: number): Promise<KV | undefined> {
  try {
    const bucket = await new Kvm(jetstream(nc, { timeout: timeoutMs })).open(kv.supervisorBucket);
    await bucket.status();
    return bucket;
  } catch {
    return undefined;
  }
}

async function getRecord(bucket: KV, key: string): Promise<SupRecord | undefined> {
  const e = await bucket.get(key);
  if (!e || e.operation !== 'PUT') return undefined;
  try {
    const r = e.json<SupRecord>();
    return r.type === SUP_TYPE ? r : undefined;
  } catch {
    return undefined; // not ours
  }
}

/** Fails with TIMEOUT after boundMs (a listing of keys has no bound of its own). */
async function bounded<T>(p: Promise<T>, boundMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TickbusError(ErrorCode.TIMEOUT, `${what} took over ${boundMs} ms`, { boundMs })), boundMs);
  });
  return await Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Reads every record of the `sup` bucket (empty when there is none); the whole read within 2 × timeoutMs. */
export async function readSupRecords(nc: NatsConnection, timeoutMs = 2_000): Promise<Map<string, SupRecord>> {
  const read = async () => {
    const out = new Map<string, SupRecord>();
    const bucket = await openBucket(nc, timeoutMs);
    if (!bucket) return out;
    // The keys from one stream-info request (subjects of KV_sup): bounded, unlike a key listing's
    // consumer, which stalled for ~30 s under concurrent writes on a loaded machine.
    const prefix = `$KV.${kv.supervisorBucket}.`;
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    const si = await jsm.streams.info(`KV_${kv.supervisorBucket}`, { subjects_filter: `${prefix}>` });
    const keys = Object.keys(si.state.subjects ?? {}).map((x) => x.slice(prefix.length));
    for (const k of keys) {
      const r = await getRecord(bucket, k);
      if (r) out.set(k, r);
    }
    return out;
  };
  return await bounded(read(), 2 * timeoutMs, `reading KV bucket ${kv.supervisorBucket}`);
}

/** One process's record (undefined when there is none), by a direct get, within 2 × timeoutMs. */
export async function readSupRecord(nc: NatsConnection, procname: string, timeoutMs = 2_000): Promise<SupRecord | undefined> {
  const read = async () => {
    const bucket = await openBucket(nc, timeoutMs);
    return bucket ? await getRecord(bucket, procname) : undefined;
  };
  return await bounded(read(), 2 * timeoutMs, `reading ${procname} from KV bucket ${kv.supervisorBucket}`);
}
