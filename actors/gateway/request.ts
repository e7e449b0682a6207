// The gateway's wire request and reply (bus/SUBJECTS.md, "Gateway"), and their validation. Pure:
// a request is untrusted input and every field is checked and bounded here, before it is queued.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { GATEWAY_ACCEPTED_TYPE, GATEWAY_REPLY_TYPE, GATEWAY_REQUEST_TYPE } from '../../bus/gateway_client.ts';
import { GETDATA_TYPE } from '../../storage/query/request.ts';
import type { AttributeFilter } from '../common/discovery.ts';
import { Costs, type Cost } from './lanes.ts';

export { GATEWAY_ACCEPTED_TYPE, GATEWAY_REPLY_TYPE, GATEWAY_REQUEST_TYPE };

export const MatchModes = ['cross', 'independent'] as const;
export type MatchMode = (typeof MatchModes)[number];

/** Where a query runs: process types (one of each), an attribute filter, or (getdata) by time range. */
export type Target =
  | { kind: 'types'; types: string[] }
  | { kind: 'attributes'; types?: string[]; attributes: AttributeFilter; match: MatchMode; bestEffort: boolean }
  | { kind: 'data' };

export interface GatewayRequest {
  /** The client's id for the query (echoed in the reply and postback); the gateway makes one when absent. */
  id?: string;
  /** What each backend receives (tickbus.v1.query, tickbus.v1.getdata, tickbus.v1.call, ...). */
  query: unknown;
  target: Target;
  /** Join function name (raze by default; custom ones are registered in TypeScript). */
  join: string;
  /** Higher runs first; equal priorities run first come, first served. */
  priority: number;
  timeoutMs: number;
  /** Async: the subject the result or error is published to. */
  postback?: string;
  /** Who asks (for the nextQuery / availableServers hooks; the gateway does not authenticate it). */
  user?: string;
  /** The client's cost hint: heavy always runs in the heavy lane; small is believed until the kind is seen slow. */
  cost?: Cost;
}

export interface GatewayReply {
  type: typeof GATEWAY_REPLY_TYPE;
  id: string;
  result: unknown;
  /** The backends that answered, in part order, with their time. */
  parts: Array<{ name: string; proctype: string; ms: number }>;
  /** Gateway time from arrival to the joined result. */
  ms: number;
}

export interface GatewayAccepted {
  type: typeof GATEWAY_ACCEPTED_TYPE;
  id: string;
  gateway: string;
  /** Where the result will go. */
  postback: string;
}

/** Bounds on a request. */
export const requestLimits = {
  /** Characters of a client id. */
  idCharsMax: 128,
  /** Process types one target may list. */
  targetTypesMax: 64,
  /** Attribute keys in one filter. */
  attributeKeysMax: 16,
  /** Values of one attribute key. */
  attributeValuesMax: 1_024,
  /** |priority|. */
  priorityAbsMax: 1_000_000,
} as const;

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** A publishable subject: tokens of printable characters, no wildcards, no empty token. */
const SUBJECT_RE = /^[^\s.*>]+(\.[^\s.*>]+)*$/;
const KNOWN_KEYS = new Set(['type', 'id', 'query', 'target', 'join', 'priority', 'timeoutMs', 'postback', 'user', 'cost']);

function bad(param: string, message: string, detail: Record<string, unknown> = {}): TickbusError {
  return new TickbusError(ErrorCode.BAD_QUERY, `${param}: ${message}`, { param, ...detail });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function typeList(param: string, v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) throw bad(param, 'must be a process type or a non-empty list of them');
  if (list.length > requestLimits.targetTypesMax) throw bad(param, `lists ${list.length} types; at most ${requestLimits.targetTypesMax}`);
  for (const t of list) if (typeof t !== 'string' || !NAME_RE.test(t)) throw bad(param, `${JSON.stringify(t)} is not a process type`, { value: String(t) });
  return list.length === 1 ? (list as string[]) : [...new Set(list as string[])];
}

