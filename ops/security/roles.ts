// The role table of `actors up --secure`: for each role, the subjects its NATS user may publish
// and subscribe to. One entry per process type, plus `client` (queries the gateway, reads the log)
// and `admin` (everything, including `ctl.*`). Every subject comes from bus/SUBJECTS.md (the
// wire contract) or is a JetStream API subject the bus code uses for the streams and the KV
// bucket of that table. docs/security.md renders the same table for people; keep the two in step.
//
// Replies: no role uses nats-server's `allow_responses`. It would let a responder publish to
// whatever reply subject a requester names, so a client could ask the gateway a question with
// reply subject `ctl.rdb1.stop` and have the gateway stop the RDB. Responders may publish to
// `_INBOX.>` instead, and only there: in secure mode a reply subject must start with `_INBOX.`
// (every NATS client library's default).
import { assertName, kv, streams } from '../../bus/subjects.ts';

export interface Permissions {
  publish: string[];
  subscribe: string[];
}

export const ROLES = ['tickerplant', 'rdb', 'wdb', 'sort', 'rtp', 'hdb', 'idb', 'gateway', 'monitor', 'reporter', 'feed', 'housekeeping', 'filealerter', 'streams', 'compression', 'chainedtp', 'client', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** What the table depends on: the tickerplant names (their streams TICK_<tp> appear in JetStream API subjects, where a wildcard cannot stand for part of a token). */
export interface RoleContext {
  tps: string[];
  /** Stream-processor managers (process type `streams`): their streams STREAMS_<name> appear in JetStream API subjects too. */
  streamManagers?: string[];
  /** Chained tickerplants (process type `chainedtp`): each writes its own log TICK_<name> (log mode create), which readers read like a tickerplant's. */
  chainedTps?: string[];
}

const js = '$JS.API';

/** JetStream API subjects to read stream `s` with consumers (ordered or pull), its info and single messages. */
function streamReader(s: string): string[] {
  return [
    `${js}.STREAM.INFO.${s}`,
    `${js}.STREAM.MSG.GET.${s}`,
    `${js}.DIRECT.GET.${s}`,
    `${js}.DIRECT.GET.${s}.>`,
    `${js}.CONSUMER.CREATE.${s}`,
    `${js}.CONSUMER.CREATE.${s}.>`,
    `${js}.CONSUMER.INFO.${s}.*`,
    `${js}.CONSUMER.DELETE.${s}.*`,
    `${js}.CONSUMER.MSG.NEXT.${s}.*`,
    `$JS.ACK.${s}.>`,
    `$JS.FC.${s}.>`,
  ];
}

/** Creating (or updating) stream `s` and appending to it is done by publishing to its subjects. */
function streamOwner(s: string): string[] {
  return [`${js}.STREAM.CREATE.${s}`, `${js}.STREAM.UPDATE.${s}`, ...streamReader(s)];
}

const registry = `KV_${kv.registryBucket}`;
/** The period manifest's stream (KV `stpmeta`, written by tickerplants at each end of period). */
const periodsStream = `KV_${kv.periodsBucket}`;
/** Chained tickerplants' routes (KV `chain`). */
const chainStream = `KV_${kv.chainBucket}`;

/**
 * What every process started by the runtime (actors/common/runtime.ts) needs as `proctype`:
 * heartbeats, alerts and log lines under its own type, its registry entry (KV `proc`, key
 * `<type>.<name>`: create the bucket, put and delete its own keys), its usage records (stream
 * USAGE), its ctl and query subjects, and replies to inboxes.
 */
function processBase(proctype: string): Permissions {
  return {
    publish: [
      '_INBOX.>',
      `hb.${proctype}.*`,
      `alert.${proctype}.*`,
      `log.${proctype}.*`,
      `usage.${proctype}.*`,
      `$KV.${kv.registryBucket}.${proctype}.*`,
      `${js}.INFO`,
      `${js}.STREAM.CREATE.${registry}`,
      `${js}.STREAM.INFO.${registry}`,
      `${js}.STREAM.CREATE.${streams.usage}`,
      `${js}.STREAM.INFO.${streams.usage}`,
    ],
    subscribe: ['_INBOX.>', 'ctl.*.status', 'ctl.*.stop', `q.${proctype}`, `q.${proctype}.*`],
  };
}

/**
 * Reading the registry (discovery's watch, the RDB's wait for an HDB) needs consumers on its
 * stream; only the roles that read it get them (see logDirectReader for why consumers matter).
 */
const registryReader: Permissions = { publish: streamReader(registry), subscribe: [] };

/**
 * The log read by sequence or by last message of a subject (JetStream direct get), without
 * consumers. nats-server 2.9 lets whoever may create a consumer name its deliver subject, and then
 * pushes the stream's messages there with the server's own rights: a client allowed
 * `$JS.API.CONSUMER.CREATE.TICK_tp1` could have the log delivered to `ctl.rdb1.stop`. So the
 * client role reads the log this way and consumers stay with the system's own processes.
 */
function logDirectReader(s: string): string[] {
  return [`${js}.STREAM.INFO.${s}`, `${js}.DIRECT.GET.${s}`, `${js}.DIRECT.GET.${s}.>`];
}

const feedSubjects = ['tp.*.upd', 'tp.*.upd.>'];
const gatewayRequests = ['gw.sync', 'gw.async', 'gw.*.sync', 'gw.*.async'];

function merge(...ps: Permissions[]): Permissions {
  return {
    publish: [...new Set(ps.flatMap((p) => p.publish))],
    subscribe: [...new Set(ps.flatMap((p) => p.subscribe))],
  };
}

/** The permissions of one role. */
export function rolePermissions(role: Role, ctx: RoleContext): Permissions {
  for (const tp of ctx.tps) assertName('tickerplant', tp);
  for (const m of ctx.streamManagers ?? []) assertName('streams', m);
  const chained = ctx.chainedTps ?? [];
  for (const c of chained) assertName('chained tickerplant', c);
  // Readers read every log: the tickerplants' and the chained tickerplants' (and a chained one's route, KV `chain`).
  const logReader: Permissions = {
    publish: [...ctx.tps, ...chained].flatMap((tp) => streamReader(streams.log(tp))).concat(chained.length ? [`${js}.STREAM.INFO.${chainStream}`, `${js}.STREAM.MSG.GET.${chainStream}`] : []),
    subscribe: [],
  };
  switch (role) {
    case 'tickerplant':
      return merge(processBase(role), {
        publish: [
          'tick.*.>',
          'tickbuf.*.>',
          'tickerr.*.>',
          ...ctx.tps.flatMap((tp) => [...streamOwner(streams.log(tp)), ...streamOwner(streams.rejected(tp))]),
          // The slow-consumer watch lists its log's consumers (and deletes a cut one: streamReader's CONSUMER.DELETE).
          ...ctx.tps.map((tp) => `${js}.CONSUMER.LIST.${streams.log(tp)}`),
          // The period manifest: its own keys `<tp>.<start>`, creating the bucket, reading back the entry it mends on recovery.
          ...ctx.tps.map((tp) => `$KV.${kv.periodsBucket}.${tp}.*`),
          `${js}.STREAM.CREATE.${periodsStream}`,
          `${js}.STREAM.INFO.${periodsStream}`,
        ],
        // A manual end of period (ctl.<tp>.eop); buffer events (ctl.<tp>.buffer.start / .end).
        subscribe: [...feedSubjects, ...ctx.tps.flatMap((tp) => [`ctl.${tp}.eop`, `ctl.${tp}.buffer.*`])],
      });
    case 'rdb':
      // With a recent window (rdbWindowMs) it drops what a WDB's notices say is written.
      return merge(processBase(role), logReader, registryReader, { publish: ['hdb.reload'], subscribe: ['wdb.*.written'] });
    case 'wdb':
      // Reads the log like the RDB; tells HDBs to reload; its notices (write-downs, the reload
      // sequence to gateways); in mode save, asks a sort process.
      return merge(processBase(role), logReader, registryReader, {
        publish: ['hdb.reload', 'wdb.*.written', 'wdb.*.reloadstart', 'wdb.*.reloadend', 'sort.trigger', 'sort.*.trigger'],
        subscribe: [],
      });
    case 'sort':
      // Takes a WDB's end-of-day merge (files only: no log, no registry).
      return merge(processBase(role), { publish: [], subscribe: ['sort.trigger', 'sort.*.trigger'] });
    case 'rtp':
      // A real-time processor: reads the log as the RDB does (also its headers, for its own derived
      // ids) and publishes derived updates to a tickerplant as a feed does (docs/rtp.md).
      return merge(processBase(role), logReader, registryReader, { publish: feedSubjects, subscribe: [] });
    case 'hdb':
      return merge(processBase(role), { publish: [], subscribe: ['hdb.reload'] });
    case 'idb':
      // Today's intraday files (files only: no log, no registry reads); reloads on a WDB's notices.
      return merge(processBase(role), { publish: [], subscribe: ['wdb.*.written', 'wdb.*.reloadstart', 'wdb.*.reloadend'] });
    case 'gateway':
      // Queries any process's query subjects and probes backends' status (never stop).
      return merge(processBase(role), registryReader, { publish: ['q.>', 'ctl.*.status'], subscribe: [...gatewayRequests, 'hb.>', 'wdb.*.reloadstart', 'wdb.*.reloadend'] });
    case 'monitor':
      // Checks ask processes directly or through a gateway; check failures are its alerts.
      // Its page: the supervisor's bucket `sup` (watched), and the log streams' consumers (lag).
      return merge(processBase(role), registryReader, {
        publish: [
          'q.>',
          ...gatewayRequests,
          ...streamReader(`KV_${kv.supervisorBucket}`),
          `${js}.STREAM.NAMES`,
          ...ctx.tps.flatMap((tp) => [`${js}.STREAM.INFO.${streams.log(tp)}`, `${js}.CONSUMER.LIST.${streams.log(tp)}`]),
        ],
        subscribe: ['hb.>', 'alert.>', 'log.>'],
      });
    case 'reporter':
      return merge(processBase(role), { publish: ['q.>', ...gatewayRequests, 'report.>'], subscribe: [] });
    case 'feed':
    case 'filealerter':
      return merge(processBase(role), { publish: feedSubjects, subscribe: [] });
    case 'housekeeping':
      return processBase(role);
    case 'streams':
      // Stream processors: own STREAMS_<mgr> (create, durable consumers with acks, publish on
      // st.<mgr>.>, dead letters there too), and read tick tables from the logs with their own
      // durable consumers (streamReader covers CONSUMER.CREATE.<stream>.<name>).
      return merge(processBase(role), logReader, {
        publish: (ctx.streamManagers ?? []).flatMap((m) => [`st.${m}.>`, ...streamOwner(streams.processors(m))]),
        subscribe: [],
      });
    case 'compression':
      // Rewrites old HDB partitions and tells the HDBs to reload them.
      return merge(processBase(role), { publish: ['hdb.reload'], subscribe: [] });
    case 'chainedtp':
      // Reads its parent's log (a consumer), appends to its own log tick.<ctp>.> (stream TICK_<ctp>),
      // keeps the parent messages it cannot forward in tickerr.<ctp>.> (stream TICKERR_<ctp>), writes its route (KV `chain`, key = its name) and its periods (KV `stpmeta`, keys <ctp>.*).
      return merge(processBase(role), logReader, {
        publish: [
          ...chained.flatMap((c) => [`tick.${c}.>`, ...streamOwner(streams.log(c)), `tickerr.${c}.>`, ...streamOwner(streams.rejected(c)), `$KV.${kv.periodsBucket}.${c}.*`, `$KV.${kv.chainBucket}.${c}`]),
          `${js}.STREAM.CREATE.${periodsStream}`,
          `${js}.STREAM.INFO.${periodsStream}`,
          `${js}.STREAM.CREATE.${chainStream}`,
          `${js}.STREAM.INFO.${chainStream}`,
          `${js}.STREAM.MSG.GET.${chainStream}`,
        ],
        subscribe: [],
      });
    case 'client':
      // Queries through a gateway (and answers its liveness probes on the gateway's inbox: `_INBOX.>`),
      // reads the log by sequence (direct get, no consumers), receives published reports.
      // Also the period manifest by key (periodRange), by direct get like the log.
      return {
        publish: ['_INBOX.>', `${js}.INFO`, ...gatewayRequests, ...ctx.tps.flatMap((tp) => logDirectReader(streams.log(tp))), ...logDirectReader(periodsStream), `${js}.STREAM.MSG.GET.${periodsStream}`],
        subscribe: ['_INBOX.>', 'report.>'],
      };
    case 'admin':
      return { publish: ['>'], subscribe: ['>'] };
  }
}

/** The role table as markdown (docs/security.md holds it; a test checks the two agree). */
export function roleTableMarkdown(ctx: RoleContext): string {
  const cell = (xs: string[]) => xs.map((x) => `\`${x}\``).join(' ');
  const rows = ROLES.map((r) => {
    const p = rolePermissions(r, ctx);
    return `| ${r} | ${cell(p.publish)} | ${cell(p.subscribe)} |`;
  });
  return ['| role | may publish to | may subscribe to |', '|---|---|---|', ...rows].join('\n');
}
