// TorQ's result checkers, applied to what a check's query returned: checkcount (the count more
// than / less than a number), truefalse (a single boolean equal to cond) and resulttrue (the result
// is truthy). Pure. The rules for what counts as a count, a boolean and truthy are in docs/checks.md.
import type { CheckerSpec } from './checks_csv.ts';

export interface CheckOutcome {
  ok: boolean;
  /** Why it failed, or what passed, in a sentence. */
  message: string;
  /** A short description of the result (bounded), for the status table. */
  summary: string;
}

/** Characters of a result summary. */
export const SUMMARY_CHARS_MAX = 200;

interface ResultLike {
  type: 'tickbus.v1.result';
  n: number;
  columns: string[];
  types?: string[];
  cols: Record<string, unknown>;
  table?: string;
}

function isResult(v: unknown): v is ResultLike {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'tickbus.v1.result' && typeof (v as { n?: unknown }).n === 'number';
}

/** The single value of a one-row, one-column result (or a one-element list), else undefined. */
function single(v: unknown): { value: unknown } | undefined {
  if (isResult(v)) {
    if (v.n !== 1 || v.columns.length !== 1) return undefined;
    const col = v.cols[v.columns[0]!] as ArrayLike<unknown> | undefined;
    return col && col.length >= 1 ? { value: col[0] } : undefined;
  }
  if (Array.isArray(v) && v.length === 1) return { value: v[0] };
  return undefined;
}

/**
 * The count a checkcount compares: a number is itself (a query that answers a count); a query
 * result its rows `n` (`{"count": true}` gives only n); a list its length. Anything else has none.
 */
export function countOf(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (isResult(v)) return v.n;
  if (Array.isArray(v)) return v.length;
  return undefined;
}

/** A boolean result: true/false, a one-element list or a one-row one-column result holding one (a bool column holds 0/1). */
export function booleanOf(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = single(v);
  if (s === undefined) return undefined;
  if (typeof s.value === 'boolean') return s.value;
  // A bool column of a query result is a Uint8Array of 0/1.
  if (isResult(v) && (s.value === 0 || s.value === 1)) return s.value === 1;
  return undefined;
}

const NULL_LONG = -(2n ** 63n);
const NULL_INT = -(2 ** 31);

/**
 * Truthiness of a result: false, 0, NaN, null, kdb+ nulls, "" , an empty list, an empty object and
 * a result with no rows are false; a one-row one-column result is the truthiness of its value;
 * anything else (a result with rows, a non-empty list or object, a non-zero number, text) is true.
 */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === '') return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v) && v !== NULL_INT;
  if (typeof v === 'bigint') return v !== 0n && v !== NULL_LONG;
  if (isResult(v)) {
    if (v.n === 0) return false;
    const s = single(v);
    return s === undefined ? true : truthy(s.value);
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return (v as ArrayLike<unknown>).length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function clip(s: string): string {
  return s.length > SUMMARY_CHARS_MAX ? `${s.slice(0, SUMMARY_CHARS_MAX - 3)}...` : s;
}

/** A short description of a result for the status table. */
export function summarize(v: unknown): string {
  if (isResult(v)) {
    const s = single(v);
    const what = `${v.table ? `${v.table}: ` : ''}${v.n} row${v.n === 1 ? '' : 's'}`;
    if (s !== undefined) return clip(`${what}, ${v.columns[0]} = ${v.types?.[0] === 'bool' ? String(s.value === 1 || s.value === true) : String(s.value)}`);
    return clip(v.columns.length ? `${what} (${v.columns.join(', ')})` : what);
  }
  if (Array.isArray(v)) return clip(`list of ${v.length}${v.length ? `: ${JSON.stringify(v.slice(0, 5), (_k, x) => (typeof x === 'bigint' ? String(x) : x))}` : ''}`);
  if (typeof v === 'object' && v !== null) {
    try {
      return clip(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : ArrayBuffer.isView(x) ? `<${(x as unknown as ArrayLike<unknown>).length} values>` : x)));
    } catch {
      return 'object';
    }
  }
  return clip(String(v));
}

/** Applies a checker to a result. */
export function applyChecker(c: CheckerSpec, result: unknown): CheckOutcome {
  const summary = summarize(result);
  switch (c.name) {
    case 'checkcount': {
      const n = countOf(result);
      if (n === undefined) return { ok: false, summary, message: `checkcount needs a count (a number, a query result or a list); got ${summary}` };
      const ok = c.cond === 'morethan' ? n > c.comp : n < c.comp;
      const rel = c.cond === 'morethan' ? 'more than' : 'less than';
      return { ok, summary, message: ok ? `count ${n} is ${rel} ${c.comp}` : `count ${n} is not ${rel} ${c.comp}` };
    }
    case 'truefalse': {
      const b = booleanOf(result);
      if (b === undefined) return { ok: false, summary, message: `truefalse needs a single true/false value; got ${summary}` };
      return { ok: b === c.cond, summary, message: b === c.cond ? `result is ${b} as required` : `result is ${b}, required ${c.cond}` };
    }
    case 'resulttrue': {
      const t = truthy(result);
      return { ok: t, summary, message: t ? 'result is true' : `result is false (${summary})` };
    }
  }
}
