// The `actors` CLI. Run through ops/actors.mjs or `npm start` (= actors up). Each command is a
// module of ops/cli/ exporting a Command (usage + run); this file only dispatches.
import { parseArgs, natsUrl, type Command } from './args.ts';
import { psCommand, queryCommand } from './inspect.ts';
import { replayCommand } from './replay_cmd.ts';
import { startCommand } from './start.ts';
import { tailCommand } from './tail.ts';
import { upCommand } from './up.ts';
import { killCommand } from './kill.ts';
import { restartCommand } from './supervise_cmd.ts';

const commands: Record<string, Command> = {
  up: upCommand,
  start: startCommand,
  restart: restartCommand,
  kill: killCommand,
  ps: {
    usage: `  actors ps              the registry (KV bucket proc) with each process's heartbeat state, and
                         from KV bucket sup its supervision state, restarts, last exit and uptime
`,
    run: () => psCommand(natsUrl()),
  },
  query: {
    usage: `  actors query '<json>' [--target rdb,hdb] [--join raze] [--gw gw1] [--timeout 30000] [--priority 0] [--rows 100] [--json]
      a query through the gateway, printed as a table: a tickbus.v1.gateway.request, or a
      backend query (tickbus.v1.query: rdb by default; tickbus.v1.getdata: split by time range;
      tickbus.v1.call: needs --target)
`,
    run: async (a) => {
      // `--json '{...}'` would read the query as the flag's value: take it back.
      const jsonFlag = a.flags.get('json');
      const text = a.positional[0] ?? (jsonFlag && jsonFlag !== 'true' ? jsonFlag : undefined);
      return await queryCommand(natsUrl(), text, {
        gateway: a.flags.get('gw'),
        target: a.flags.get('target'),
        join: a.flags.get('join'),
        priority: a.flags.get('priority'),
        timeoutMs: a.flags.get('timeout'),
        rows: a.flags.get('rows'),
        json: a.flags.has('json'),
      });
    },
  },
  tail: tailCommand,
  replay: replayCommand,
};

const help = () => 'actors: run and inspect a tickbus system\n\n' + Object.values(commands).map((c) => c.usage).join('');

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const c = commands[a.cmd];
  if (!c) {
    process.stdout.write(help());
    return a.cmd === 'help' || a.cmd === '--help' ? 0 : 1;
  }
  if (a.flags.has('help')) {
    process.stdout.write(c.usage);
    return 0;
  }
  return await c.run(a);
}

main().then(
  (code) => {
    process.exit(code);
  },
  (e: Error) => {
    process.stderr.write(`actors: ${e.message}\n`);
    process.exit(1);
  },
);
