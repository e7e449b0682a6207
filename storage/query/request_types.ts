// The query requests' vocabulary (storage/query/request.ts plans and validates them): request
// types, operators, limits, the request shapes a client sends and the Plan both engines run.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { ColumnType, TableSchema } from '../schema.ts';
import { QUERY_TYPE } from './simple.ts';

export const GETDATA_TYPE = 'tickbus.v1.getdata';
export const ASOF_TYPE = 'tickbus.v1.asof';
export const SQL_TYPE = 'tickbus.v1.sql';
/** The simple query type (storage/query/simple.ts) is accepted as an alias of getdata. */
export const QUERY_TYPES = [GETDATA_TYPE, QUERY_TYPE] as const;

/**
 * The request types a query subject accepts. A request without `type` is the subject's default
 * (a simple query on an RDB, getdata on an HDB); any other `type` is BAD_TYPE naming what the
 * subject takes, so a misplaced message (a feed update sent to q.rdb) is never read as a query.
 */
export function assertRequestType(request: unknown, accepted: readonly string[], where: string): void {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new TickbusError(ErrorCode.BAD_TYPE, `${where} takes an object with type one of ${accepted.join(', ')}`, { accepted: [...accepted] });
  }
  const type = (request as { type?: unknown }).type;
  if (type === undefined || (typeof type === 'string' && accepted.includes(type))) return;
  throw new TickbusError(ErrorCode.BAD_TYPE, `${where} does not take type ${JSON.stringify(type)}; it takes ${accepted.join(', ')}`, {
    type: typeof type === 'string' ? type : JSON.stringify(type) ?? String(type),
    accepted: [...accepted],
  });
}

export const FilterOps = ['=', '!=', '<', '>', '<=', '>=', 'in', 'not in', 'within', 'not within', 'like', 'not like'] as const;
export type FilterOp = (typeof FilterOps)[number];
/** The positive operator behind each negation. */
export type BaseOp = '=' | '<' | '>' | '<=' | '>=' | 'in' | 'within' | 'like';

export const AggOps = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'wavg', 'wsum', 'med', 'dev', 'var'] as const;
export type AggOp = (typeof AggOps)[number];

/** Nanoseconds per timebar unit. */
export const TimeUnitsNs = {
  ns: 1n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
} as const;
export type TimeUnit = keyof typeof TimeUnitsNs;

/** Bounds on the parts of one request (a request is untrusted input). */
export const queryLimits = {
  /** Values in one `in` filter or one instruments list. */
  filterValuesMax: 10_000,
  /** Filters in one request. */
  filtersMax: 64,
  /** Aggregations in one request. */
  aggregationsMax: 64,
  /** Grouping columns in one request. */
  groupingColumnsMax: 8,
  /** Characters in one like pattern. */
  likePatternCharsMax: 256,
} as const;

export interface FilterSpec {
  column: string;
  op: FilterOp;
  value: unknown;
}

export interface AggregationSpec {
  op: AggOp;
  /** The column aggregated; count takes none. */
  column?: string;
  /** wavg and wsum: [weightColumn, valueColumn]. */
  columns?: [string, string];
  /** Output column name; default op + capitalised column names (`maxPrice`, `wavgSizePrice`). */
  as?: string;
}

export interface TimebarSpec {
  size: number;
  unit: TimeUnit;
  /** The timestamp column bucketed; default `time`. */
  column?: string;
}

export interface OrderingSpec {
  column: string;
  dir?: 'asc' | 'desc';
}

export interface GetDataRequest {
  type?: string;
  table: string;
  /** Inclusive bounds on `time`: ISO-8601 or epoch nanoseconds. Both required. */
  start: string | number | bigint;
  end: string | number | bigint;
  instruments?: string[] | string;
  columns?: string[];
  filters?: FilterSpec[];
  grouping?: string[];
  /** The array form, or TorQ's dictionary form `{max: ['price'], wavg: [['size', 'price']]}`. */
  aggregations?: AggregationSpec[] | Record<string, unknown[]>;
  timebar?: TimebarSpec;
  ordering?: OrderingSpec[];
  /** The first rows, or the last ones when negative. */
  limit?: number;
  rename?: Record<string, string>;
  /** Return mergeable parts of the aggregations (a gateway merges them with mergePartials). */
  partial?: boolean;
}

export interface AsofRequest {
  type?: string;
  /** The left side: a raw getdata selection. */
  table: string;
  start: string | number | bigint;
  end: string | number | bigint;
  instruments?: string[] | string;
  columns?: string[];
  filters?: FilterSpec[];
  limit?: number;
  rename?: Record<string, string>;
  right: {
    table: string;
    /** Right columns joined on; default all but the `on` columns. */
    columns?: string[];
    filters?: FilterSpec[];
    /** How far before `start` a prevailing right row may lie; default 0. */
    lookback?: { size: number; unit: TimeUnit };
  };
  /** [equalityColumn?, asofColumn]: default ['sym', 'time'] (kdb+'s `aj[`sym`time; ...]`). */
  on?: string[];
}

/** A value normalised to the column's representation: bigint for int64 types, number, string. */
export type Scalar = bigint | number | string;

export interface PlanFilter {
  column: string;
  type: ColumnType;
  op: BaseOp;
  negate: boolean;
  /** One value for comparisons, two for within, any number for in; like patterns as strings. */
  values: Scalar[];
}

export interface PlanKey {
  /** Output column name. */
  name: string;
  /** Source column. */
  column: string;
  type: ColumnType;
  /** Set on the timebar key: bucket width in nanoseconds. */
  barNs?: bigint;
}

export interface PlanAgg {
  name: string;
  op: AggOp;
  /** The value column (wavg/wsum: the value, with `weight` the weight). */
  column?: string;
  weight?: string;
  srcType?: ColumnType;
  weightType?: ColumnType;
  /** Output type of the finished aggregate. */
  type: ColumnType;
}

export interface Selection {
  table: string;
  schema: TableSchema;
  startNs: bigint;
  endNs: bigint;
  instruments?: string[];
  filters: PlanFilter[];
  /** In-memory tables only: rows below this one are left out (the RDB's `afterSeq`, set by the RDB, not by a request). */
  fromRow?: number;
}

export interface Plan extends Selection {
  kind: 'raw' | 'agg';
  /** Raw: the selected columns. */
  columns: string[];
  keys: PlanKey[];
  aggs: PlanAgg[];
  ordering: { column: string; desc: boolean }[];
  limit?: number;
  rename: Record<string, string>;
  partial: boolean;
  /** Output columns and types before rename. */
  outColumns: string[];
  outTypes: ColumnType[];
}

export interface AsofPlan {
  left: Plan;
  right: Selection & { columns: string[]; types: ColumnType[] };
  /** Equality column, or undefined to join on time alone. */
  eq?: string;
  asof: string;
  outColumns: string[];
  outTypes: ColumnType[];
  limit?: number;
  rename: Record<string, string>;
}

/** Resolves a table name to its schema, or undefined when the process has no such table. */
