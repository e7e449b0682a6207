// User code given to a process by the programmatic API (system/): PyKX's `libraries`, `apis` and
// `set_timer`. A process started as a child OS process gets it in its config (processes.<name>.userCode):
// libraries are modules imported in the process and put in scope of each shipped function under
// their alias; an API or timer is either a function's source (shipped as text, compiled in the
// process, so it must be self-contained apart from the libraries, as in PyKX) or a module export
// ({module, export}), imported in the process. Named APIs go to the runtime's ApiTable before it
// starts; timers run once the process is ready and stop with it.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { ApiFn, ApiTable } from './runtime.ts';

/** Where a function comes from: its source text, or a module's export. */
export type CodeRef = { source: string } | { module: string; export?: string };

export interface UserCode {
  /** alias -> module specifier (a package, `node:` builtin or file path), imported in the process. */
  libraries?: Record<string, string>;
  /** Named APIs: name -> code (and a description). */
  apis?: Record<string, CodeRef & { description?: string }>;
  /** Functions run every everyMs once the process is ready. */
  timers?: Array<CodeRef & { everyMs: number }>;
  /** Where relative module paths resolve (the parent script's working directory); default the process's. */
  baseDir?: string;
}

/** Bounds on user code (documented in docs/api.md). */
export const userCodeLimits = {
  /** Libraries one process may load. */
  librariesMax: 64,
  /** Timers one process may run. */
  timersMax: 64,
  /** The shortest timer period. */
  timerMinMs: 10,
  /** The longest timer period (a day). */
  timerMaxMs: 86_400_000,
} as const;

const ALIAS_RE = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

function bad(message: string, detail: Record<string, unknown>): TickbusError {
  return new TickbusError(ErrorCode.BAD_CONFIG, message, detail);
}

/** A module specifier as the process imports it: file paths absolute (as file URLs), others as given. */
function importable(spec: string, baseDir: string): string {
  if (spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)) return pathToFileURL(isAbsolute(spec) ? spec : resolve(baseDir, spec)).href;
  return spec;
}

// esbuild (tsx) keeps function names by wrapping nested functions in __name(fn, "name"): the helper
// lives in the defining module, so a shipped function gets one of its own.
const nameHelper = (target: object, value: string) => Object.defineProperty(target, 'name', { value, configurable: true });

/** Compiles a function's source with the libraries in scope; a source that is no function is BAD_CONFIG naming `what`. */
export function compileFunction(source: string, libraries: Record<string, unknown>, what: string): ApiFn {
  const aliases = Object.keys(libraries);
  let fn: unknown;
  try {
    fn = new Function('__name', ...aliases, `"use strict";\nreturn (${source});`)(nameHelper, ...aliases.map((a) => libraries[a]));
  } catch (e) {
    throw bad(`${what}: its source does not compile as a function expression (${(e as Error).message}); give an arrow function, a function expression or {module, export}`, { what });
  }
  if (typeof fn !== 'function') throw bad(`${what}: its source is not a function`, { what });
  return fn as ApiFn;
}

async function resolveRef(ref: CodeRef, libraries: Record<string, unknown>, baseDir: string, what: string): Promise<ApiFn> {
  if ('source' in ref) {
    if (typeof ref.source !== 'string') throw bad(`${what}: source must be a string`, { what });
    return compileFunction(ref.source, libraries, what);
  }
  if (typeof ref.module !== 'string' || !ref.module) throw bad(`${what}: module must be a module specifier`, { what });
  let mod: Record<string, unknown>;
  try {
    mod = (await import(importable(ref.module, baseDir))) as Record<string, unknown>;
  } catch (e) {
    throw bad(`${what}: cannot import ${ref.module}: ${(e as Error).message}`, { what, module: ref.module });
  }
  const name = ref.export ?? 'default';
  const fn = mod[name];
  if (typeof fn !== 'function') throw bad(`${what}: ${ref.module} has no function export ${name}`, { what, module: ref.module, export: name });
  return fn as ApiFn;
}

/** The running user code of a process: its timers, stopped with stop(). */
export interface LoadedUserCode {
  startTimers(): void;
  stop(): void;
}

/**
 * Imports the libraries, registers the APIs on `apis` and prepares the timers. Relative module paths
 * resolve against code.baseDir (the parent's working directory, sent in the config). Every bad entry is
 * a BAD_CONFIG naming it.
 */
export async function loadUserCode(code: UserCode | undefined, apis: ApiTable, logger: Logger): Promise<LoadedUserCode> {
  const baseDir = code?.baseDir ?? process.cwd();
  const libs: Record<string, unknown> = {};
  const entries = Object.entries(code?.libraries ?? {});
  if (entries.length > userCodeLimits.librariesMax) throw bad(`at most ${userCodeLimits.librariesMax} libraries`, { libraries: entries.length });
  for (const [alias, spec] of entries) {
    if (!ALIAS_RE.test(alias)) throw bad(`library alias ${JSON.stringify(alias)} is not an identifier`, { alias, rule: ALIAS_RE.source });
    try {
      const m = (await import(importable(spec, baseDir))) as Record<string, unknown>;
      libs[alias] = m.default !== undefined && Object.keys(m).length === 1 ? m.default : m;
    } catch (e) {
      throw bad(`library ${alias}: cannot import ${spec}: ${(e as Error).message}`, { alias, module: spec });
    }
  }
  for (const [name, ref] of Object.entries(code?.apis ?? {})) {
    apis.register(name, await resolveRef(ref, libs, baseDir, `API ${name}`), ref.description ?? '');
  }
  const timers = code?.timers ?? [];
  if (timers.length > userCodeLimits.timersMax) throw bad(`at most ${userCodeLimits.timersMax} timers`, { timers: timers.length });
  const ready: Array<{ fn: ApiFn; everyMs: number }> = [];
  for (const [i, t] of timers.entries()) {
    const { timerMinMs: lo, timerMaxMs: hi } = userCodeLimits;
    if (!Number.isInteger(t.everyMs) || t.everyMs < lo || t.everyMs > hi) throw bad(`timer ${i}: everyMs=${String(t.everyMs)} is not an integer in [${lo}, ${hi}]`, { timer: i, rule: `integer in [${lo}, ${hi}]` });
    ready.push({ fn: await resolveRef(t, libs, baseDir, `timer ${i}`), everyMs: t.everyMs });
  }
  const handles: Array<ReturnType<typeof setInterval>> = [];
  return {
    startTimers() {
      for (const [i, t] of ready.entries()) {
        // A run still going when the next is due is skipped: runs never overlap.
        let running = false;
        handles.push(
          setInterval(() => {
            if (running) return;
            running = true;
            void Promise.resolve()
              .then(() => t.fn())
              .catch((e: unknown) => logger.warn({ timer: i, err: (e as Error)?.message ?? String(e) }, 'timer function failed'))
              .finally(() => (running = false));
          }, t.everyMs),
        );
      }
    },
    stop() {
      for (const h of handles) clearInterval(h);
      handles.length = 0;
    },
  };
}
