// The gateway's watch on its clients (Tb-Client-Alive): which queries each client's liveness
// subject has admitted, and the probe that finds a client gone ("no responders" on that subject)
// so its queries are dropped (CLIENT_GONE) instead of running for nobody. Split from effects.ts.
import { ErrorCode, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Pipeline } from '../../bus/pipeline.ts';
import type { GatewaySettings } from './settings.ts';

/** A liveness subject the gateway will probe: a plain subject of at most 256 characters, no wildcards. */
export function isAliveSubject(alive: string | undefined): alive is string {
  return !!alive && alive.length <= 256 && /^[^\s*>]+$/.test(alive);
}

export class ClientWatch {
  /** Queries by client liveness subject (Tb-Client-Alive) -> query id -> admitted at (ms). */
  private readonly clients = new Map<string, Map<string, number>>();
  private readonly probing = new Set<string>();
  readonly stats = { clientsGone: 0, droppedForClients: 0 };

  constructor(
    private readonly s: Pick<GatewaySettings, 'clientProbeAfterMs' | 'clientProbesMax' | 'probeTimeoutMs'>,
    private readonly logger: Logger,
    /** Called with the queries of a client found gone (the scheduler drops them). */
    private readonly onGone: (ids: string[]) => void,
  ) {}

  /** Clients with queries admitted and not yet answered. */
  get size(): number {
    return this.clients.size;
  }

  /** Query `id` was admitted for the client at `alive`. */
  track(alive: string, id: string): void {
    const ids = this.clients.get(alive) ?? new Map<string, number>();
    this.clients.set(alive, ids);
    ids.set(id, Date.now());
  }

  /** Query `id` was answered. */
  forget(alive: string, id: string): void {
    const ids = this.clients.get(alive);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.clients.delete(alive);
  }

  /**
   * Probes the clients of queries waiting or running for longer than clientProbeAfterMs: "no
   * responders" on a client's liveness subject means it disconnected, and its queries are dropped
   * (a timeout means busy, as for backends). At most clientProbesMax clients per round.
   */
  probe(pipeline: Pipeline | undefined): void {
    if (!pipeline) return;
    const old = Date.now() - this.s.clientProbeAfterMs;
    let n = 0;
    for (const [alive, ids] of this.clients) {
      if (n >= this.s.clientProbesMax) break;
      if (this.probing.has(alive)) continue;
      let due = false;
      for (const at of ids.values()) if (at <= old) (due = true);
      if (!due) continue;
      n++;
      this.probing.add(alive);
      pipeline.request(alive, new Uint8Array(0), undefined, this.s.probeTimeoutMs).then(
        () => this.probing.delete(alive),
        (e: unknown) => {
          this.probing.delete(alive);
          if (toTickbusError(e).code !== ErrorCode.NO_RESPONDERS) return;
          const gone = [...(this.clients.get(alive)?.keys() ?? [])];
          this.clients.delete(alive);
          this.logger.info({ client: alive, queries: gone.length }, 'client disconnected; its queries are dropped');
          this.stats.clientsGone++;
          this.stats.droppedForClients += gone.length;
          this.onGone(gone);
        },
      );
    }
  }
}
