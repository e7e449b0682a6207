// Command-line arguments and the shape of one `actors` command. Each command lives in its own
// module under ops/cli/ and is listed once in ops/cli/main.ts.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Args {
  cmd: string;
  positional: string[];
  flags: Map<string, string>;
  sets: string[];
}

export function parseArgs(argv: string[]): Args {
  const [cmd = 'help', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string>();
  const sets: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a.startsWith('--')) {
      const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
      const v = inline ?? (rest[i + 1] && !rest[i + 1]!.startsWith('--') && !BOOLEAN_FLAGS.has(k) ? rest[++i]! : 'true');
      if (k === 'set') sets.push(v);
      else flags.set(k, v);
    } else positional.push(a);
  }
  return { cmd, positional, flags, sets };
}

/** Flags that never take a value: `--json x` leaves x positional. */
const BOOLEAN_FLAGS = new Set(['help', 'verbose', 'json', 'replay']);

/** Flags every command accepts. */
export const GLOBAL_FLAGS = ['help', 'verbose'] as const;

export const natsUrl = () => process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** NATS_URL as a list of servers: a cluster's URLs are given comma separated (`nats://a:4222,nats://b:4222`). */
export const natsServers = (): string[] =>
  natsUrl()
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The config file a command reads: `--config`, else ops/config.json. */
/** The config file: --config PATH (from the working directory), else ops/config.json of the checkout; a bare --config is BAD_USAGE. */
export const configPath = (a: Args) => {
  const v = a.flags.get('config');
  if (v === 'true') throw new TickbusError(ErrorCode.BAD_USAGE, '--config needs a path: --config path/to/config.json', { flag: 'config' });
  return resolve(v ?? join(root, 'ops', 'config.json'));
};

/** One `actors` command: its usage lines (shown by `actors help` and `actors <cmd> --help`) and its body. */
export interface Command {
  usage: string;
  /**
   * The flags the command takes (names without --; `set` for --set key=value). main.ts refuses any
   * other with BAD_USAGE naming it. Undefined: not checked (a command whose flags are not declared yet).
   */
  flags?: readonly string[];
  run(a: Args): Promise<number>;
}

/** Throws BAD_USAGE for a flag the command does not declare, naming it and the valid ones. */
export function checkFlags(name: string, c: Command, a: Args): void {
  if (!c.flags) return;
  const valid = new Set<string>([...c.flags, ...GLOBAL_FLAGS]);
  const given = [...a.flags.keys(), ...(a.sets.length ? ['set'] : [])];
  for (const f of given) {
    if (!valid.has(f)) {
      const list = [...valid].map((v) => `--${v}`).join(', ');
      throw new TickbusError(ErrorCode.BAD_USAGE, `unknown flag --${f} for actors ${name}; valid: ${list}`, { command: name, flag: f, valid: [...valid] });
    }
  }
}

/** A BAD_USAGE error for a missing or bad argument, with the command's usage in the detail. */
export function usageError(message: string, detail: Record<string, unknown> = {}): TickbusError {
  return new TickbusError(ErrorCode.BAD_USAGE, message, detail);
}
