// Configuration: the process table (ops/process.csv, TorQ's process.csv role) and settings
// (ops/config.json). Settings cascade like TorQ's: defaults.<proctype>, then processes.<procname>,
// then `--set key=value` on the command line; `tables` is given to every process.
import { readFileSync } from 'node:fs';
import { ErrorCode, TickbusError } from '../bus/errors.ts';
import { assertName } from '../bus/subjects.ts';
import type { TablesConfig } from '../storage/schema.ts';

export interface ProcessRow {
  proctype: string;
  procname: string;
  startwithall: boolean;
}

export interface SystemConfig {
  tables: TablesConfig;
  defaults: Record<string, Record<string, unknown>>;
  processes: Record<string, Record<string, unknown>>;
}

export function readProcessTable(path: string): ProcessRow[] {
  const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const header = lines.shift()?.split(',') ?? [];
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new TickbusError(ErrorCode.BAD_CONFIG, `${path}: no ${name} column`, { path, header });
    return i;
  };
  const [t, n, s] = [col('proctype'), col('procname'), col('startwithall')];
  return lines.map((l, i) => {
    const f = l.split(',');
    const row = { proctype: f[t]!.trim(), procname: f[n]!.trim(), startwithall: f[s]!.trim() === '1' };
    try {
      assertName('proctype', row.proctype);
      assertName('procname', row.procname);
    } catch (e) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `${path} line ${i + 2}: ${(e as Error).message}`, { path, line: i + 2 });
    }
    return row;
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
