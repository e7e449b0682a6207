// Reading a feed request: the update subject's target table and the tables of an update.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { parseUpdSubject } from '../../bus/subjects.ts';
import type { FeedTableData } from '../../storage/batch.ts';

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
