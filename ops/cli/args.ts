// Command-line arguments and the shape of one `actors` command. Each command lives in its own
// module under ops/cli/ and is listed once in ops/cli/main.ts.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
      const v = inline ?? (rest[i + 1] && !rest[i + 1]!.startsWith('--') ? rest[++i]! : 'true');
      if (k === 'set') sets.push(v);
      else flags.set(k, v);
    } else positional.push(a);
  }
  return { cmd, positional, flags, sets };
}

export const natsUrl = () => process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** The config file a command reads: `--config`, else ops/config.json. */
export const configPath = (a: Args) => resolve(a.flags.get('config') ?? join(root, 'ops', 'config.json'));

/** One `actors` command: its usage lines (shown by `actors help` and `actors <cmd> --help`) and its body. */
export interface Command {
  usage: string;
  run(a: Args): Promise<number>;
}
