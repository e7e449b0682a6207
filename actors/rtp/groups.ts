// Derived groups: the publish() calls of consecutive input batches, sent to the tickerplant as one
// update (one id, `rtp.<name>.<firstSeq>-<lastSeq>`, published.ts) instead of one per input batch.
// Where a group ends is a function of the input log alone (decision 113), so a restart's replay
// forms the same groups with the same ids, and the exactly-once argument of the per-batch ids holds
// group for group:
// - before an input batch: the group closes when the input was logged (its log timestamp) more
//   than `ms` after the group's first input;
// - after an input batch (its last part): the group closes at `rowsMax` rows, `bytesMax` bytes of
//   columns or `inputsMax` input batches;
// - at a new input batch whose update of a table has other columns than the group's: it closes first;
// - at an end-of-day marker.
// A group never closes inside an input batch (nor between the parts of one log message), so input
// sequences of two groups never overlap. Updates found already in the log (the start-up scan) count
// for the group's shape but are not sent. The live idle flush (effects.ts) closes a group only when
// the first rule is bound to close it before any later input.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { concatCols, type Cols, type Update } from '../../bus/publisher.ts';
import type { DerivedCols } from './processor.ts';

export interface GroupLimits {
  rowsMax: number;
  bytesMax: number;
  inputsMax: number;
  ms: number;
}

/** A closed group: what to send (nothing when all of it is already in the log). */
export interface ClosedGroup {
  /** Input sequences of the first and last publish() sent (0 when none). */
  first: number;
  last: number;
  /** Per table, the update to send (columns of its publish() calls, concatenated in call order). */
  tables: Map<string, Update>;
  /** publish() calls sent, and those skipped (already in the log). */
  updates: number;
  skipped: number;
}

interface Open {
  firstNs: number;
  lastSeq: number;
  inputs: number;
  rows: number;
  bytes: number;
  first: number;
  last: number;
  updates: number;
  skipped: number;
  /** Column names per table (of every call, sent or skipped) and the columns to send. */
  keys: Map<string, string>;
  parts: Map<string, Cols[]>;
}

export class DerivedGroups {
  private open: Open | undefined;
  /** Bumped at each close or drop: a timer armed for one group does nothing to the next. */
  generation = 0;

  constructor(private readonly limits: GroupLimits) {}

  /** Derived updates in the open group, not yet sent (status). */
  get held(): number {
    return this.open ? this.open.updates : 0;
  }

  /** The open group's last input sequence (0: none open). */
  get lastSeq(): number {
    return this.open?.lastSeq ?? 0;
  }

  /** Before an input batch (logged at logNs): closes the open group when the input is more than `ms` of log time after its first. */
  beforeInput(seq: number, logNs: number): ClosedGroup | undefined {
    const o = this.open;
    if (!o || o.lastSeq === seq) return undefined;
    return logNs - o.firstNs > this.limits.ms * 1e6 ? this.close() : undefined;
  }

  /**
   * A publish() of the input batch at seq: added to the open group (one is opened). `skip`: it is
   * already in the log. Returns the group closed first when the table's columns differ from the
   * group's (only at a new input batch; within one it is a BAD_TYPE thrown to the processor).
   */
  add(seq: number, logNs: number, table: string, cols: DerivedCols, skip: boolean): ClosedGroup | undefined {
    const keys = Object.keys(cols).join(',');
    let closed: ClosedGroup | undefined;
    let o = this.open;
    const had = o?.keys.get(table);
    if (o && had !== undefined && had !== keys) {
      if (o.lastSeq === seq) throw new TickbusError(ErrorCode.BAD_TYPE, `derived updates of table ${table} for one input batch must have the same columns (${had} then ${keys})`, { table, seq });
      closed = this.close();
      o = undefined;
    }
    if (!o) {
      o = this.open = { firstNs: logNs, lastSeq: seq, inputs: 0, rows: 0, bytes: 0, first: 0, last: 0, updates: 0, skipped: 0, keys: new Map(), parts: new Map() };
    }
    if (o.lastSeq !== seq || o.inputs === 0) o.inputs++;
    o.lastSeq = seq;
    o.keys.set(table, keys);
    const size = measure(cols);
    o.rows += size.rows;
    o.bytes += size.bytes;
    if (skip) {
      o.skipped++;
      return closed;
    }
    if (!o.first) o.first = seq;
    o.last = seq;
    o.updates++;
    let parts = o.parts.get(table);
    if (!parts) o.parts.set(table, (parts = []));
    parts.push(cols);
    return closed;
  }

  /** After an input batch (its last part): closes the open group at a size bound. */
  afterInput(): ClosedGroup | undefined {
    const o = this.open;
    if (!o) return undefined;
    const l = this.limits;
    return o.rows >= l.rowsMax || o.bytes >= l.bytesMax || o.inputs >= l.inputsMax ? this.close() : undefined;
  }

  /** Closes the open group (end of day, the idle flush, a rule above). */
  close(): ClosedGroup | undefined {
    const o = this.open;
    if (!o) return undefined;
    this.open = undefined;
    this.generation++;
    const tables = new Map<string, Update>();
    for (const [t, parts] of o.parts) tables.set(t, { cols: concatCols(parts) });
    return { first: o.first, last: o.last, tables, updates: o.updates, skipped: o.skipped };
  }

  /** Drops the open group unsent (a replay from the day's start forms it again; a stop). */
  drop(): number {
    const n = this.held;
    this.open = undefined;
    this.generation++;
    return n;
  }
}

/** Rows and bytes of a derived update's columns, as the feed sends them (an estimate of the encoded size, the same on any run). */
export function measure(cols: DerivedCols): { rows: number; bytes: number } {
  let rows = 0;
  let bytes = 0;
  for (const v of Object.values(cols)) {
    if (ArrayBuffer.isView(v)) {
      bytes += v.byteLength;
      rows = Math.max(rows, (v as unknown as ArrayLike<unknown>).length);
    } else if (Array.isArray(v)) {
      rows = Math.max(rows, v.length);
      for (const x of v) bytes += typeof x === 'string' ? x.length + 1 : 9;
    } else if (v && typeof v === 'object' && 'codes' in v) {
      const s = v as { dict: string[]; codes: ArrayLike<number> & { byteLength?: number } };
      rows = Math.max(rows, s.codes.length);
      bytes += s.codes.byteLength ?? s.codes.length * 4;
      for (const d of s.dict) bytes += d.length + 1;
    } else bytes += 9;
  }
  return { rows, bytes };
}
