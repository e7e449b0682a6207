// Table schemas declared in config (PyKX's kx.schema.builder role). A tick table starts with
// `time` (timestamp) and `sym` (symbol), kdb+'s timesym rule; the tickerplant stamps `time` when a
// feed leaves it out.
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import { assertName } from '../bus/subjects.ts';

export const ColumnTypes = ['timestamp', 'symbol', 'float', 'long', 'int', 'bool', 'string', 'date', 'timespan'] as const;
export type ColumnType = (typeof ColumnTypes)[number];

export interface ColumnSchema {
  readonly name: string;
  readonly type: ColumnType;
}

export interface TableSchema {
  readonly name: string;
  readonly columns: readonly ColumnSchema[];
  /** Column name -> index, for O(1) lookups during validation. */
  readonly index: ReadonlyMap<string, number>;
}

/** Config shape: `{ trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long' } }`. */
export type TablesConfig = Record<string, Record<string, ColumnType | string>>;

export type Schema = ReadonlyMap<string, TableSchema>;

export function defineTable(name: string, columns: Record<string, ColumnType | string>): TableSchema {
  assertName('table', name);
  const cols: ColumnSchema[] = [];
  for (const [col, type] of Object.entries(columns)) {
    assertName('column', col);
    if (!(ColumnTypes as readonly string[]).includes(type)) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `table ${name}: column ${col} has unknown type ${JSON.stringify(type)}`, {
        table: name,
        column: col,
        type,
        known: ColumnTypes,
      });
    }
    cols.push({ name: col, type: type as ColumnType });
  }
  if (cols[0]?.name !== 'time' || cols[0].type !== 'timestamp' || cols[1]?.name !== 'sym' || cols[1].type !== 'symbol') {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `table ${name} must start with time:timestamp and sym:symbol`, {
      table: name,
      columns: cols.map((c) => `${c.name}:${c.type}`),
    });
  }
  return { name, columns: cols, index: new Map(cols.map((c, i) => [c.name, i])) };
}

export function defineSchema(tables: TablesConfig): Schema {
  const out = new Map<string, TableSchema>();
  for (const [name, cols] of Object.entries(tables)) out.set(name, defineTable(name, cols));
  if (out.size === 0) throw new TickbusError(ErrorCode.BAD_CONFIG, 'schema declares no tables', {});
  return out;
}

/** The schema of the demo system (trades and quotes), used by `actors up` unless configured. */
export const demoTables: TablesConfig = {
  trade: { time: 'timestamp', sym: 'symbol', price: 'float', size: 'long', side: 'symbol' },
  quote: { time: 'timestamp', sym: 'symbol', bid: 'float', ask: 'float', bsize: 'long', asize: 'long' },
};
