// The one module that builds and parses subjects, stream names and KV keys. bus/SUBJECTS.md is
// the normative table; keep the two in step.
import { ErrorCode, TickbusError } from './errors.ts';

/** Process, tickerplant and table names: a subject token that needs no escaping anywhere. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function assertName(kind: string, name: string): string {
  if (!NAME_RE.test(name)) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${kind} name ${JSON.stringify(name)} is invalid`, {
      kind,
      name,
      rule: NAME_RE.source,
    });
  }
  return name;
}

export const subjects = {
  /** Feed -> tickerplant, one table: request, reply is an ack or an error. */
  upd: (tp: string, table: string) => `tp.${tp}.upd.${table}`,
  /** Feed -> tickerplant, several tables in one message. */
  updMulti: (tp: string) => `tp.${tp}.upd`,
  /** The tickerplant's queue-group subscription (covers both forms above). */
  updWildcard: (tp: string) => `tp.${tp}.upd.>`,
  /** Log stream subject of one table's batches. */
  tick: (tp: string, table: string) => `tick.${tp}.${table}`,
  /** Log stream subject of end-of-day markers (same stream, same order as the data). */
  eod: (tp: string) => `tick.${tp}._ctl.eod`,
  /** Log stream subject of end-of-period (intraday) markers: same stream, same order. */
  eop: (tp: string) => `tick.${tp}._ctl.eop`,
  /** Log stream subject of buffer-event marks (tickbus.v1.buffer start/end/replayed): same stream, same order. */
  bufferMark: (tp: string) => `tick.${tp}._ctl.buffer`,
  /** A buffer event's log (held rows, and its start and end marks), in the log stream but outside `tick.<tp>.>`. */
  buffer: (tp: string, id: string) => `tickbuf.${tp}.${id}`,
  bufferAll: (tp: string) => `tickbuf.${tp}.>`,
  /** Log stream subject of multi-table messages (tickbus.v1.multi): several tables in one atomic append. */
  multi: (tp: string) => `tick.${tp}._multi`,
  /** Every subject of the log stream. */
  tickAll: (tp: string) => `tick.${tp}.>`,
  /** Rejected feed messages (TorQ's error mode), one subject per table. */
  rejected: (tp: string, table: string) => `tickerr.${tp}.${table}`,
  rejectedAll: (tp: string) => `tickerr.${tp}.>`,
  /** Queries to one named process, and to any process of a type (queue group). */
  query: (type: string, name: string) => `q.${type}.${name}`,
  queryGroup: (type: string) => `q.${type}`,
  /** Heartbeats. */
  heartbeat: (type: string, name: string) => `hb.${type}.${name}`,
  /** Every heartbeat (a monitor's or the gateway's subscription). */
  heartbeatAll: 'hb.>',
  /** Gateway calls to one named gateway: the reply is the result (sync) or an acceptance (async). */
  gatewaySync: (gw: string) => `gw.${gw}.sync`,
  gatewayAsync: (gw: string) => `gw.${gw}.async`,
  /** The same calls to any gateway (queue group `gateway`), for clients that do not name one. */
  gatewaySyncAny: 'gw.sync',
  gatewayAsyncAny: 'gw.async',
  /** Control verbs to a process: status, stop. */
  ctl: (name: string, verb: string) => `ctl.${name}.${verb}`,
  /** A launcher's (`actors up --name <launcher>`) supervision requests: `tickbus.v1.supervise` {action: start|stop|restart, name}. */
  supervise: (launcher: string) => `ctl.${launcher}.supervise`,
  /** Broadcast after a partition is written: every HDB reloads (an HDB that is down is no failure). */
  hdbReload: 'hdb.reload',
  /** A WDB's notice after every intraday write-down (`tickbus.v1.wdb.written`, storage/intraday/manifest.ts): IDBs reload. */
  wdbWritten: (wdb: string) => `wdb.${wdb}.written`,
  wdbWrittenAll: 'wdb.*.written',
  /** A WDB's end-of-day reload sequence (`tickbus.v1.wdb.reloadstart` / `.reloadend`): gateways hold HDB-bound queries for the day in between, bounded by the notice's holdMs. */
  wdbReloadStart: (wdb: string) => `wdb.${wdb}.reloadstart`,
  wdbReloadEnd: (wdb: string) => `wdb.${wdb}.reloadend`,
  wdbReloadStartAll: 'wdb.*.reloadstart',
  wdbReloadEndAll: 'wdb.*.reloadend',
  /** save mode: a WDB asks a sort process (queue group `sort`) to merge a flushed day (`tickbus.v1.sort`); the reply says per table how it went. */
  sortTrigger: 'sort.trigger',
  /** The same, to one named sort process. */
  sortTriggerTo: (sort: string) => `sort.${sort}.trigger`,
  /** Alerts (supervisor crash loops, slow consumers, check failures): `tickbus.v1.alert`, shown by the monitor. */
  alert: (proctype: string, name: string) => `alert.${proctype}.${name}`,
  alertAll: 'alert.>',
  /** A process's warn/error log lines (`tickbus.v1.log`), kept in a bounded ring by the monitor. */
  logLine: (proctype: string, name: string) => `log.${proctype}.${name}`,
  logAll: 'log.>',
  /** A reporter's published results (`tickbus.v1.report`, the `publish` handler; TorQ's publishresult). */
  report: (reporter: string, report: string) => `report.${reporter}.${report}`,
  reportAll: 'report.>',
  /** The usage log (stream USAGE): batches of one process's answered queries, `tickbus.v1.usage`. */
  usage: (proctype: string, name: string) => `usage.${proctype}.${name}`,
  usageAll: 'usage.>',
  /** Stream processors (actors/streams): an input or output subject token of manager `mgr` (stream STREAMS_<mgr>). */
  stream: (mgr: string, token: string) => `st.${mgr}.${token}`,
  /** A stream's dead letters (headers Tb-Dead-Reason, Tb-Dead-Stage). */
  streamDead: (mgr: string, stream: string) => `st.${mgr}.dead.${stream}`,
  streamAll: (mgr: string) => `st.${mgr}.>`,
} as const;

