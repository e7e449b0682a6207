// Runs a scenario (scenarios/*.ts) for real: a nats-server on a random port with a temp store,
// the tickerplant and RDBs as child processes (`actors start`), an in-process feed whose rows
// carry a unique `fid`, late-joining subscribers, faults at their times; then reads the log and
// checks the invariants. Returns the violations (empty = pass) and what it measured.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { DuckDBInstance } from '@duckdb/node-api';
import { decode, encode } from '../../bus/codec.ts';
import { acceptChunksHeaders, ChunkCollector } from '../../bus/reply.ts';
import { connect } from '@nats-io/transport-node';
import { NatsCluster } from '../../bus/nats_cluster.ts';
import { NatsServer } from '../../bus/nats_server.ts';
import { Publisher } from '../../bus/publisher.ts';
import { subjects } from '../../bus/subjects.ts';
import { subscribe, type Subscription } from '../../bus/subscriber.ts';
import { Invariants, type Scenario } from '../../scenarios/types.ts';
import { chainedViolations, startChainedProbe, type ChainedProbe } from './chained.ts';
import { type AckedUpdate, bufferSettings, bufferViolations, type BufferWindow, runBufferEvent } from './buffer_event.ts';
import { killClusterNode } from './cluster_faults.ts';
import { startGatewayProbe, type GatewayProbe } from './gateway_probe.ts';
import { readLog, tableFids, testTables, until, type LogContents } from '../support/bus.ts';
import { dstPeriodViolations, periodViolations, readEops } from '../support/periods.ts';
import { SIM_CLOCK_ENV } from '../../actors/common/clock.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';
import { waitWdbIn, wdbHdbViolations } from './wdb_checks.ts';

export interface ScenarioResult {
  violations: string[];
  stats: Record<string, number>;
}

async function rdbStatus(nc: NatsConnection, name: string): Promise<{ lastSeq: number } | undefined> {
  return await status<{ lastSeq: number }>(nc, name);
}

/** A request whose reply may come in chunks (a day's fids pass the 1 MB message limit): the whole reply's bytes. */
async function requestWhole(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 30_000): Promise<Uint8Array> {
  const c = new ChunkCollector();
  for await (const m of await nc.requestMany(subject, encode(body), { headers: acceptChunksHeaders(), maxWait: timeoutMs })) {
    const whole = c.add(m);
    if (whole) return whole.data;
  }
  throw new Error(`no whole reply on ${subject} within ${timeoutMs} ms`);
}