export function parseTarget(v: unknown, query: unknown): Target {
  if (v === undefined || v === null) {
    if (isObject(query) && query.type === GETDATA_TYPE) return { kind: 'data' };
    throw bad('target', 'is required (process types or {attributes}); only getdata queries route by their time range without one');
  }
  if (typeof v === 'string' || Array.isArray(v)) return { kind: 'types', types: typeList('target', v) };
  if (!isObject(v)) throw bad('target', 'must be process types or {types?, attributes, match?, bestEffort?}');
  for (const k of Object.keys(v)) if (!['types', 'attributes', 'match', 'bestEffort'].includes(k)) throw bad('target', `unknown field ${k}; known: types, attributes, match, bestEffort`);
  const types = v.types === undefined ? undefined : typeList('target.types', v.types);
  if (v.attributes === undefined) {
    if (!types) throw bad('target', 'needs types or attributes');
    return { kind: 'types', types };
  }
  if (!isObject(v.attributes)) throw bad('target.attributes', 'must be an object {attribute: value or [values]}');
  const keys = Object.keys(v.attributes);
  if (keys.length > requestLimits.attributeKeysMax) throw bad('target.attributes', `has ${keys.length} keys; at most ${requestLimits.attributeKeysMax}`);
  for (const k of keys) {
    const x = v.attributes[k];
    const values = Array.isArray(x) ? x : [x];
    if (values.length === 0 || values.length > requestLimits.attributeValuesMax) {
      throw bad('target.attributes', `${k}: between 1 and ${requestLimits.attributeValuesMax} values`, { attribute: k });
    }
    for (const y of values) if (!['string', 'number', 'boolean'].includes(typeof y)) throw bad('target.attributes', `${k}: values are strings, numbers or booleans`, { attribute: k });
  }
  const match = v.match ?? 'cross';
  if (!(MatchModes as readonly unknown[]).includes(match)) throw bad('target.match', `must be one of ${MatchModes.join(', ')}`, { value: String(match) });
  const bestEffort = v.bestEffort ?? true;
  if (typeof bestEffort !== 'boolean') throw bad('target.bestEffort', 'must be true or false');
  return { kind: 'attributes', types, attributes: v.attributes, match: match as MatchMode, bestEffort };
}

export interface RequestBounds {
  defaultTimeoutMs: number;
  timeoutMaxMs: number;
}

/** Validates a gateway request (whether it came sync or async is checked by the caller). */
export function parseGatewayRequest(raw: unknown, bounds: RequestBounds, hasJoin: (name: string) => boolean): GatewayRequest {
  if (!isObject(raw)) throw bad('request', `must be an object of type ${GATEWAY_REQUEST_TYPE}`);
  if (raw.type !== GATEWAY_REQUEST_TYPE) throw new TickbusError(ErrorCode.BAD_TYPE, `type must be ${GATEWAY_REQUEST_TYPE}`, { type: String(raw.type) });
  for (const k of Object.keys(raw)) if (!KNOWN_KEYS.has(k)) throw bad(k, `unknown parameter; known: ${[...KNOWN_KEYS].join(', ')}`);
  if (raw.query === undefined || raw.query === null) throw bad('query', 'is required: what each backend runs');
  let id: string | undefined;
  if (raw.id !== undefined) {
    // Printable ASCII only: the id rides in the Tb-Query-Id header of postbacks (no CR/LF there).
    if (typeof raw.id !== 'string' || raw.id.length === 0 || raw.id.length > requestLimits.idCharsMax || !/^[\x21-\x7e]+$/.test(raw.id)) {
      throw bad('id', `must be a string of 1 to ${requestLimits.idCharsMax} printable ASCII characters without spaces`);
    }
    id = raw.id;
  }
  const join = raw.join ?? 'raze';
  if (typeof join !== 'string' || !hasJoin(join)) throw bad('join', `unknown join function ${JSON.stringify(join)}`, { join: String(join) });
  const priority = raw.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > requestLimits.priorityAbsMax) {
    throw bad('priority', `must be an integer within ±${requestLimits.priorityAbsMax} (higher runs first)`);
  }
  const timeoutMs = raw.timeoutMs ?? bounds.defaultTimeoutMs;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > bounds.timeoutMaxMs) {
    throw bad('timeoutMs', `must be a number of milliseconds in (0, ${bounds.timeoutMaxMs}]`, { max: bounds.timeoutMaxMs });
  }
  let postback: string | undefined;
  if (raw.postback !== undefined) {
    if (typeof raw.postback !== 'string' || !SUBJECT_RE.test(raw.postback) || raw.postback.length > 256) throw bad('postback', 'must be a subject without wildcards');
    postback = raw.postback;
  }
  if (raw.user !== undefined && (typeof raw.user !== 'string' || raw.user.length > 128)) throw bad('user', 'must be a string of at most 128 characters');
  if (raw.cost !== undefined && !(Costs as readonly unknown[]).includes(raw.cost)) throw bad('cost', `must be one of ${Costs.join(', ')}`, { value: String(raw.cost) });
  return { id, query: raw.query, target: parseTarget(raw.target, raw.query), join, priority, timeoutMs, postback, user: raw.user as string | undefined, cost: raw.cost as Cost | undefined };
}
