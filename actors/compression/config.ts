// The compression table (TorQ's compressionconfig.csv), read by header with csv-parse:
//   table,minage,column,calgo,cblocksize,clevel
// table      a table name, or `default` (every table without its own row)
// minage     partitions at least this many days old (against the process's clock) are rewritten; 0..36600
// column     a column name, or `default` (the table's codec). A Parquet file holds one codec here
//            (DuckDB 1.5's COPY takes COMPRESSION as one VARCHAR): a column row whose codec differs
//            from its table's is reported in the plan's notes, and the table's codec is used.
// calgo      a codec name (uncompressed, snappy, gzip, lz4, zstd) or TorQ's kdb+ algorithm number:
//            0 uncompressed, 1 (kdb+ IPC, no Parquet equivalent) snappy, 2 gzip, 3 snappy, 4 (lz4hc) lz4, 5 zstd
// cblocksize kdb+'s logical block size (2^n bytes): checked as TorQ does (12..20, may be empty) and
//            otherwise unused (Parquet's unit is the row group, which the rewrite keeps as written)
// clevel     zstd 1..22 (empty: 3, DuckDB's default); gzip 0..9 is checked but DuckDB writes gzip at
//            its own level; ignored for the others (may be empty)
// Every row is checked and every problem listed in one BAD_CONFIG naming file, line, column and rule.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { assertName } from '../../bus/subjects.ts';
import { type Codec, type CodecSpec, sameCodec, showCodec } from '../../storage/hdb/compress.ts';
import { badRow, readOpsCsv } from '../common/ops_csv.ts';

export const COMPRESSION_COLUMNS = ['table', 'minage', 'column', 'calgo', 'cblocksize', 'clevel'] as const;

export interface CompressionRule {
  line: number;
  table: string;
  column: string;
  minage: number;
  /** calgo as written. */
  calgo: string;
  spec: CodecSpec;
  /** Remarks on the mapping (a kdb+ algorithm without a Parquet twin, a gzip level DuckDB cannot set). */
  notes: string[];
}

/** The codec one table gets, from the rule that applies, with notes on column rows it could not honour. */
export interface TableRule {
  spec: CodecSpec;
  minage: number;
  line: number;
  notes: string[];
}

const AGE_DAYS_MAX = 36_600;
const NAMES: Record<string, Codec> = { uncompressed: 'uncompressed', none: 'uncompressed', snappy: 'snappy', gzip: 'gzip', lz4: 'lz4', zstd: 'zstd' };
/** TorQ's kdb+ algorithm numbers (-19!): 0 none, 1 q IPC, 2 gzip, 3 snappy, 4 lz4hc, 5 zstd (kdb+ 4.1). */
const KDB_ALGOS: Record<string, { codec: Codec; note?: string }> = {
  '0': { codec: 'uncompressed' },
  '1': { codec: 'snappy', note: 'calgo 1 (kdb+ IPC) has no Parquet codec: snappy, the nearest light one' },
  '2': { codec: 'gzip' },
  '3': { codec: 'snappy' },
  '4': { codec: 'lz4', note: 'calgo 4 (lz4hc) is written as Parquet LZ4_RAW' },
  '5': { codec: 'zstd' },
};
/** zstd's level when clevel is empty (DuckDB's default, what the HDB writer's files carry). */
export const ZSTD_DEFAULT_LEVEL = 3;

const COLUMN_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function isName(table: string): boolean {
  try {
    assertName('table', table);
    return true;
  } catch {
    return false;
  }
}

