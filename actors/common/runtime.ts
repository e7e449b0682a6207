// The process runtime: connects to NATS, registers the process in the discovery bucket, beats a
// heartbeat, answers ctl.<name>.status / ctl.<name>.stop, and stops everything in order.
import { hostname } from 'node:os';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import { connectBus } from '../../bus/connection.ts';
import type { Logger } from '../../bus/log.ts';
import { kv, subjects } from '../../bus/subjects.ts';

export interface RunningProcess {
  /** Resolves once the process does its job (TP recovered, RDB caught up). */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

export interface ProcessInfo {
  type: 'tickbus.v1.proc';
  name: string;
  proctype: string;
  host: string;
  pid: number;
  subjects: string[];
  startedAt: string;
  attributes: Record<string, unknown>;
}

export interface RuntimeOptions {
  proctype: string;
  name: string;
  servers: string;
  logger: Logger;
  /** Heartbeat period. */
  heartbeatMs?: number;
  /** Registry bucket replicas (3 on a cluster). */
  registryReplicas?: number;
  attributes?: Record<string, unknown>;
  subjects?: string[];
  start: (nc: NatsConnection) => Promise<RunningProcess>;
}

export class ProcessRuntime {
  private nc!: NatsConnection;
  private proc!: RunningProcess;
  private registry: KV | undefined;
  private hbTimer: ReturnType<typeof setInterval> | undefined;
  private ctlSubs: Subscription[] = [];
  private stopping: Promise<void> | undefined;
  private hbSeq = 0;
  /** Resolves when the process has stopped (by ctl.stop, a signal or stop()). */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;

  constructor(private readonly o: RuntimeOptions) {
    this.stopped = new Promise((r) => (this.markStopped = r));
  }

  get connection(): NatsConnection {
    return this.nc;
  }

  async start(readyTimeoutMs = 60_000): Promise<void> {
    const { o } = this;
    this.nc = await connectBus({ servers: o.servers, name: `${o.proctype}.${o.name}`, logger: o.logger });
    this.proc = await o.start(this.nc);
    await this.proc.ready(readyTimeoutMs);
    const info: ProcessInfo = {
      type: 'tickbus.v1.proc',
      name: o.name,
      proctype: o.proctype,
      host: hostname(),
      pid: process.pid,
      subjects: o.subjects ?? [],
      startedAt: new Date().toISOString(),
      attributes: o.attributes ?? {},
    };
    try {
      this.registry = await new Kvm(this.nc).create(kv.registryBucket, { history: 1, replicas: o.registryReplicas ?? 1 });
      await this.registry.put(kv.registryKey(o.proctype, o.name), JSON.stringify(info));
    } catch (e) {
      o.logger.warn({ err: (e as Error).message }, 'cannot register in the discovery bucket');
    }
    const enc = new TextEncoder();
    const reply = (subject: string, fn: () => Promise<unknown> | unknown) =>
      this.nc.subscribe(subject, {
        callback: (_e, m) => {
          void (async () => {
            try {
              m.respond(enc.encode(JSON.stringify(await fn())));
            } catch (e) {
              m.respond(enc.encode(JSON.stringify({ type: 'tickbus.v1.error', code: 'INTERNAL', message: (e as Error).message, detail: {} })));
            }
          })();
        },
      });
    this.ctlSubs = [
      reply(subjects.ctl(o.name, 'status'), () => this.statusBody()),
      reply(subjects.ctl(o.name, 'stop'), () => {
        setTimeout(() => void this.stop(), 10);
        return { type: 'tickbus.v1.ok', name: o.name };
      }),
    ];
    this.hbTimer = setInterval(() => {
      try {
        this.nc.publish(subjects.heartbeat(o.proctype, o.name), enc.encode(JSON.stringify({ ...this.statusBody(), type: 'tickbus.v1.hb', seq: ++this.hbSeq })));
      } catch {
        // disconnected: the heartbeat gap is the signal
      }
    }, o.heartbeatMs ?? 1_000);
    this.hbTimer.unref();
    o.logger.info({ proctype: o.proctype, name: o.name }, 'process ready');
  }

  private statusBody(): Record<string, unknown> {
    return { type: 'tickbus.v1.status', name: this.o.name, proctype: this.o.proctype, pid: process.pid, time: new Date().toISOString(), status: this.proc.status() };
  }

  /** Stops the process, deregisters it and closes the connection; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.hbTimer);
      for (const s of this.ctlSubs) s.unsubscribe();
      try {
        await this.proc?.stop();
      } catch (e) {
        this.o.logger.error({ err: (e as Error).message }, 'error while stopping');
      }
      try {
        await this.registry?.delete(kv.registryKey(this.o.proctype, this.o.name));
      } catch {
        // the registry entry ages out with its heartbeat
      }
      await this.nc?.drain().catch(() => {});
      this.o.logger.info('process stopped');
      this.markStopped();
    })();
    return this.stopping;
  }
}
