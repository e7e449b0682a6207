// The `actors` CLI. Run through ops/actors.mjs or `npm start` (= actors up). Each command is a
// module of ops/cli/ exporting a Command (usage, flags, run); this file only dispatches, checks
// flags and prints errors: `actors: <CODE>: <message>` for a TickbusError (exit 2),
// `actors: <message>` otherwise (exit 1); the stack and the error's detail only with --verbose.
import { jsonReplacer } from '../../bus/codec.ts';
import { ErrorCode, TickbusError, isErrorEnvelope } from '../../bus/errors.ts';
import { checkFlags, natsServers, parseArgs, usageError, type Command } from './args.ts';
import { bufferCommand } from './buffer_cmd.ts';
import { compressCommand } from './compress_cmd.ts';
import { eopCommand } from './eop_cmd.ts';
import { housekeepingCommand } from './housekeeping.ts';
import { psCommand, queryCommand } from './inspect.ts';
import { replayCommand } from './replay_cmd.ts';
import { startCommand } from './start.ts';
import { tailCommand } from './tail.ts';
import { upCommand } from './up.ts';
import { killCommand } from './kill.ts';
import { restartCommand } from './supervise_cmd.ts';
import { usageCommand } from './usage_cmd.ts';

const QUERY_USAGE = `  actors query '<json>' [--target rdb,hdb] [--join raze] [--gw gw1] [--timeout 30000] [--priority 0] [--rows 100] [--json]
      a query through the gateway, printed as a table: a tickbus.v1.gateway.request, or a
      backend query (tickbus.v1.query: rdb by default; tickbus.v1.getdata: split by time range;
      tickbus.v1.call: needs --target); --json prints the gateway's whole reply as JSON; the
      call carries your user name (Tb-User: $TICKBUS_USER, else $USER) for the usage log
`;

const commands: Record<string, Command> = {
  up: upCommand,
  start: startCommand,
  restart: restartCommand,
  kill: killCommand,
  eop: eopCommand,
  ps: {
    usage: `  actors ps [--json]
      the registry (KV bucket proc) with each process's heartbeat state (from the monitor, else
      heard for a little over one heartbeat) and, from KV bucket sup, its supervision state,
      restarts, last exit and uptime; --json prints {processes, supervised, source}
`,
    flags: ['json'],
    run: (a) => psCommand(natsServers(), process.stdout, { json: a.flags.has('json') }),
  },
  query: {
    usage: QUERY_USAGE,
    flags: ['target', 'join', 'gw', 'timeout', 'priority', 'rows', 'json'],
    run: async (a) =>
      await queryCommand(natsServers(), a.positional[0], {
        gateway: a.flags.get('gw'),
        target: a.flags.get('target'),
        join: a.flags.get('join'),
        priority: a.flags.get('priority'),
        timeoutMs: a.flags.get('timeout'),
        rows: a.flags.get('rows'),
        json: a.flags.has('json'),
      }),
  },
  tail: tailCommand,
  replay: replayCommand,
  usage: usageCommand,
  help: {
    usage: `  actors help [<command>]
      this list, or one command's usage (as actors <command> --help)
`,
    flags: [],
    run: async (a) => {
      const name = a.positional[0];
      if (name === undefined) {
        process.stdout.write(help());
        return 0;
      }
      const c = commands[name];
      if (!c) throw unknownCommand(name);
      process.stdout.write(c.usage);
      return 0;
    },
  },
  housekeeping: housekeepingCommand,
  compress: compressCommand,
  buffer: bufferCommand,
};

const help = () =>
  'actors: run and inspect a tickbus system\n\n' +
  Object.values(commands)
    .map((c) => c.usage)
    .join('') +
  `
Every command takes --help (its usage) and --verbose (errors with their stack and detail).
Errors print "actors: <CODE>: <message>" (exit 2) or "actors: <message>" (exit 1).
`;

function unknownCommand(name: string): TickbusError {
  return usageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')}`, { command: name, valid: Object.keys(commands) });
}

async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  if (a.cmd === '--help' || a.cmd === '-h') {
    process.stdout.write(help());
    return 0;
  }
  const c = commands[a.cmd];
  if (!c) throw unknownCommand(a.cmd);
  if (a.flags.has('help')) {
    process.stdout.write(c.usage);
    return 0;
  }
  checkFlags(a.cmd, c, a);
  return await c.run(a);
}

function report(e: unknown, verbose: boolean): number {
  const err = isErrorEnvelope(e) ? TickbusError.fromEnvelope(e) : e;
  if (err instanceof TickbusError) {
    process.stderr.write(`actors: ${err.code}: ${err.message}\n`);
    if (err.code === ErrorCode.BAD_USAGE && !verbose) process.stderr.write(`(actors ${process.argv[2] ?? ''} --help shows the usage)\n`);
  } else process.stderr.write(`actors: ${(err as Error)?.message ?? String(err)}\n`);
  if (verbose) {
    if (err instanceof TickbusError && Object.keys(err.detail).length) process.stderr.write(`detail: ${JSON.stringify(err.detail, jsonReplacer)}\n`);
    if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    if (err instanceof Error && err.cause) process.stderr.write(`cause: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}\n`);
  }
  return err instanceof TickbusError ? 2 : 1;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => process.exit(code),
  (e: unknown) => process.exit(report(e, argv.includes('--verbose'))),
);