function sameSequence(a: bigint[], b: bigint[]): string | undefined {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at ${i}: ${a[i]} vs ${b[i]}`;
  return undefined;
}

/**
 * TorQ's `.u.icounts` as a property of the log: every batch's Tb-Count equals the rows of its
 * table in the log from the day's start up to and including that batch, and every end-of-day
 * marker's counts equal the day's rows per table. Reports the first few differences.
 */
export function countViolations(order: LogContents['order']): string[] {
  const out: string[] = [];
  let rows = new Map<string, number>();
  for (const m of order) {
    if ('nextDay' in m) {
      for (const [t, n] of rows) if ((m.counts[t] ?? 0) !== n) out.push(`end of day ${m.day} (seq ${m.seq}): counts.${t} ${m.counts[t]} but the day holds ${n} rows`);
      for (const [t, n] of Object.entries(m.counts)) if (n !== 0 && !rows.has(t)) out.push(`end of day ${m.day} (seq ${m.seq}): counts.${t} ${n} but the day holds no rows`);
      rows = new Map();
      continue;
    }
    const n = (rows.get(m.table) ?? 0) + m.n;
    rows.set(m.table, n);
    if (m.count !== n) out.push(`${m.table} seq ${m.seq}: Tb-Count ${m.count} but ${n} rows of ${m.table} precede it (inclusive)`);
  }
  return out.length > 5 ? [...out.slice(0, 5), `... ${out.length - 5} more count violations`] : out;
}

/**
 * Every ended day in the HDB (the RDBs wrote it at end of day; waited for, bounded) holds exactly
 * the log's rows of that day per table, and each RDB's current day the log's rows since the last
 * end of day, in log order.
 */
async function hdbAndRdbViolations(nc: NatsConnection, sc: Scenario, log: LogContents, hdbDir: string, stats: Record<string, number>): Promise<string[]> {
  const out: string[] = [];
  const ended = new Set(log.eods.map((e) => e.day));
  const byDay = new Map<string, Map<string, bigint[]>>();
  for (const b of log.batches) {
    const day = byDay.get(b.day) ?? new Map<string, bigint[]>();
    byDay.set(b.day, day);
    const list = day.get(b.table) ?? [];
    list.push(...(b.cols.fid as BigInt64Array));
    day.set(b.table, list);
  }
  const want = [...ended].flatMap((d) => [...(byDay.get(d) ?? new Map<string, bigint[]>())].filter(([, f]) => f.length > 0).map(([t]) => [d, t] as const));
  const partition = (d: string, t: string) => join(hdbDir, `date=${d}`, t);
  // The write of the last ended day may still be going: wait (bounded) for every partition.
  await until(() => want.every(([d, t]) => existsSync(partition(d, t))), 30_000, 200).catch(() => {
    const missing = want.filter(([d, t]) => !existsSync(partition(d, t)));
    out.push(`the HDB lacks ${missing.length} partitions of ended days (e.g. ${missing[0]?.join('/')})`);
  });
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    for (const [d, t] of want) {
      if (!existsSync(partition(d, t))) continue;
      const r = await con.runAndReadAll(`SELECT fid::BIGINT FROM read_parquet('${partition(d, t)}/*.parquet')`);
      const got = r.getRows().map((x) => x[0] as bigint).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const exp = [...byDay.get(d)!.get(t)!].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const diff = sameSequence(got, exp);
      if (diff) out.push(`HDB ${d}/${t} differs from the log's day: ${diff}`);
      stats.hdbPartitions = (stats.hdbPartitions ?? 0) + 1;
      stats.hdbRows = (stats.hdbRows ?? 0) + got.length;
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
  const today = [...byDay.keys()].find((d) => !ended.has(d));
  for (const r of sc.topology.rdbs) {
    for (const t of sc.feed.tables) {
      const res = decode<{ cols?: { fid: BigInt64Array }; message?: string }>(await requestWhole(nc, subjects.query('rdb', r), { type: 'tickbus.v1.query', table: t, columns: ['fid'] }));
      if (!res.cols) {
        out.push(`${r}: query failed: ${res.message}`);
        continue;
      }
      const diff = sameSequence(Array.from(res.cols.fid), today ? (byDay.get(today)!.get(t) ?? []) : []);
      if (diff) out.push(`${r}.${t} (current day ${today}) differs from the log: ${diff}`);
    }
  }
  return out;
}

