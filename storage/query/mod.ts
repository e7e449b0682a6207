// The query API: one request shape (getdata), one result shape, two engines (RDB memory, HDB
// DuckDB), as-of joins, and partial aggregates a gateway merges.
export {
  AggOps,
  ASOF_TYPE,
  FilterOps,
  GETDATA_TYPE,
  partsLayout,
  planAsof,
  planQuery,
  queryLimits,
  SQL_TYPE,
  TimeUnitsNs,
  type AggregationSpec,
  type AsofPlan,
  type AsofRequest,
  type FilterSpec,
  type GetDataRequest,
  type OrderingSpec,
  type Plan,
  type TimebarSpec,
} from './request.ts';
export { NULL_INT, NULL_LONG, QUERY_ROWS_MAX, RESULT_TYPE, resultToJson, type QueryResult, type ResultColumn } from './result.ts';
export { finishParts, mergePartials } from './finalize.ts';
export { planAsofFor, planFor, runAsof, runQuery, runPlan } from './memory.ts';
export { runSimpleQuery, type SimpleQuery } from './simple.ts';
