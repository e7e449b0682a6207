// Gateway settings: typed defaults, one line each; every queue, wait and fan-out is bounded.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { TablesConfig } from '../../storage/schema.ts';

export interface GatewaySettings {
  /** Gateway name: `gw.<name>.sync` and `gw.<name>.async` are its subjects. */
  name: string;
  /** Table schemas (config `tables`): data-access requests are validated against them before any backend is asked. */
  tables: TablesConfig;
  /** Process types used as backends (TorQ .servers.CONNECTIONS); every registered type but gateways when omitted. */
  backendTypes?: string[];
  /** Gateway query parts one backend runs at once, small and heavy together (default 32, 1..1024; 1 is TorQ's rule: one at a time, no reserved slot). */
  backendConcurrency: number;
  /** Per-type override of backendConcurrency, e.g. {"hdb": 2} (same bounds). */
  backendConcurrencyByType: Record<string, number>;
  /** Of a backend's slots, the most heavy parts hold at once (default 1, 1..backendConcurrency-1: the rest are reserved for small parts). */
  backendHeavySlots: number;
  /** A part is small when its kind (named API, else request type) answered within this on average (default 20 ms, 0..60 000); unseen kinds are heavy unless hinted small. */
  smallQueryMaxMs: number;
  /** Kinds whose observed time is remembered (default 4 096, 1..1 000 000; oldest forgotten first). */
  costKindsMax: number;
  /** Queries admitted and not yet answered (waiting, held or running); one more gets OVERLOADED. */
  queueMax: number;
  /** Backends one query may fan out to. */
  partsPerQueryMax: number;
  /** Timeout of a query that does not give timeoutMs. */
  defaultTimeoutMs: number;
  /** Largest timeoutMs a query may ask for. */
  timeoutMaxMs: number;
  /** After a query times out its running parts keep their backend slots this long for a late reply, then the slots are reclaimed. */
  orphanGraceMs: number;
  /** How often query deadlines are checked (the tolerance on a timeout). */
  timeoutCheckMs: number;
  /** A part running longer than this has its backend probed (ctl.<name>.status) to learn whether it is gone. */
  probeAfterMs: number;
  /** How often running parts are probed. */
  probeEveryMs: number;
  /** Deadline of one probe: a timeout means busy, only "no responders" means gone. */
  probeTimeoutMs: number;
  /** Backend requests in flight over all backends (bounds the gateway's own memory). */
  backendInflightMax: number;
  /**
   * A query waiting or running longer than this has its client's liveness subject probed (clients
   * that send Tb-Client-Alive, as GatewayClient does); "no responders" there means the client has
   * disconnected and its queries are dropped from the queue (CLIENT_GONE in the usage log).
   */
  clientProbeAfterMs: number;
  /** How often those clients are probed; at most clientProbesMax distinct clients per round. */
  clientProbeEveryMs: number;
  clientProbesMax: number;
  /** Waiting queries the nextQuery hook is shown per decision. */
  nextQueryScanMax: number;
  /** A backend more than this many heartbeat periods without a beat is in warning (still used). */
  warnAfterBeats: number;
  /** ... and in error beyond this many: not used, and its running parts fail with BACKEND_GONE. */
  errorAfterBeats: number;
  /** Attribute routing: most value combinations a cross match may enumerate. */
  attributeCombosMax: number;
  /** Data access: the trading day's end-of-day time (HH:MM) in eodZone, as the tickerplant's. */
  eodTime: string;
  /** Data access: IANA zone of eodTime. */
  eodZone: string;
  /** Data access: process types that hold days, in order of preference when two hold the same day. */
  dataTypes: string[];
  /** Data access: how long a query needing a day in hand-off from the RDB to the HDB waits before EOD_IN_PROGRESS. */
  eodHoldMs: number;
  /** Stop: how long running queries get to finish before they are failed with NOT_READY. */
  drainTimeoutMs: number;
}

export const defaultGatewaySettings: Omit<GatewaySettings, 'name' | 'tables'> = {
  backendConcurrency: 32,
  backendConcurrencyByType: {},
  backendHeavySlots: 1,
  smallQueryMaxMs: 20,
  costKindsMax: 4_096,
  queueMax: 10_000,
  partsPerQueryMax: 64,
  defaultTimeoutMs: 30_000,
  timeoutMaxMs: 600_000,
  orphanGraceMs: 5_000,
  timeoutCheckMs: 20,
  probeAfterMs: 200,
  probeEveryMs: 200,
  probeTimeoutMs: 500,
  backendInflightMax: 65_536,
  clientProbeAfterMs: 1_000,
  clientProbeEveryMs: 1_000,
  clientProbesMax: 256,
  nextQueryScanMax: 256,
  warnAfterBeats: 2,
  errorAfterBeats: 3,
  attributeCombosMax: 4_096,
  eodTime: '00:00',
  eodZone: 'UTC',
  dataTypes: ['rdb', 'hdb', 'idb'],
  eodHoldMs: 30_000,
  drainTimeoutMs: 10_000,
};

/** Bounds of the concurrency settings: a value outside them is a configuration error. */
export const concurrencyBounds = {
  backendConcurrency: [1, 1_024],
  smallQueryMaxMs: [0, 60_000],
  costKindsMax: [1, 1_000_000],
} as const;

/** Throws naming the setting when a concurrency setting is out of its bounds. */
export function checkConcurrency(s: Pick<GatewaySettings, 'backendConcurrency' | 'backendConcurrencyByType' | 'backendHeavySlots' | 'smallQueryMaxMs' | 'costKindsMax'>): void {
  const within = (name: string, v: unknown, [lo, hi]: readonly [number, number]) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `gateway setting ${name}: ${String(v)} is not an integer in [${lo}, ${hi}]`, { setting: name, value: v, min: lo, max: hi });
    }
  };
  within('backendConcurrency', s.backendConcurrency, concurrencyBounds.backendConcurrency);
  for (const [t, v] of Object.entries(s.backendConcurrencyByType)) within(`backendConcurrencyByType.${t}`, v, concurrencyBounds.backendConcurrency);
  within('backendHeavySlots', s.backendHeavySlots, [1, Math.max(1, concurrencyBounds.backendConcurrency[1] - 1)]);
  within('smallQueryMaxMs', s.smallQueryMaxMs, concurrencyBounds.smallQueryMaxMs);
  within('costKindsMax', s.costKindsMax, concurrencyBounds.costKindsMax);
}
