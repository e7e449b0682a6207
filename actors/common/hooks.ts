// User hooks for the ops processes (housekeeping functions, file alerter functions): a module
// that exports functions by name, loaded with import() like any other module (TorQ: functions
// defined in the process's script). A function in the CSV that is neither built in nor exported
// by the hooks module is a BAD_CONFIG at load, not a failure at run time.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

/** The repository root: code and config paths (CSV files, hook modules) are relative to it. */
export const repoRoot = resolve(import.meta.dirname, '..', '..');

/** A config path (ops/housekeeping.csv, a hooks module): absolute, or relative to the repository root. */
export function configFilePath(p: string): string {
  return isAbsolute(p) ? p : resolve(repoRoot, p);
}

export type HookTable = Record<string, (...args: any[]) => unknown>;

/** Hook functions exported per module, at most. */
const HOOKS_MAX = 256;

export async function loadHooks(modulePath: string | undefined, builtIns: readonly string[]): Promise<HookTable> {
  if (!modulePath) return {};
  const file = configFilePath(modulePath);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `hooks module ${file} cannot be loaded: ${(e as Error).message}`, { module: file }, { cause: e });
  }
  const out: HookTable = {};
  for (const [name, fn] of Object.entries(mod)) {
    if (typeof fn !== 'function' || name === 'default') continue;
    if (builtIns.includes(name)) throw new TickbusError(ErrorCode.BAD_CONFIG, `hooks module ${file}: ${name} is a built-in function name`, { module: file, name, builtIns });
    out[name] = fn as HookTable[string];
  }
  if (Object.keys(out).length > HOOKS_MAX) throw new TickbusError(ErrorCode.BAD_CONFIG, `hooks module ${file}: more than ${HOOKS_MAX} functions`, { module: file });
  return out;
}
