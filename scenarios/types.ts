// The shape of a scenario: a topology, a feed, faults at given times, and the invariants that must
// hold afterwards. scenarios/runner.ts runs one against a real nats-server and real processes.

export interface Scenario {
  name: string;
  description: string;
  topology: {
    /** `demoDayMs` rolls the day every N ms (synthetic dates), to put end-of-day markers under the faults. */
    /** `intradayFreqMs` ends an intraday period every N ms (end-of-period markers under the faults). */
    /** `bufferEvent`: a buffer event (ctl.<tp>.buffer.start/end) opened and ended at these times; the bufferFunct holds odd fids. */
    tp: {
      name: string;
      mode: 'batch' | 'immediate' | 'memorybatch';
      pubFreqMs?: number;
      demoDayMs?: number;
      intradayFreqMs?: number;
      bufferEvent?: { id: string; startAtMs: number; endAtMs: number; replay: boolean };
    };
    /** RDBs, each its own OS process (so it can be SIGKILLed). */
    rdbs: string[];
    /** The RDBs write each ended day to a Parquet HDB (in the scenario's temp dir) at end of day. */
    hdb?: boolean;
    /** Run on an embedded N-node JetStream cluster (bus/nats_cluster.ts), streams and buckets with N replicas. */
    cluster?: number;
    /** A gateway process, asked for the row count of the feed's tables through `rdb` every `everyMs` throughout. */
    gateway?: { name: string; everyMs: number; timeoutMs: number; gapMaxMs: number };
    /** In-process subscribers that join the day late and read it to the end. */
    lateJoiners?: Array<{ name: string; joinAtMs: number; tables?: string[]; syms?: string[] }>;
  };
  feed: {
    tables: Array<'trade' | 'quote'>;
    rowsPerUpdate: number;
    updatesPerSec: number;
    durationMs: number;
    syms: number;
  };
  faults: Array<{
    atMs: number;
    /** 'tp', an RDB's name, or 'nats' (the server itself; on a cluster one node, see `node`). */
    target: string;
    /** On a cluster: the node to kill, by index, or 'log-leader' (the node leading the tickerplant's log stream then). */
    node?: number | 'log-leader';
    action: 'kill-restart';
    signal: 'SIGKILL' | 'SIGTERM';
    downMs: number;
  }>;
  invariants: Invariant[];
  /** Bound on the time every RDB may take, after the feed ends, to apply the log's last message (default 15 s). */
  catchUpMs?: number;
  /** End-of-day markers the log must hold at the end (a scenario about rolls checks they happened). */
  minEods?: number;
  /** End-of-period markers the log must hold at the end. */
  minEops?: number;
}

export const Invariants = {
  /** Every row whose update was acked is in the log exactly once. */
  ackedRowsInLogOnce: 'acked-rows-in-log-once',
  /** No row (by its unique fid) is in the log twice. */
  logHasNoDuplicates: 'log-has-no-duplicates',
  /** Each RDB holds exactly the log's rows for the day. */
  rdbsEqualLog: 'rdbs-equal-log',
  /** Each late joiner received exactly the log's rows of the day, in log order. */
  lateJoinersEqualLog: 'late-joiners-equal-log',
  /** Every ended day of the log is in the HDB exactly (each table's fids, as a set with multiplicity), and each RDB's current day equals the log's rows after the last end of day. Needs topology.hdb. */
  hdbAndRdbEqualLog: 'hdb-and-rdb-equal-log',
  /** The gateway answered throughout (no gap over gateway.gapMaxMs), never counted more rows than the log holds (one replica per dataset, never both), and counts the log's rows at the end. Needs topology.gateway. */
  gatewayAnswers: 'gateway-answers',
  /** Every batch's Tb-Count equals the rows of its table in the log up to and including it (per day); every end-of-day marker's counts equal the day's rows. */
  countsMatchLog: 'counts-match-log',
  /** Every end-of-period marker's counts equal its period's rows in the log; one marker per period; periods contiguous. */
  periodCountsMatchLog: 'period-counts-match-log',
  /** Needs topology.tp.bufferEvent: every acked row is once in the live log before the end mark or once in the event's buffer log, never both; each held row is an odd fid acked while the event was open; with replay, every held row is in the live log once after the end mark. */
  bufferRowsOnce: 'buffer-rows-once',
} as const;
export type Invariant = (typeof Invariants)[keyof typeof Invariants];