function intIn(text: string, min: number, max: number): number | undefined {
  if (!/^-?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

/** Parses the table; throws one BAD_CONFIG listing every bad row (detail.problems: file, line, column, rule). */
export function parseCompressionCsv(text: string, file: string): CompressionRule[] {
  const problems: TickbusError[] = [];
  const rows = readOpsCsv(text, file, COMPRESSION_COLUMNS, [], problems);
  const out: CompressionRule[] = [];
  const seen = new Map<string, number>();
  for (const row of rows) {
    const v = row.values;
    const bad = (column: string, rule: string, value?: string) => problems.push(badRow(file, row.line, `${column}: ${rule}`, { column, value }));
    const before = problems.length;
    const table = v.table!;
    const column = v.column!;
    if (table !== 'default' && !isName(table)) bad('table', `${JSON.stringify(table)} is not a table name or default`, table);
    if (column !== 'default' && !COLUMN_RE.test(column)) bad('column', `${JSON.stringify(column)} is not a column name or default`, column);
    const minage = intIn(v.minage!, 0, AGE_DAYS_MAX);
    if (minage === undefined) bad('minage', `must be a whole number of days in 0..${AGE_DAYS_MAX}, got ${JSON.stringify(v.minage)}`, v.minage);
    const calgo = v.calgo!.toLowerCase();
    const mapped = KDB_ALGOS[calgo] ?? (NAMES[calgo] ? { codec: NAMES[calgo]! } : undefined);
    if (!mapped) bad('calgo', `${JSON.stringify(v.calgo)} is not a codec (${Object.keys(NAMES).join(', ')}) or a kdb+ algorithm number (0..5)`, v.calgo);
    const block = v.cblocksize!;
    if (block !== '' && intIn(block, 12, 20) === undefined) bad('cblocksize', `must be empty or a whole number in 12..20 (kdb+ logical block size 2^n), got ${JSON.stringify(block)}`, block);
    const notes = mapped?.note ? [mapped.note] : [];
    let level: number | undefined;
    const lv = v.clevel!;
    if (mapped?.codec === 'zstd') {
      level = lv === '' ? ZSTD_DEFAULT_LEVEL : intIn(lv, 1, 22);
      if (level === undefined) bad('clevel', `zstd takes a level in 1..22 (or empty for ${ZSTD_DEFAULT_LEVEL}), got ${JSON.stringify(lv)}`, lv);
    } else if (mapped?.codec === 'gzip') {
      if (lv !== '' && intIn(lv, 0, 9) === undefined) bad('clevel', `gzip takes a level in 0..9, got ${JSON.stringify(lv)}`, lv);
      else if (lv !== '') notes.push(`gzip level ${lv} asked: DuckDB writes gzip at its default level`);
    } else if (lv !== '' && intIn(lv, -7, 22) === undefined) bad('clevel', `must be empty or a whole number, got ${JSON.stringify(lv)}`, lv);
    const key = `${table}\u0000${column}`;
    const dup = seen.get(key);
    if (dup !== undefined) bad('column', `table ${table} column ${column} already has a row (line ${dup})`, column);
    else seen.set(key, row.line);
    if (problems.length > before) continue;
    out.push({ line: row.line, table, column, minage: minage!, calgo: v.calgo!, spec: level === undefined ? { codec: mapped!.codec } : { codec: mapped!.codec, level }, notes });
  }
  if (problems.length) {
    problems.sort((a, b) => (a.detail.line as number) - (b.detail.line as number));
    const list = problems.map((p) => p.message.replace(`${file} `, ''));
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${file}: ${problems.length} bad row(s): ${list.join('; ')}`, {
      file,
      problems: problems.map((p) => p.detail),
    });
  }
  return out;
}

/**
 * The codec of one table (TorQ's precedence): its own `default` row, else the `default,default`
 * row, else its first column row; undefined when no row applies (the table is left alone). Column
 * rows (the table's own, then `default,<column>`) whose codec differs are noted, not honoured.
 */
export function ruleForTable(rules: readonly CompressionRule[], table: string, columns: readonly string[]): TableRule | undefined {
  const find = (t: string, c: string) => rules.find((r) => r.table === t && r.column === c);
  const colRule = (c: string) => find(table, c) ?? find('default', c);
  const base = find(table, 'default') ?? find('default', 'default') ?? columns.map(colRule).find((r) => r !== undefined);
  if (!base) return undefined;
  const notes = [...base.notes];
  for (const c of columns) {
    const r = colRule(c);
    if (r && r !== base && !sameCodec(r.spec, base.spec)) {
      notes.push(`column ${c} asks for ${showCodec(r.spec)} (line ${r.line}): one codec per Parquet file here, ${showCodec(base.spec)} used`);
    }
  }
  return { spec: base.spec, minage: base.minage, line: base.line, notes };
}
