// Result handlers (TorQ's writetofiletype, emailalert, emailreport, publishresult): what a report
// does with its result. Files appear atomically (written to a temporary name in the same directory,
// then renamed), named <file>_<YYYY_MM_DD_HH_MM_SS_mmm>_<queryid>.<ext> in the reporter's zone.
// Each handler returns a sentence for the query log; a failure is a typed error (stage E).
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { encode } from '../../bus/codec.ts';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { subjects } from '../../bus/subjects.ts';
import type { Mailer } from './email.ts';
import { isAlerting, render, tabulate, toTxt, type Tabular } from './format.ts';
import type { FileFormat, HandlerSpec } from './handler_spec.ts';
import { writeParquet } from './parquet.ts';
import type { ReportDef } from './report_csv.ts';

export const REPORT_TYPE = 'tickbus.v1.report' as const;

/** What a published result looks like (TorQ's publishresult dictionary). */
export interface PublishedReport {
  type: typeof REPORT_TYPE;
  reporter: string;
  queryid: number;
  /** ISO time the result arrived. */
  time: string;
  name: string;
  proctype: string[];
  procname: string | null;
  result: unknown;
}

export interface HandlerContext {
  reporter: string;
  nc: NatsConnection;
  zone: string;
  now: () => number;
  /** Resolves a handler's dir (relative = inside the data directory); default the outputDir. */
  dirFor: (dir: string | undefined) => string;
  resultRowsMax: number;
  alertThrottleMs: number;
  /** Absent when no smtp is configured. */
  mailer: Mailer | undefined;
  /** Last alert sent per report (epoch ms): the throttle. */
  lastAlertMs: Map<string, number>;
}

const MIME: Record<FileFormat, string> = { csv: 'text/csv', json: 'application/json', txt: 'text/plain' };

/** The wall time of `ms` in `zone` as YYYY_MM_DD_HH_MM_SS_mmm (TorQ's file suffix, plus ms). */
export function fileStamp(ms: number, zone: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  return `${get('year')}_${get('month')}_${get('day')}_${get('hour')}_${get('minute')}_${get('second')}_${String(ms % 1000).padStart(3, '0')}`;
}

export function reportSubject(reporter: string, name: string): string {
  return subjects.report(reporter, name);
}

/** Writes bytes (or lets `write` write a file) under a temporary name, then renames it into place. */
async function atomicWrite(dir: string, file: string, write: (tmp: string) => Promise<void>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const final = join(dir, file);
  const tmp = join(dir, `.${file}.tmp-${process.pid}`);
  try {
    await write(tmp);
    await rename(tmp, final);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new TickbusError(ErrorCode.API_FAILED, `cannot write ${final}: ${(e as Error).message}`, { file: final }, { cause: e });
  }
  return final;
}

function needMailer(ctx: HandlerContext, kind: string): Mailer {
  if (!ctx.mailer) throw new TickbusError(ErrorCode.BAD_CONFIG, `${kind}: no smtp settings on reporter ${ctx.reporter}`, { setting: 'smtp' });
  return ctx.mailer;
}

function alertText(t: Tabular): string {
  // TorQ's emailalert takes a table with a `messages` column: one line each.
  const m = t.columns.indexOf('messages');
  return m >= 0 ? t.rows.map((r) => String(r[m] ?? '')).join('\n') + '\n' : toTxt(t);
}

/** Runs the report's handler on a result; returns what it did, for the query log. */
export async function runHandler(def: ReportDef, spec: HandlerSpec, result: unknown, queryid: number, ctx: HandlerContext): Promise<string> {
  const now = ctx.now();
  const stamp = `${fileStamp(now, ctx.zone)}_${queryid}`;
  switch (spec.kind) {
    case 'writecsv':
    case 'writejson':
    case 'writetxt': {
      const format = spec.kind.slice(5) as FileFormat;
      const body = render(tabulate(result, ctx.resultRowsMax), format);
      const path = await atomicWrite(ctx.dirFor(spec.params.dir), `${spec.params.file ?? def.name}_${stamp}.${format}`, (tmp) => writeFile(tmp, body));
      return `wrote ${path}`;
    }
    case 'writeparquet': {
      const table = tabulate(result, ctx.resultRowsMax);
      const path = await atomicWrite(ctx.dirFor(spec.params.dir), `${spec.params.file ?? def.name}_${stamp}.parquet`, (tmp) => writeParquet(tmp, result, table));
      return `wrote ${path}`;
    }
    case 'publish': {
      const subject = spec.params.subject ?? reportSubject(ctx.reporter, def.name);
      const body: PublishedReport = { type: REPORT_TYPE, reporter: ctx.reporter, queryid, time: new Date(now).toISOString(), name: def.name, proctype: def.proctypes, procname: def.procname ?? null, result };
      try {
        ctx.nc.publish(subject, encode(body));
      } catch (e) {
        throw new TickbusError(ErrorCode.API_FAILED, `cannot publish to ${subject}: ${(e as Error).message}`, { subject }, { cause: e });
      }
      return `published on ${subject}`;
    }
    case 'emailalert': {
      if (!isAlerting(result)) return 'no alert: the result is empty';
      const mailer = needMailer(ctx, spec.kind);
      const throttleMs = spec.params.throttleMs ?? ctx.alertThrottleMs;
      const last = ctx.lastAlertMs.get(def.name);
      if (last !== undefined && now - last < throttleMs) return `alert throttled: the last one went ${now - last} ms ago (throttle ${throttleMs} ms)`;
      const text = alertText(tabulate(result, ctx.resultRowsMax));
      const sent = await mailer.send({ to: spec.params.to, subject: spec.params.subject ?? `tickbus alert: ${def.name} (${ctx.reporter})`, text });
      ctx.lastAlertMs.set(def.name, now);
      return `alert mailed to ${sent.accepted.join(', ')}`;
    }
    case 'emailreport': {
      const mailer = needMailer(ctx, spec.kind);
      const table = tabulate(result, ctx.resultRowsMax);
      const filename = `${spec.params.file ?? def.name}_${stamp}.${spec.params.format}`;
      const sent = await mailer.send({
        to: spec.params.to,
        subject: spec.params.subject ?? `tickbus report: ${def.name} (${ctx.reporter})`,
        text: `Report ${def.name}, run ${queryid} on ${ctx.reporter}: ${table.rows.length} rows, attached as ${filename}.\n`,
        attachments: [{ filename, content: render(table, spec.params.format), contentType: MIME[spec.params.format] }],
      });
      return `report mailed to ${sent.accepted.join(', ')} with ${filename}`;
    }
  }
}

/** A handler dir: absolute as given, else inside the data directory (`dataPath`). */
export function dirResolver(outputDir: string, dataPath: (p: string) => string): (dir: string | undefined) => string {
  return (dir) => {
    const d = dir ?? outputDir;
    return isAbsolute(d) ? d : resolve(dataPath(d));
  };
}

