// Configuration: the process table (ops/process.csv, TorQ's process.csv role) and settings
// (ops/config.json). Settings cascade like TorQ's: defaults.<proctype>, then processes.<procname>,
// then `--set key=value` on the command line; `tables` is given to every process.
import { readFileSync } from 'node:fs';
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import { assertName } from '../bus/subjects.ts';
import { badRow, readOpsCsv } from '../actors/common/ops_csv.ts';
import type { TablesConfig } from '../storage/schema.ts';

/** What `actors up` does when a process exits (TorQ has no supervisor; this is ours). */
export const RestartPolicy = {
  /** Restart after any exit the launcher did not ask for (the default). */
  always: 'always',
  /** Restart only after a non-zero exit code or a signal. */
  onFailure: 'on-failure',
  /** Never restart; the process stays stopped (or failed). */
  never: 'never',
} as const;
export type RestartPolicy = (typeof RestartPolicy)[keyof typeof RestartPolicy];
const POLICIES: readonly string[] = Object.values(RestartPolicy);

export interface ProcessRow {
  proctype: string;
  procname: string;
  startwithall: boolean;
  restartpolicy: RestartPolicy;
}

export interface SystemConfig {
  tables: TablesConfig;
  defaults: Record<string, Record<string, unknown>>;
  processes: Record<string, Record<string, unknown>>;
}

/** TorQ process.csv columns we accept and ignore (a TorQ file loads unchanged), plus our notes. */
const IGNORED_COLUMNS = ['notes', 'host', 'port', 'u', 'localtime', 'g', 't', 'w', 'load', 'extras', 'qcmd'] as const;

/**
 * Reads the process table (TorQ's process.csv) with csv-parse (actors/common/ops_csv.ts, shared
 * with the other ops CSVs), by header: `proctype` and `procname` are required; `startwithall`
 * (default 1) and `restartpolicy` (default always) are optional, so older files still load; TorQ's
 * other columns and `notes` are ignored, any other column refused. Lines starting with `#` are
 * comments. Every bad line is a BAD_CONFIG naming the file, the line and the rule.
 */
export function readProcessTable(path: string): ProcessRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read ${path}: ${(e as Error).message}`, { path });
  }
  const rows = readOpsCsv(text, path, ['proctype', 'procname'], ['startwithall', 'restartpolicy', ...IGNORED_COLUMNS]);
  const seen = new Set<string>();
  return rows.map((row) => {
    const r = row.values;
    for (const k of ['proctype', 'procname'] as const) {
      try {
        assertName(k, r[k] ?? '');
      } catch (e) {
        throw badRow(path, row.line, (e as Error).message, { rule: (e as TickbusError).detail.rule });
      }
    }
    const s = r.startwithall ?? '';
    if (s !== '' && s !== '0' && s !== '1') throw badRow(path, row.line, `startwithall ${JSON.stringify(s)} is not 0 or 1 (default 1)`);
    const policy = (r.restartpolicy ?? '') || RestartPolicy.always;
    if (!POLICIES.includes(policy)) throw badRow(path, row.line, `restartpolicy ${JSON.stringify(policy)} is not one of ${POLICIES.join(' | ')} (default always)`);
    if (seen.has(r.procname!)) throw badRow(path, row.line, `procname ${r.procname} appears twice (procnames are unique)`);
    seen.add(r.procname!);
    return { proctype: r.proctype!, procname: r.procname!, startwithall: s !== '0', restartpolicy: policy as RestartPolicy };
  });
}

export function readConfig(path: string): SystemConfig {
  let raw: Partial<SystemConfig>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<SystemConfig>;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read ${path}: ${(e as Error).message}`, { path });
  }
  if (!raw.tables) throw new TickbusError(ErrorCode.BAD_CONFIG, `${path}: tables is required`, { path });
  return { tables: raw.tables, defaults: raw.defaults ?? {}, processes: raw.processes ?? {} };
}

/** Parses `key=value` overrides; values are JSON when they parse as JSON, strings otherwise. */
export function parseOverrides(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of sets) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new TickbusError(ErrorCode.BAD_CONFIG, `--set ${kv}: expected key=value`, { set: kv });
    const v = kv.slice(i + 1);
    try {
      out[kv.slice(0, i)] = JSON.parse(v);
    } catch {
      out[kv.slice(0, i)] = v;
    }
  }
  return out;
}

export function settingsFor(cfg: SystemConfig, proctype: string, procname: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { tables: cfg.tables, ...(cfg.defaults[proctype] ?? {}), ...(cfg.processes[procname] ?? {}), ...overrides };
}
