// One benchmark figure, as printed and as written to test/bench/out/latest.json, and the targets
// the figures are judged against (each a bound on the value or on the ratio to a baseline
// measured in the same run).
export interface Metric {
  metric: string;
  value: number;
  unit: string;
  /** The metric this one is compared with, measured in the same run. */
  baseline?: string;
  ratio?: number;
  target?: string;
  /** Whether every bound of the target holds (absent: the metric is information only). */
  met?: boolean;
}

export interface Bound {
  on: 'value' | 'ratio';
  op: '>=' | '<=';
  limit: number;
}

/** The targets (issue 7 and the storage issue); a metric not listed is information. */
export const targets: Record<string, { bounds: Bound[]; baseline?: string }> = {
  ingest_batch_rows_per_s: { baseline: 'raw_js_pipeline_rows_per_s', bounds: [{ on: 'ratio', op: '>=', limit: 0.8 }] },
  ingest_single_acked_rows_per_s: {
    baseline: 'raw_request_reply_rows_per_s',
    bounds: [
      { on: 'ratio', op: '>=', limit: 0.5 },
      { on: 'value', op: '>=', limit: 150_000 },
    ],
  },
  latency_p50_ms: { bounds: [{ on: 'value', op: '<=', limit: 0.8 }] },
  latency_p99_ms: { bounds: [{ on: 'value', op: '<=', limit: 3 }] },
  gateway_sync_qps: { baseline: 'direct_request_qps', bounds: [{ on: 'ratio', op: '>=', limit: 0.4 }] },
  gateway_overhead_p50_ms: { bounds: [{ on: 'value', op: '<=', limit: 1 }] },
  rdb_groupby_10m_scan_ms: { bounds: [{ on: 'value', op: '<=', limit: 50 }] },
  rdb_groupby_10m_ms: { bounds: [{ on: 'value', op: '<=', limit: 60 }] },
  rdb_bytes_per_row: { bounds: [{ on: 'value', op: '<=', limit: 40 }] },
  replay_10m_rows_s: { bounds: [{ on: 'value', op: '<=', limit: 8 }] },
  eod_10m_rows_s: { bounds: [{ on: 'value', op: '<=', limit: 3 }] },
  runaway_small_query_rdb_p99_ms: { baseline: 'small_query_rdb_p99_ms', bounds: [{ on: 'value', op: '<=', limit: 50 }] },
  runaway_small_query_gateway_p99_ms: { baseline: 'small_query_gateway_p99_ms', bounds: [{ on: 'value', op: '<=', limit: 50 }] },
  chained_tp_rows_per_s: { baseline: 'chained_tp_parent_rows_per_s', bounds: [{ on: 'ratio', op: '>=', limit: 0.8 }] },
  chained_tp_hop_p50_ms: { bounds: [{ on: 'value', op: '<=', limit: 0.5 }] },
  rtp_rows_per_s: { baseline: 'rdb_replay_rows_per_s', bounds: [{ on: 'ratio', op: '>=', limit: 0.8 }] },
  gateway_3tier_query_ms: { baseline: 'one_hdb_query_ms', bounds: [{ on: 'ratio', op: '<=', limit: 1.5 }] },
  hdb_groupby_100m_ms: { baseline: 'duckdb_direct_groupby_100m_ms', bounds: [{ on: 'ratio', op: '<=', limit: 1.3 }] },
  wdb_eod_100m_rows_s: { bounds: [{ on: 'value', op: '<=', limit: 30 }] },
  wdb_eod_peak_rss_mib: { bounds: [{ on: 'value', op: '<=', limit: 1536 }] },
  wdb_ingest_rows_per_s: { baseline: 'rdb_ingest_rows_per_s', bounds: [{ on: 'ratio', op: '>=', limit: 0.9 }] },
  ingest_during_heavy_query_rows_per_s: { baseline: 'ingest_alone_rows_per_s', bounds: [{ on: 'ratio', op: '>=', limit: 0.8 }] },
};

function fmt(n: number): string {
  return n >= 1000 ? n.toLocaleString('en-US') : String(n);
}

/** Sets `target` (text) and `met` from the targets table; leaves other metrics as they are. */
export function judge(m: Metric): Metric {
  const t = targets[m.metric];
  if (!t) return m;
  if (t.baseline && m.baseline !== t.baseline) throw new Error(`${m.metric}: target is against ${t.baseline}, measured against ${m.baseline ?? 'nothing'}`);
  m.target = t.bounds.map((b) => `${b.on === 'ratio' ? 'ratio' : 'value'} ${b.op} ${fmt(b.limit)}`).join(' and ');
  m.met = t.bounds.every((b) => {
    const x = b.on === 'ratio' ? m.ratio : m.value;
    if (x === undefined || !Number.isFinite(x)) return false;
    return b.op === '>=' ? x >= b.limit : x <= b.limit;
  });
  return m;
}
