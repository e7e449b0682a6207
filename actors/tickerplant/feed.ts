// Reading a feed request: the update subject's target table and the tables of an update.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseUpdSubject } from '../../bus/subjects.ts';
import type { Msg } from '@nats-io/nats-core';
import type { Encoding } from '../../bus/codec.ts';
import type { FeedTableData } from '../../storage/batch.ts';
import type { Schema } from '../../storage/schema.ts';

/** Most requests read before they are validated and queued (one drain). */
export const inboxMax = 1024;
/** Row updates up to this many rows are "small": validated together with others of their table. */
export const smallRowsMax = 64;

/** One feed request waiting for the append(s) holding its rows. */
export interface Waiter {
  reply: string | undefined;
  encoding: Encoding;
  /** The feed asked for bulk acks (`"ack": "bulk"`, CBOR only): its ack may ride in a tickbus.v1.acks message. */
  bulk: boolean;
  id: string | undefined;
  rows: number;
  remaining: number;
  seq: number;
  failed: boolean;
}

/** A decoded feed request, not yet validated. */
export interface FeedRequest {
  msg: Msg;
  encoding: Encoding;
  body: Record<string, unknown>;
  id: string | undefined;
  /** From the subject; undefined for a multi-table update. */
  table: string | undefined;
  bulk: boolean;
}

/**
 * Small row updates of one drain, grouped per table in arrival order: at most inboxMax requests
 * of at most smallRowsMax rows each. A request whose id is already in a group is not taken (it is
 * handled after the groups, so a retry never races its original).
 */
export class SmallUpdates {
  private groups = new Map<string, { reqs: FeedRequest[]; rows: unknown[] }>();
  private ids = new Set<string>();

  constructor(private readonly maxRowsPerUpdate: number) {}

  add(r: FeedRequest, schema: Schema): boolean {
    if (r.table === undefined || !schema.has(r.table) || r.body.cols !== undefined) return false;
    const rows = r.body.rows;
    if (!Array.isArray(rows) || rows.length < 1 || rows.length > smallRowsMax || rows.length > this.maxRowsPerUpdate) return false;
    if (r.id !== undefined) {
      if (this.ids.has(r.id)) return false;
      this.ids.add(r.id);
    }
    let g = this.groups.get(r.table);
    if (!g) this.groups.set(r.table, (g = { reqs: [], rows: [] }));
    g.reqs.push(r);
    for (let i = 0; i < rows.length; i++) g.rows.push(rows[i]);
    return true;
  }

  /** The groups so far, emptied. */
  take(): Map<string, { reqs: FeedRequest[]; rows: unknown[] }> {
    const g = this.groups;
    this.groups = new Map();
    this.ids = new Set();
    return g;
  }
}

/** Parsed update subjects; feeds use few subjects, so this stays small (bounded by updSubjectsMax). */
const targets = new Map<string, { tp: string; table?: string } | undefined>();
const updSubjectsMax = 4096;

/** `parseUpdSubject`, remembered per subject (a feed sends thousands of updates on one subject). */
export function updTarget(subject: string): { tp: string; table?: string } | undefined {
  let t = targets.get(subject);
  if (t === undefined && !targets.has(subject)) {
    t = parseUpdSubject(subject);
    if (targets.size >= updSubjectsMax) targets.clear();
    targets.set(subject, t);
  }
  return t;
}

export function tablesOf(table: string | undefined, body: Record<string, unknown>): Array<[string, FeedTableData]> {
  if (table !== undefined) return [[table, body as FeedTableData]];
  const tables = body.tables;
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables) || Object.keys(tables).length === 0) {
    throw new TickbusError(ErrorCode.BAD_TYPE, 'a multi-table update needs tables: {<table>: {cols|rows}}', {});
  }
  return Object.entries(tables as Record<string, FeedTableData>);
}

/** A feed message id: printable ASCII without commas (ids ride comma-separated in the Tb-Ids log header). */
const FEED_ID_RE = /^[\x21-\x2b\x2d-\x7e]{1,128}$/;

/** The update's id, validated; undefined when it has none. */
export function feedIdOf(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !FEED_ID_RE.test(v)) {
    throw new TickbusError(ErrorCode.BAD_ID, 'id must be 1 to 128 printable ASCII characters without spaces or commas', {
      param: 'id',
      got: typeof v === 'string' ? `${v.length} characters` : typeof v,
    });
  }
  return v;
}