export async function runScenario(sc: Scenario): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), `tickbus-sc-${sc.name}-`));
  // One server, or an N-node cluster whose processes get every URL and N replicas (as `actors up --cluster N`).
  const size = sc.topology.cluster;
  const cluster = size ? await NatsCluster.start({ size, storeDir: join(dir, 'nats') }) : undefined;
  const server = cluster ? undefined : await NatsServer.start({ storeDir: join(dir, 'nats') });
  const url = cluster ? cluster.urls.join(',') : server!.url;
  const childEnv: Record<string, string> = size ? { TICKBUS_REPLICAS: String(Math.min(size, 5)) } : {};
  // Simulated time: every process (a restarted one too) on one timeline anchored now.
  if (sc.clock) childEnv[SIM_CLOCK_ENV] = `${sc.clock.startMs},${Date.now()},${sc.clock.speed}`;
  const cfgPath = join(dir, 'config.json');
  const tp = sc.topology.tp;
  writeFileSync(
    cfgPath,
    JSON.stringify({
      tables: testTables,
      defaults: {
        tickerplant: { mode: tp.mode, pubFreqMs: tp.pubFreqMs ?? 5, ...(tp.demoDayMs ? { demoDayMs: tp.demoDayMs } : {}), ...(tp.intradayFreqMs ? { intradayFreqMs: tp.intradayFreqMs } : {}), ...(tp.eodZone ? { eodZone: tp.eodZone } : {}), ...(tp.settings ?? {}) , ...bufferSettings(tp.bufferEvent) },
        rdb: { tp: tp.name, ...(sc.topology.hdb ? { hdbDir: join(dir, 'hdb') } : {}), ...(sc.topology.rdbEodMode ? { eodMode: sc.topology.rdbEodMode } : {}) },
        ...(sc.topology.chained ? { chainedtp: { parent: tp.name, pubFreqMs: sc.topology.chained.pubFreqMs ?? 0, subscribeTables: sc.topology.chained.tables, syms: sc.topology.chained.syms } } : {}),
        wdb: { tp: tp.name, wdbDir: join(dir, 'wdb'), hdbDir: join(dir, 'hdb'), ...sc.topology.wdb?.settings },
      },
    }),
  );
  const procs = new Map<string, Proc>();
  const violations: string[] = [];
  const stats: Record<string, number> = { acked: 0, failed: 0, published: 0 };
  const nc = await connect({ servers: url.split(','), name: 'scenario', maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const start = (proctype: string, name: string) => procs.set(name, spawnProc(proctype, name, cfgPath, url, childEnv));
  let probe: GatewayProbe | undefined;
  const faultsDone: Promise<void>[] = [];
  try {
    start('tickerplant', tp.name);
    await waitUp(nc, tp.name);
    for (const r of sc.topology.rdbs) start('rdb', r);
    for (const r of sc.topology.rdbs) await waitUp(nc, r);
    let chained: ChainedProbe | undefined;
    if (sc.topology.chained) {
      start('chainedtp', sc.topology.chained.name);
      await waitUp(nc, sc.topology.chained.name);
      chained = await startChainedProbe(nc, sc.topology.chained.name);
    }
    if (sc.topology.wdb) {
      start('wdb', sc.topology.wdb.name);
      await waitUp(nc, sc.topology.wdb.name);
    }
    const gw = sc.topology.gateway;
    if (gw) {
      start('gateway', gw.name);
      await waitUp(nc, gw.name);
      probe = startGatewayProbe(nc, { gateway: gw.name, tables: sc.feed.tables, everyMs: gw.everyMs, timeoutMs: gw.timeoutMs });
    }

    // The feed: unique fids, an ack or a failure recorded per update.
    const pub = new Publisher(nc, { tp: tp.name, ackTimeoutMs: 2_000, retriesMax: 60, retryDelayMs: 100 });
    const acked = new Map<string, bigint[]>(sc.feed.tables.map((t) => [t, []]));
    const inflight: Promise<void>[] = [];
    let fid = 0n;
    const symNames = Array.from({ length: sc.feed.syms }, (_, i) => `S${i}`);
    const joiners = (sc.topology.lateJoiners ?? []).map((j) => ({
      ...j,
      fids: new Map<string, bigint[]>(),
      done: Promise.resolve(),
      sub: undefined as Subscription | undefined,
    }));
    // Alerts seen (the tickerplant's slow-consumer cuts name the consumer, `joiner_<name>_…`).
    const alerts: Array<{ kind: string; subject: string }> = [];
    const alertSub = nc.subscribe(subjects.alertAll, { callback: (_e, m) => void alerts.push(m.json<{ kind: string; subject: string }>()) });
    const t0 = Date.now();
    const timers: ReturnType<typeof setTimeout>[] = [];
    const updates: AckedUpdate[] = [];
    const bufferWindow: BufferWindow = {};
    if (tp.bufferEvent) {
      const b = runBufferEvent(nc, tp.name, tp.bufferEvent, bufferWindow);
      timers.push(...b.timers);
      faultsDone.push(b.done.catch((e: Error) => void violations.push(e.message)));
    }
    for (const j of joiners) {
      timers.push(
        setTimeout(() => {
          j.done = (async () => {
            const sub = (j.sub = await subscribe(nc, { tp: tp.name, tables: j.tables, syms: j.syms, from: 'today', name: `joiner_${j.name}`, ...(j.bufferBytes ? { bufferBytes: j.bufferBytes } : {}) }));
            const stallAt = j.stall ? Date.now() + j.stall.afterMs : Infinity;
            for await (const e of sub) {
              if (Date.now() >= stallAt && j.stall) {
                const forMs = j.stall.forMs;
                j.stall = undefined; // once
                await new Promise((r) => setTimeout(r, forMs));
              }
              if (e.type !== 'batch') continue;
              const list = j.fids.get(e.table) ?? [];
              list.push(...(e.batch.cols.fid as BigInt64Array));
              j.fids.set(e.table, list);
            }
          })();
        }, j.joinAtMs),
      );
    }
    for (const f of sc.faults) {
      timers.push(
        setTimeout(() => {
          const done = (async () => {
            if (f.target === 'nats' && cluster) {
              Object.assign(stats, await killClusterNode(nc, cluster, tp.name, f));
              return;
            }
            if (f.target === 'nats') {
              await server!.restart({ signal: f.signal, downMs: f.downMs });
              return;
            }
            const p = procs.get(f.target === 'tp' ? tp.name : f.target)!;
            // A WDB is killed in a given state (mid write-down, mid end of day), seen on disk.
            if (f.when) await waitWdbIn(join(dir, 'wdb'), f.when);
            stats[`${f.target}.kills`] = (stats[`${f.target}.kills`] ?? 0) + 1;
            p.child.kill(f.signal);
            await p.exited;
            await new Promise((r) => setTimeout(r, f.downMs));
            start(p.proctype, p.name);
          })();
          faultsDone.push(done.catch((e: Error) => void violations.push(`fault ${f.target} at ${f.atMs} ms failed: ${e.message}`)));
        }, f.atMs),
      );
    }
    const periodMs = 1000 / sc.feed.updatesPerSec;
    let k = 0;
    while (Date.now() - t0 < sc.feed.durationMs) {
      const table = sc.feed.tables[k % sc.feed.tables.length]!;
      const n = sc.feed.rowsPerUpdate;
      const fids = new BigInt64Array(n);
      const codes = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        fids[i] = fid++;
        codes[i] = (k + i) % symNames.length;
      }
      const sym = { dict: symNames, codes };
      const cols = table === 'trade' ? { sym, price: new Float64Array(n).fill(100), size: new BigInt64Array(n).fill(1n), fid: fids } : { sym, bid: new Float64Array(n).fill(99), ask: new Float64Array(n).fill(101), fid: fids };
      stats.published! += n;
      const sentAt = Date.now();
      inflight.push(
        pub.publish(table, { cols }).then(
          () => {
            acked.get(table)!.push(...fids);
            stats.acked! += n;
            if (tp.bufferEvent) updates.push({ table, fids, sentAt, ackedAt: Date.now() });
          },
          () => {
            stats.failed! += n;
          },
        ),
      );
      k++;
      const next = t0 + k * periodMs;
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    // The buffer event's end may come after the feed: its timers stay.
    for (const t of timers) if (!tp.bufferEvent) clearTimeout(t);
    await Promise.all(inflight);
    pub.close();
    await Promise.all(faultsDone);

    // With demo days the tickerplant keeps rolling (empty) days: stop it first when the check
    // compares days, so the log's last day is the RDBs' current day.
    if (sc.invariants.includes(Invariants.hdbAndRdbEqualLog) || sc.invariants.includes(Invariants.wdbHdbEqualLog)) await stopProc(procs.get(tp.name)!);
    // Settle: every RDB has applied the log's last message.
    const log0 = await readLog(nc, tp.name);
    // An RDB's lastSeq is its last batch or end of day applied: marks after them (a buffer event's) are not its.
    const rdbTarget = sc.topology.tp.bufferEvent ? (log0.order.at(-1)?.seq ?? 0) : log0.lastSeq;
    for (const r of sc.topology.rdbs) {
      const t1 = Date.now();
      const bound = sc.catchUpMs ?? 15_000;
      await until(async () => ((await rdbStatus(nc, r))?.lastSeq ?? -1) >= rdbTarget, bound, 100).then(
        () => (stats[`${r}.catchUpMs`] = Date.now() - t1),
        async () => violations.push(`${r} did not catch up to seq ${rdbTarget} within ${bound} ms of the feed's end (at ${(await rdbStatus(nc, r).catch(() => undefined))?.lastSeq})`),
      );
    }
    if (probe) {
      // The final count first (stop() closes the probe's client), then the stats of the whole run.
      const logRows = (await readLog(nc, tp.name)).batches.reduce((a, b) => a + b.n, 0);
      const final = await probe.countNow().catch((e: Error) => e.message);
      const g = await probe.stop();
      Object.assign(stats, { gatewayAnswers: g.answers, gatewayFailures: g.failures, gatewayMaxGapMs: g.maxGapMs, gatewayMaxRows: g.maxRows });
      if (sc.invariants.includes(Invariants.gatewayAnswers)) {
        if (final !== logRows) violations.push(`the gateway counts ${final} rows at the end, the log holds ${logRows}`);
        if (g.maxRows > logRows) violations.push(`the gateway once counted ${g.maxRows} rows, more than the log's ${logRows} (replicas counted twice?)`);
        if (g.maxGapMs > gw!.gapMaxMs) violations.push(`the gateway did not answer for ${g.maxGapMs} ms (bound ${gw!.gapMaxMs} ms); errors: ${g.errors.join(' | ')}`);
      }
    }
    // Late joiners read up to the log's end, then stop.
    for (const j of joiners) {
      await until(() => (j.sub?.lastSeq ?? 0) >= log0.lastSeq, 20_000).catch(() => violations.push(`late joiner ${j.name} did not reach seq ${log0.lastSeq}`));
      await j.sub?.close();
    }
    const log = await readLog(nc, tp.name);
    stats.logRows = log.batches.reduce((a, b) => a + b.n, 0);
    stats.logMessages = log.batches.length;
    const inv = new Set(sc.invariants);
    const allLog = new Map(sc.feed.tables.map((t) => [t, tableFids(log.batches, t)]));
    if (inv.has(Invariants.logHasNoDuplicates) || inv.has(Invariants.ackedRowsInLogOnce)) {
      for (const [t, fids] of allLog) {
        const counts = new Map<bigint, number>();
        for (const f of fids) counts.set(f, (counts.get(f) ?? 0) + 1);
        const dup = [...counts].filter(([, c]) => c > 1);
        if (dup.length) violations.push(`${t}: ${dup.length} fids in the log more than once (e.g. ${dup[0]![0]})`);
        if (inv.has(Invariants.ackedRowsInLogOnce)) {
          const missing = acked.get(t)!.filter((f) => !counts.has(f));
          if (missing.length) violations.push(`${t}: ${missing.length} acked fids missing from the log (e.g. ${missing[0]})`);
        }
      }
    }
    if (inv.has(Invariants.countsMatchLog)) violations.push(...countViolations(log.order));
    if (inv.has(Invariants.bufferRowsOnce)) violations.push(...(await bufferViolations(nc, tp.name, tp.bufferEvent!, updates, bufferWindow, stats)));
    stats.eods = log.eods.length;
    if (inv.has(Invariants.periodCountsMatchLog) || inv.has(Invariants.periodsElapsedAcrossDst) || sc.minEops !== undefined) {
      const eops = await readEops(nc, tp.name);
      stats.eops = eops.length;
      if (inv.has(Invariants.periodCountsMatchLog)) violations.push(...periodViolations(log, eops, 1)); // a scenario's stream starts at 1
      if (inv.has(Invariants.periodsElapsedAcrossDst)) violations.push(...dstPeriodViolations(eops, tp.intradayFreqMs ?? 0, '00:00', tp.eodZone ?? 'UTC'));
      if (sc.minEops !== undefined && eops.length < sc.minEops) violations.push(`the log holds ${eops.length} end-of-period markers, expected at least ${sc.minEops}`);
    }
    if (sc.minEods !== undefined && log.eods.length < sc.minEods) violations.push(`the log holds ${log.eods.length} end-of-day markers, expected at least ${sc.minEods}`);
    if (inv.has(Invariants.rdbsEqualLog)) {
      for (const r of sc.topology.rdbs) {
        for (const t of sc.feed.tables) {
          const res = decode<{ cols?: { fid: BigInt64Array }; message?: string }>(await requestWhole(nc, subjects.query('rdb', r), { type: 'tickbus.v1.query', table: t, columns: ['fid'] }));
          if (!res.cols) {
            violations.push(`${r}: query failed: ${res.message}`);
            continue;
          }
          const diff = sameSequence(Array.from(res.cols.fid), allLog.get(t)!);
          if (diff) violations.push(`${r}.${t} differs from the log: ${diff}`);
        }
      }
    }
    // The WDB's merge first (it waits for the last ended day's merge); then the HDB/RDB check reads the same partitions.
    if (inv.has(Invariants.wdbHdbEqualLog)) violations.push(...(await wdbHdbViolations(log, sc.feed.tables, join(dir, 'hdb'), join(dir, 'wdb'), stats)));
    if (chained && inv.has(Invariants.chainedEqualLog)) violations.push(...(await chainedViolations(nc, sc, log, chained, stats, countViolations)));
    else await chained?.sub.close();
    if (inv.has(Invariants.hdbAndRdbEqualLog)) violations.push(...(await hdbAndRdbViolations(nc, sc, log, join(dir, 'hdb'), stats)));
    if (inv.has(Invariants.stalledJoinersCut)) {
      const stalled = (sc.topology.lateJoiners ?? []).filter((j) => j.stall);
      stats.consumerCuts = alerts.filter((a) => a.kind === 'consumer-disconnected').length;
      for (const j of stalled) {
        if (!alerts.some((a) => a.kind === 'consumer-disconnected' && a.subject.startsWith(`joiner_${j.name}_`))) violations.push(`stalled joiner ${j.name} was never cut off (no consumer-disconnected alert naming joiner_${j.name}_…)`);
      }
    }
    alertSub.unsubscribe();
    if (inv.has(Invariants.lateJoinersEqualLog)) {
      await Promise.all(joiners.map((j) => j.done));
      for (const j of joiners) {
        for (const t of j.tables ?? sc.feed.tables) {
          const want = tableFids(log.batches, t, j.syms ? new Set(j.syms) : undefined);
          const diff = sameSequence(j.fids.get(t) ?? [], want);
          if (diff) violations.push(`late joiner ${j.name}.${t} differs from the log: ${diff}`);
        }
      }
    }
    if (violations.length) {
      for (const p of procs.values()) violations.push(`-- ${p.name} output:\n${p.output.join('').slice(-3000)}`);
    }
  } finally {
    for (const p of [...procs.values()].reverse()) await stopProc(p);
    await probe?.stop().catch(() => undefined);
    await nc.close().catch(() => {});
    await server?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { violations, stats };
}
