// How the `actors` CLI resolves paths (decision 123), one rule for every command:
// - a path given as a flag (--hdb, --config, --procs, --data, a compression CSV) is taken as the
//   shell gives it: absolute as is, relative against the working directory, like `actors up --data
//   ./data` and every other command-line tool;
// - a path from settings (ops/config.json, `--set key=value`: hdbDir, wdbDir, ...) is relative to
//   the data directory, as the processes take it (actors/registry.ts dataPath);
// - the data directory: --data, else $TICKBUS_DATA (what `actors up` gives its children), else
//   `actors up`'s default, `<repository>/data` (the README's quick start: `./data` from the checkout).
import { isAbsolute, join, resolve } from 'node:path';
import { root, usageError, type Args } from './args.ts';

/** Where paths resolve from: the working directory, the environment, the repository root. */
export interface PathContext {
  cwd: string;
  env: Record<string, string | undefined>;
  root: string;
}

export const processPaths = (): PathContext => ({ cwd: process.cwd(), env: process.env, root });

/** A path flag: undefined when not given; BAD_USAGE when given without a value; else resolved against the working directory. */
export function flagPath(a: Args, flag: string, ctx: PathContext = processPaths()): string | undefined {
  if (!a.flags.has(flag)) return undefined;
  const v = a.flags.get(flag)!;
  if (v === '' || v === 'true') throw usageError(`--${flag} needs a path`, { flag });
  return isAbsolute(v) ? v : resolve(ctx.cwd, v);
}

/** The data directory: --data, else $TICKBUS_DATA, else `<repository>/data` (actors up's default). */
export function cliDataDir(a: Args, ctx: PathContext = processPaths()): string {
  const env = ctx.env.TICKBUS_DATA;
  return flagPath(a, 'data', ctx) ?? (env ? resolve(ctx.cwd, env) : join(ctx.root, 'data'));
}

/** A path from settings: absolute as is, else inside the data directory. */
export function settingPath(p: string, dataDir: string): string {
  return isAbsolute(p) ? p : resolve(dataDir, p);
}
