// Stamping: the times and columns the tickerplant fills in, not the feed.
// - `time`, when a feed leaves it out, is the receive time: the clock's UTC nanoseconds (KX
//   timeType `gmt`), or the wall time of eodZone written as if it were UTC (`local`, kdb+'s .z.P),
//   plus `timeOffset` hours (KX timeOffset), plus the demo-day shift (settings.demoDayMs).
// - Custom stamping (TorQ's seqnum-style columns), per table in settings.stamp: a `seq` column,
//   the row's 1-based position in the table's day (the log's Tb-Count of the row, so a restarted
//   tickerplant continues it from the log with no repeat), and a `recvTime` column, the receive
//   time next to a feed-supplied `time`. The schema declares both columns; feeds leave them out.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { type Batch, batchFromFeed, type Column, type FeedTableData } from '../../storage/batch.ts';
import { defineTable, type Schema, type TableSchema } from '../../storage/schema.ts';
import { nowNs, zoneOffsetMs, type Clock } from '../common/clock.ts';
import type { TableStamp, TickerplantSettings } from './settings.ts';

const NS_PER_HOUR = 3_600_000_000_000n;
/** The eodZone offset is looked up again at most this often (it changes at DST, on a minute). */
const zoneCacheMs = 60_000;

interface Stamped {
  /** The table as feeds send it: the schema without the stamped columns. */
  feed: TableSchema;
  seq?: string;
  recvTime?: string;
}

export class Stamper {
  private readonly tables = new Map<string, Stamped>();
  /** Demo days only: whole days added so a synthetic day's rows carry times inside that day. */
  demoOffsetNs = 0n;
  private readonly fixedOffsetNs: bigint;
  private zoneFrom = Number.NEGATIVE_INFINITY;
  private zoneOffsetNs = 0n;

  constructor(
    schema: Schema,
    private readonly settings: Pick<TickerplantSettings, 'stamp' | 'timeType' | 'timeOffset' | 'eodZone'>,
    private readonly clock: Clock,
  ) {
    this.fixedOffsetNs = BigInt(settings.timeOffset) * NS_PER_HOUR;
    for (const [table, st] of Object.entries(settings.stamp)) this.tables.set(table, checkStamp(schema, table, st));
  }

  /** The receive time of what arrives now (epoch ns, with timeType, timeOffset and the demo shift). */
  now(): bigint {
    const ns = this.clock.nowNs?.() ?? nowNs();
    let off = this.fixedOffsetNs + this.demoOffsetNs;
    if (this.settings.timeType === 'local') off += this.localOffset(Number(ns / 1_000_000n));
    return ns + off;
  }

  private localOffset(ms: number): bigint {
    if (ms < this.zoneFrom || ms >= this.zoneFrom + zoneCacheMs) {
      this.zoneFrom = ms - (ms % zoneCacheMs);
      this.zoneOffsetNs = BigInt(zoneOffsetMs(this.zoneFrom, this.settings.eodZone)) * 1_000_000n;
    }
    return this.zoneOffsetNs;
  }

  /** A feed update of `table` as a validated batch of the full schema (stamped columns filled, seq left 0). */
  batch(table: TableSchema, data: FeedTableData, stampNs: bigint, maxRows: number): Batch {
    const st = this.tables.get(table.name);
    if (!st) return batchFromFeed(table, data, stampNs, maxRows);
    if (typeof data.cols === 'object' && data.cols !== null) {
      for (const c of [st.seq, st.recvTime]) {
        if (c !== undefined && c in data.cols) {
          throw new TickbusError(ErrorCode.EXTRA_COLUMN, `table ${table.name}: column ${c} is stamped by the tickerplant; leave it out`, { table: table.name, column: c });
        }
      }
    }
    const b = batchFromFeed(st.feed, data, stampNs, maxRows);
    const cols: Record<string, Column> = {};
    for (const c of table.columns) {
      if (c.name === st.seq) cols[c.name] = new BigInt64Array(b.n);
      else if (c.name === st.recvTime) cols[c.name] = new BigInt64Array(b.n).fill(stampNs);
      else cols[c.name] = b.cols[c.name]!;
    }
    return { table: table.name, n: b.n, cols };
  }

  /** True when the table has a seq column (filled at append time by fillSeq). */
  hasSeq(table: string): boolean {
    return this.tables.get(table)?.seq !== undefined;
  }

  /** Numbers the rows of `parts` (in order) from `before + 1`: their positions in the table's day. */
  fillSeq(table: string, parts: readonly Batch[], before: number): void {
    const col = this.tables.get(table)?.seq;
    if (col === undefined) return;
    let k = BigInt(before);
    for (const p of parts) {
      const a = p.cols[col] as BigInt64Array;
      for (let i = 0; i < a.length; i++) a[i] = ++k;
    }
  }
}

/** Checks one table's stamping against the schema: BAD_CONFIG naming what is wrong. */
function checkStamp(schema: Schema, table: string, st: TableStamp): Stamped {
  const t = schema.get(table);
  const bad = (why: string, detail: Record<string, unknown> = {}) =>
    new TickbusError(ErrorCode.BAD_CONFIG, `tickerplant setting stamp.${table}: ${why}`, { setting: `stamp.${table}`, ...detail });
  if (!t) throw bad('no such table in the schema', { tables: [...schema.keys()] });
  if (typeof st !== 'object' || st === null) throw bad('must be an object {seq?, recvTime?}');
  for (const k of Object.keys(st)) if (k !== 'seq' && k !== 'recvTime') throw bad(`unknown key ${k} (seq, recvTime)`);
  const want = { seq: 'long', recvTime: 'timestamp' } as const;
  for (const k of ['seq', 'recvTime'] as const) {
    const c = st[k];
    if (c === undefined) continue;
    const col = t.columns.find((x) => x.name === c);
    if (!col) throw bad(`${k} column ${String(c)} is not in the table's schema (declare it as ${want[k]})`, { column: c });
    if (col.type !== want[k]) throw bad(`${k} column ${c} must be ${want[k]}, is ${col.type}`, { column: c });
    if (c === 'time' || c === 'sym') throw bad(`${k} cannot be ${c}`, { column: c });
  }
  if (st.seq !== undefined && st.seq === st.recvTime) throw bad('seq and recvTime name the same column');
  const stamped = new Set([st.seq, st.recvTime]);
  const feed = defineTable(table, Object.fromEntries(t.columns.filter((c) => !stamped.has(c.name)).map((c) => [c.name, c.type])));
  const out: Stamped = { feed };
  if (st.seq !== undefined) out.seq = st.seq;
  if (st.recvTime !== undefined) out.recvTime = st.recvTime;
  return out;
}