export const streams = {
  log: (tp: string) => `TICK_${tp}`,
  rejected: (tp: string) => `TICKERR_${tp}`,
  /** The usage log of every process (bounded by age and bytes; bus/usage.ts). */
  usage: 'USAGE',
  /** A stream manager's inputs, outputs and dead letters (docs/streams.md). */
  processors: (mgr: string) => `STREAMS_${mgr}`,
} as const;

export const kv = {
  /** The discovery registry bucket and its key for one process. */
  registryBucket: 'proc',
  registryKey: (type: string, name: string) => `${type}.${name}`,
  /** The supervisor's state of each process it runs (`actors up`): key = procname. */
  supervisorBucket: 'sup',
  /** The period manifest (TorQ's stpmeta): one entry per ended period, key = `<tp>.<start epoch ms>`. */
  periodsBucket: 'stpmeta',
  periodKey: (tp: string, startMs: number) => `${tp}.${startMs}`,
  /** Chained tickerplants' routes (`tickbus.v1.chain`): key = the chained tp's name (bus/chain.ts). */
  chainBucket: 'chain',
} as const;

export const CTL_TOKEN = '_ctl';
export const MULTI_TOKEN = '_multi';

export type TickSubject =
  | { kind: 'table'; tp: string; table: string }
  | { kind: 'eod'; tp: string }
  | { kind: 'eop'; tp: string }
  | { kind: 'multi'; tp: string }
  | { kind: 'buffer'; tp: string }
  | { kind: 'other'; tp: string; rest: string };

/** Parses a log-stream subject. Tables never start with `_`, so `_ctl` cannot clash. */
export function parseTickSubject(subject: string): TickSubject | undefined {
  const parts = subject.split('.');
  if (parts[0] !== 'tick' || parts.length < 3) return undefined;
  const tp = parts[1]!;
  if (parts[2] === CTL_TOKEN) {
    if (parts.length === 4 && parts[3] === 'eod') return { kind: 'eod', tp };
    if (parts.length === 4 && parts[3] === 'eop') return { kind: 'eop', tp };
    if (parts.length === 4 && parts[3] === 'buffer') return { kind: 'buffer', tp };
    return { kind: 'other', tp, rest: parts.slice(2).join('.') };
  }
  if (parts.length === 3 && parts[2] === MULTI_TOKEN) return { kind: 'multi', tp };
  return parts.length === 3 ? { kind: 'table', tp, table: parts[2]! } : { kind: 'other', tp, rest: parts.slice(2).join('.') };
}

/** Parses a heartbeat subject `hb.<type>.<name>`. */
export function parseHeartbeatSubject(subject: string): { proctype: string; name: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 3 || parts[0] !== 'hb') return undefined;
  return { proctype: parts[1]!, name: parts[2]! };
}

/** Parses a feed subject: `tp.<tp>.upd.<table>` or `tp.<tp>.upd`. */
export function parseUpdSubject(subject: string): { tp: string; table?: string } | undefined {
  const parts = subject.split('.');
  if (parts[0] !== 'tp' || parts[2] !== 'upd') return undefined;
  if (parts.length === 3) return { tp: parts[1]! };
  if (parts.length === 4) return { tp: parts[1]!, table: parts[3]! };
  return undefined;
}

/** Headers the tickerplant sets on log messages (documented in SUBJECTS.md). */
export const Header = {
  contentType: 'Content-Type',
  msgId: 'Nats-Msg-Id',
  /** JetStream refuses an append unless the stream's last sequence is this one (the log stays in order). */
  expectedLastSeq: 'Nats-Expected-Last-Sequence',
  /** The trading day (YYYY-MM-DD) a batch belongs to. */
  day: 'Tb-Day',
  /** The table's cumulative row count for the day after this batch (TorQ's .u.icounts). */
  count: 'Tb-Count',
  /** On a multi-table message: each table's cumulative row count for the day after it (`trade=12,quote=40`). */
  counts: 'Tb-Counts',
  /** On a buffer log's held rows: the event's rows and bytes held so far, this message included. */
  bufferRows: 'Tb-Buffer-Rows',
  bufferBytes: 'Tb-Buffer-Bytes',
  /** On a live batch replayed from a buffer log: `<event id>:<buffer message sequence>`. */
  bufferFrom: 'Tb-Buffer-From',
  /** Feed message ids acknowledged by this batch (comma separated), for dedupe after restart. */
  ids: 'Tb-Ids',
  /** On feed requests: the message id a retry repeats. */
  feedId: 'Tb-Msg-Id',
  /** On rejected messages: the error code and the subject the message came on. */
  errorCode: 'Tb-Error-Code',
  errorSubject: 'Tb-Error-Subject',
  /** On gateway requests: a subject the client answers while it is connected (GatewayClient: `<inbox>.alive`). */
  clientAlive: 'Tb-Client-Alive',
  /** On gateway postbacks: the query id the message answers. */
  queryId: 'Tb-Query-Id',
  /** On queries: who asks, as the client declares it (the usage log's user; not authenticated). */
  user: 'Tb-User',
  /** On a repaired log's messages (`actors replay --repair-to`): `<tp>:<seq>`, where the copy came from. */
  repairedFrom: 'Tb-Repaired-From',
  /** On a chained tickerplant's log messages: every parent log message up to this sequence is forwarded (or filtered out). */
  parentSeq: 'Tb-Parent-Seq',
} as const;
