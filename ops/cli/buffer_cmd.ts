// `actors buffer start|end|status --tp tp1 [--id ID] [--args JSON] [--replay]`: opens or ends a
// tickerplant's buffer event (ctl.<tp>.buffer.start / .end, decision 108) or shows the open one
// (ctl.<tp>.buffer.status: its id, rows and bytes held, the bound). Usage errors are BAD_USAGE
// before anything is sent; the tickerplant's own refusals come back typed (BAD_CONFIG when buffer
// events are off, BAD_QUERY for a used id or an event not open, BAD_ID).
import { connect } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { ErrorCode, TickbusError, isErrorEnvelope } from '../../bus/errors.ts';
import { assertName, subjects } from '../../bus/subjects.ts';
import { BUFFER_REQUEST_TYPE, type BufferStatus } from '../../actors/tickerplant/buffer.ts';
import { natsServers, usageError, type Args, type Command } from './args.ts';

const VERBS = ['start', 'end', 'status'] as const;
type Verb = (typeof VERBS)[number];
/** The event id rule of the tickerplant (a subject token), checked here first for a clear usage error. */
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Bound on --args (the tickerplant's own bound on an event's args). */
const ARGS_BYTES_MAX = 4096;

export const bufferCommand: Command = {
  usage: `  actors buffer start|end|status --tp <tp> [--id <id>] [--args '<json object>'] [--replay[=false]] [--json] [--timeout 30000]
      a buffer event of the tickerplant (needs bufferEnabled): start opens event --id (held rows go
      to tickbuf.<tp>.<id>), end seals it (--replay: its rows into the live log, else
      bufferReplayOnEnd), --args rides on the mark; status shows the open event, rows and bytes held
      and bufferLimitMb (--id: whether that event is the open one)
`,
  flags: ['tp', 'id', 'args', 'replay', 'json', 'timeout'],
  run: async (a) => {
    const r = bufferRequest(a);
    const nc = await connect({ servers: natsServers(), name: 'actors-buffer', ...securityOptions(), timeout: 2_000 });
    try {
      const subject = subjects.ctl(r.tp, `buffer.${r.verb}`);
      let m;
      try {
        m = await nc.request(subject, JSON.stringify(r.body), { timeout: r.timeoutMs });
      } catch (e) {
        throw new TickbusError(ErrorCode.NO_RESPONDERS, `tickerplant ${r.tp} did not answer ${subject} within ${r.timeoutMs} ms: ${(e as Error).message}`, { tp: r.tp, timeoutMs: r.timeoutMs });
      }
      const body = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
      if (isErrorEnvelope(body)) throw TickbusError.fromEnvelope(body);
      if (r.json) process.stdout.write(`${JSON.stringify(body)}\n`);
      else process.stdout.write(r.verb === 'status' ? statusLine(body as unknown as BufferStatus, r.id) : markLine(r.tp, body));
      return 0;
    } finally {
      await nc.close();
    }
  },
};

export interface BufferCliRequest {
  verb: Verb;
  tp: string;
  id?: string;
  body: Record<string, unknown>;
  json: boolean;
  timeoutMs: number;
}

/** The command line as a request, every mistake a BAD_USAGE naming the flag (exported for the unit test). */
export function bufferRequest(a: Args): BufferCliRequest {
  const verb = a.positional[0];
  if (!VERBS.includes(verb as Verb)) throw usageError(`actors buffer needs start, end or status (got ${verb === undefined ? 'nothing' : JSON.stringify(verb)})`, { valid: [...VERBS] });
  if (a.positional.length > 1) throw usageError(`actors buffer ${verb}: unexpected argument ${JSON.stringify(a.positional[1])}`, { got: a.positional.slice(1) });
  const tp = a.flags.get('tp');
  if (!tp || tp === 'true') throw usageError(`actors buffer ${verb} needs --tp <tickerplant>`, { flag: 'tp' });
  try {
    assertName('tickerplant', tp);
  } catch (e) {
    throw usageError(`--tp: ${(e as Error).message}`, { flag: 'tp' });
  }
  const id = a.flags.get('id');
  if (verb !== 'status' && id === undefined) throw usageError(`actors buffer ${verb} needs --id <event id>`, { flag: 'id' });
  if (id !== undefined && !ID_RE.test(id)) throw usageError(`--id ${JSON.stringify(id)} is not an event id (${ID_RE.source})`, { flag: 'id' });
  const rawArgs = a.flags.get('args');
  let args: unknown;
  if (rawArgs !== undefined) {
    if (verb === 'status') throw usageError('--args is for start and end', { flag: 'args' });
    try {
      args = JSON.parse(rawArgs);
    } catch (e) {
      throw usageError(`--args is not JSON: ${(e as Error).message}`, { flag: 'args' });
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw usageError('--args must be a JSON object', { flag: 'args' });
    if (rawArgs.length > ARGS_BYTES_MAX) throw usageError(`--args is longer than ${ARGS_BYTES_MAX} bytes`, { flag: 'args' });
  }
  const rawReplay = a.flags.get('replay');
  if (rawReplay !== undefined && verb !== 'end') throw usageError('--replay is for end', { flag: 'replay' });
  if (rawReplay !== undefined && rawReplay !== 'true' && rawReplay !== 'false') throw usageError(`--replay takes no value, or =true / =false (got ${JSON.stringify(rawReplay)})`, { flag: 'replay' });
  const timeoutMs = Number(a.flags.get('timeout') ?? 30_000);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw usageError(`--timeout ${a.flags.get('timeout')} is not an integer in [100, 600000] ms`, { flag: 'timeout' });
  const body: Record<string, unknown> = verb === 'status' ? {} : { type: BUFFER_REQUEST_TYPE, id, ...(args ? { args } : {}), ...(rawReplay !== undefined ? { replay: rawReplay === 'true' } : {}) };
  return { verb: verb as Verb, tp, ...(id !== undefined ? { id } : {}), body, json: a.flags.has('json'), timeoutMs };
}

function markLine(tp: string, m: Record<string, unknown>): string {
  const what = m.phase === 'start' ? 'started' : m.phase === 'replayed' ? 'ended and replayed' : 'ended';
  const replay = m.phase === 'end' ? (m.replay ? ', to be replayed' : ', held in its log') : '';
  return `${tp}: buffer event ${m.id} ${what} (log ${m.log}; rows ${m.rows}, bytes ${m.bytes}${replay})\n`;
}

function statusLine(s: BufferStatus, id: string | undefined): string {
  const head = !s.enabled
    ? `${s.tp}: buffer events off (bufferEnabled false)`
    : s.open === null
      ? `${s.tp}: no buffer event open`
      : `${s.tp}: buffer event ${s.open} open (log ${s.log}; rows ${s.rows}, bytes ${s.bytes} of ${s.limitBytes}, bufferLimitMb ${s.limitMb})`;
  const replaying = s.replaying ? '; a replay is running' : '';
  const asked = id === undefined ? '' : `\nevent ${id}: ${s.open === id ? 'open' : 'not open'}`;
  return `${head}${replaying}${asked}\n`;
}
