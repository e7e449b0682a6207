// The shape of a scenario: a topology, a feed, faults at given times, and the invariants that must
// hold afterwards. scenarios/runner.ts runs one against a real nats-server and real processes.

export interface Scenario {
  name: string;
  description: string;
  topology: {
    /** `demoDayMs` rolls the day every N ms (synthetic dates), to put end-of-day markers under the faults. */
    /** `intradayFreqMs` ends an intraday period every N ms (end-of-period markers under the faults). */
    /** `eodZone` (default UTC) is the zone of the day and its periods. */
    /** `settings`: any other tickerplant settings (e.g. consumerDisconnectBytes). */
    /** `bufferEvent`: a buffer event (ctl.<tp>.buffer.start/end) opened and ended at these times; the bufferFunct holds odd fids. */
    tp: {
      name: string;
      mode: 'batch' | 'immediate' | 'memorybatch';
      pubFreqMs?: number;
      demoDayMs?: number;
      intradayFreqMs?: number;
      eodZone?: string;
      settings?: Record<string, unknown>;
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
    /** A chained tickerplant (its own OS process, fault target by its name) following `tp`, log mode create, and an in-process subscriber of it from the start. */
    chained?: { name: string; pubFreqMs?: number; tables?: Array<'trade' | 'quote'>; syms?: string[] };
    /** The RDBs' end of day: `write` (default: they write the HDB) or `reload` (a WDB writes it; they keep the day). */
    rdbEodMode?: 'write' | 'reload';
    /** A WDB, its own OS process (so it can be SIGKILLed), writing intraday into the scenario's temp dir and merging each ended day into its HDB; `settings` go to defaults.wdb. */
    wdb?: { name: string; settings?: Record<string, unknown> };
    /** In-process subscribers that join the day late and read it to the end. */
    /** `stall`: the joiner stops reading `afterMs` after it joins, for `forMs` (a slow consumer), then reads on. */
    lateJoiners?: Array<{ name: string; joinAtMs: number; tables?: string[]; syms?: string[]; bufferBytes?: number; stall?: { afterMs: number; forMs: number } }>;
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
    /**
     * Kill the WDB only once (after atMs) it is seen in this state, polled every 10 ms for at most 30 s:
     * `mid-write-down` (files in the intraday area its manifest does not list yet), `mid-eod` (a
     * flushed day, eodSeq set, not yet merged).
     */
    when?: 'mid-write-down' | 'mid-eod';
    signal: 'SIGKILL' | 'SIGTERM';
    downMs: number;
  }>;
  invariants: Invariant[];
  /**
   * Simulated time for the processes (TICKBUS_SIM_CLOCK): their clock reads `startMs` when the
   * scenario starts and runs `speed` times as fast (a DST change within seconds). The feed and the
   * fault times stay on real time.
   */
  clock?: { startMs: number; speed: number };
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
  /** The chained tp's log and its subscriber hold exactly the parent log's rows (its tables and syms), once each, in order per table; its Tb-Count is exact. Needs topology.chained. */
  chainedEqualLog: 'chained-equal-log',
  /** Every ended day of the log is in the HDB the WDB merged, per table: the same rows (fids, with multiplicity), the same count and per-sym checksum (rows, sum of fid) as the log; its intraday manifest is marked merged. Needs topology.wdb. */
  wdbHdbEqualLog: 'wdb-hdb-equal-log',
  /** Every end-of-period marker's counts equal its period's rows in the log; one marker per period; periods contiguous. */
  periodCountsMatchLog: 'period-counts-match-log',
  /** Every end-of-period boundary is the day's start plus a whole number of intradayFreqMs of elapsed time (DST makes no period 0 or 2 hours), and the markers' periods span a change of the zone's UTC offset. Needs topology.tp.intradayFreqMs and eodZone. */
  periodsElapsedAcrossDst: 'periods-elapsed-across-dst',
  /** Each stalled late joiner's consumer was cut by the tickerplant (a `consumer-disconnected` alert naming it). */
  stalledJoinersCut: 'stalled-joiners-cut',
  /** Needs topology.tp.bufferEvent: every acked row is once in the live log before the end mark or once in the event's buffer log, never both; each held row is an odd fid acked while the event was open; with replay, every held row is in the live log once after the end mark. */
  bufferRowsOnce: 'buffer-rows-once',
} as const;
export type Invariant = (typeof Invariants)[keyof typeof Invariants];
