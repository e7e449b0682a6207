// One run of a report (TorQ's runreport): send the query, wait at most `timeoutinterval`, hand the
// result to the handler, and write each stage to the query log: R (running: sent, received,
// handler), then C (complete), E (error) or T (timed out). A result arriving after T is dropped.
// Through the gateway the query is an async gateway call (gw.<gw>.async, the result posted back to
// this process's inbox); without it, a request to the process (q.<type>.<name>, or q.<type> for
// any process of the type, TorQ's "random process of the proctype").
import { TimeoutError, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../bus/codec.ts';
import { ErrorCode, isErrorEnvelope, TickbusError } from '../../bus/errors.ts';
import type { GatewayClient } from '../../bus/gateway_client.ts';
import { subjects } from '../../bus/subjects.ts';
import type { Clock } from '../common/clock.ts';
import { runHandler, type HandlerContext } from './handlers.ts';
import { Stage, type QueryLog } from './query_log.ts';
import type { ReportDef } from './report_csv.ts';

export interface RunnerDeps {
  nc: NatsConnection;
  clock: Clock;
  log: QueryLog;
  handlers: HandlerContext;
  /** The gateway client for a gateway name (undefined = any gateway); one per name, reused. */
  gateway: (name: string | undefined) => GatewayClient;
  reporter: string;
}

export type RunOutcome = typeof Stage.complete | typeof Stage.error | typeof Stage.timeout;

/** How much longer than the reporter's own timeout a direct request may wait (ours fires first). */
const DIRECT_SLACK_MS = 1_000;

function target(def: ReportDef): string {
  const where = def.viaGateway ? `gateway ${def.procname ?? '(any)'}` : `process ${def.procname ?? '(any)'}`;
  return `proctype: ${def.proctypes.join(' ')} through ${where}`;
}

async function send(def: ReportDef, queryid: number, deps: RunnerDeps): Promise<unknown> {
  if (def.viaGateway) {
    const gw = deps.gateway(def.procname);
    const reply = await gw.async(def.query, def.proctypes, { join: def.join, timeoutMs: def.timeoutMs, id: `${deps.reporter}-${queryid}` });
    return reply.result;
  }
  const subject = def.procname ? subjects.query(def.proctypes[0]!, def.procname) : subjects.queryGroup(def.proctypes[0]!);
  const m = await deps.nc.request(subject, encode(def.query), { timeout: def.timeoutMs + DIRECT_SLACK_MS });
  const v = decode(m.data);
  if (isErrorEnvelope(v)) throw TickbusError.fromEnvelope(v);
  return v;
}

/** The query within the report's timeout; a TickbusError TIMEOUT when it does not answer in time. */
function withTimeout<T>(p: Promise<T>, ms: number, clock: Clock): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new TickbusError(ErrorCode.TIMEOUT, `no result within the timeoutinterval (${ms} ms)`, { timeoutMs: ms })), ms);
    p.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clock.clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function isTimeout(e: unknown): boolean {
  if (e instanceof TimeoutError) return true;
  if (e instanceof TickbusError) return e.code === ErrorCode.TIMEOUT || e.code === ErrorCode.QUERY_TIMEOUT;
  return (e as Error)?.cause instanceof TimeoutError;
}

/** Runs the report once; resolves with its last stage (never rejects). */
export async function runReport(def: ReportDef, queryid: number, deps: RunnerDeps): Promise<RunOutcome> {
  const t0 = deps.clock.now();
  const since = () => deps.clock.now() - t0;
  const { log } = deps;
  log.add(queryid, def.name, Stage.running, `Running report: ${def.name} against ${target(def)}`);
  let result: unknown;
  try {
    result = await withTimeout(send(def, queryid, deps), def.timeoutMs, deps.clock);
  } catch (e) {
    if (isTimeout(e)) {
      log.add(queryid, def.name, Stage.timeout, `Report timed out: ${(e as Error).message}`, since());
      return Stage.timeout;
    }
    const code = e instanceof TickbusError ? e.code : 'INTERNAL';
    log.add(queryid, def.name, Stage.error, `Query failed: ${code}: ${(e as Error)?.message ?? String(e)}`, since(), { code });
    return Stage.error;
  }
  log.add(queryid, def.name, Stage.running, 'Received result', since());
  if (def.handler) {
    log.add(queryid, def.name, Stage.running, `Running resulthandler ${def.handler.kind}`, since());
    try {
      const did = await runHandler(def, def.handler, result, queryid, deps.handlers);
      log.add(queryid, def.name, Stage.running, did, since());
    } catch (e) {
      const code = e instanceof TickbusError ? e.code : 'INTERNAL';
      log.add(queryid, def.name, Stage.error, `Result handler ${def.handler.kind} failed: ${(e as Error)?.message ?? String(e)}`, since(), { code });
      return Stage.error;
    }
  }
  log.add(queryid, def.name, Stage.complete, 'Finished report', since());
  return Stage.complete;
}
