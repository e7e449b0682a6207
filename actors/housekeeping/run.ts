// One housekeeping run: each task's directory is searched (its direct entries), matching entries
// older than the task's age are acted on (or, in a dry run, listed), and every action becomes a
// row of the report. Safety rules, checked on every run against real paths:
// - a task's directory is resolved with realpath and must lie inside a root's realpath (a symlink
//   that leads a configured directory out of the roots refuses the task);
// - entries are read with lstat: a symlink is never followed nor acted on (listed as skipped);
// - a root itself is never a target;
// - at most filesPerRunMax actions per run and scanEntriesMax entries read per task; a bound
//   that is hit is reported (`truncated`) and logged.
import { lstat, opendir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../bus/log.ts';
import { matchesGlob } from '../common/glob.ts';
import type { HookTable } from '../common/hooks.ts';
import { gzipFile, removeEntry, tarDirectory, type ActionResult } from './actions.ts';
import { within, type HousekeepingTask } from './tasks.ts';

export interface ReportRow {
  /** The task's line in the CSV. */
  line: number;
  function: string;
  path: string;
  /** Size before the action (a directory: the sum of its files, read up to scanEntriesMax). */
  bytes: number;
  /** What happened: removed, zipped, archived, done (a hook), would <fn> (dry run), skipped: ..., error: ..., refused: ..., missing */
  result: string;
  ageMs?: number;
}

export interface HousekeepingReport {
  type: 'tickbus.v1.housekeeping.report';
  dryRun: boolean;
  startedAt: string;
  ms: number;
  rows: ReportRow[];
  /** Actions taken (or listed) this run, and whether a bound stopped the run. */
  actions: number;
  errors: number;
  truncated: false | { bound: 'filesPerRunMax' | 'scanEntriesMax'; limit: number; line: number };
}

export interface RunOptions {
  dryRun: boolean;
  nowMs: number;
  roots: readonly string[];
  filesPerRunMax: number;
  scanEntriesMax: number;
  commandTimeoutMs: number;
  hooks: HookTable;
  logger: Logger;
}

/** Bytes of a directory tree without following symlinks, reading at most `max` entries. */
async function treeBytes(dir: string, max: { left: number }): Promise<number> {
  let total = 0;
  const d = await opendir(dir);
  for await (const e of d) {
    if (max.left-- <= 0) break;
    const p = join(dir, e.name);
    const st = await lstat(p);
    if (st.isDirectory()) total += await treeBytes(p, max);
    else if (st.isFile()) total += st.size;
  }
  return total;
}

async function realRoots(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of roots) {
    try {
      out.push(await realpath(r));
    } catch {
      // a root that does not exist holds nothing to clean
    }
  }
  return out;
}

interface Candidate {
  path: string;
  bytes: number;
  ageMs: number;
  directory: boolean;
}

async function act(task: HousekeepingTask, c: Candidate, o: RunOptions): Promise<ActionResult> {
  switch (task.function) {
    case 'rm':
      return await removeEntry(c.path, c.directory);
    case 'zip':
      return await gzipFile(c.path);
    case 'tardir':
      return await tarDirectory(c.path, o.commandTimeoutMs);
    default: {
      const r = (await o.hooks[task.function]!({ path: c.path, directory: c.directory, bytes: c.bytes, ageMs: c.ageMs, line: task.line })) as { result?: string } | undefined;
      return { result: typeof r?.result === 'string' ? r.result : 'done' };
    }
  }
}

export async function runHousekeeping(tasks: readonly HousekeepingTask[], o: RunOptions): Promise<HousekeepingReport> {
  const started = Date.now();
  const report: HousekeepingReport = { type: 'tickbus.v1.housekeeping.report', dryRun: o.dryRun, startedAt: new Date(o.nowMs).toISOString(), ms: 0, rows: [], actions: 0, errors: 0, truncated: false };
  const roots = await realRoots(o.roots);
  const row = (task: HousekeepingTask, path: string, bytes: number, result: string, ageMs?: number) => {
    report.rows.push({ line: task.line, function: task.function, path, bytes, result, ...(ageMs === undefined ? {} : { ageMs }) });
    if (result.startsWith('error') || result.startsWith('refused')) report.errors++;
  };
  tasks: for (const task of tasks) {
    let dir: string;
    try {
      dir = await realpath(task.path);
    } catch {
      row(task, task.path, 0, 'missing');
      continue;
    }
    if (!roots.some((r) => within(r, dir))) {
      row(task, task.path, 0, `refused: ${dir} (its real path) is outside the roots`);
      o.logger.error({ line: task.line, path: task.path, real: dir }, 'housekeeping task refused: outside the roots');
      continue;
    }
    const candidates: Candidate[] = [];
    let scanned = 0;
    let d;
    try {
      d = await opendir(dir);
    } catch (e) {
      row(task, task.path, 0, `error: cannot read the directory: ${(e as Error).message}`);
      continue;
    }
    for await (const e of d) {
      if (++scanned > o.scanEntriesMax) {
        report.truncated = { bound: 'scanEntriesMax', limit: o.scanEntriesMax, line: task.line };
        break;
      }
      if (!matchesGlob(e.name, task.match) || (task.exclude && matchesGlob(e.name, task.exclude))) continue;
      const p = join(dir, e.name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue; // gone meanwhile
      if (st.isSymbolicLink()) {
        row(task, p, 0, 'skipped: symlink (never followed)');
        continue;
      }
      if (task.directories ? !st.isDirectory() : !st.isFile()) continue;
      const ageMs = o.nowMs - st.mtimeMs;
      if (ageMs <= task.ageMs) continue;
      if (roots.includes(p)) {
        row(task, p, 0, 'refused: a root is never a target');
        continue;
      }
      candidates.push({ path: p, bytes: st.isDirectory() ? 0 : st.size, ageMs, directory: st.isDirectory() });
    }
    // Oldest first, so a bounded run takes what has waited longest.
    candidates.sort((a, b) => b.ageMs - a.ageMs || (a.path < b.path ? -1 : 1));
    for (const c of candidates) {
      if (report.actions >= o.filesPerRunMax) {
        report.truncated = { bound: 'filesPerRunMax', limit: o.filesPerRunMax, line: task.line };
        break tasks;
      }
      report.actions++;
      if (c.directory) c.bytes = await treeBytes(c.path, { left: o.scanEntriesMax }).catch(() => 0);
      if (o.dryRun) {
        row(task, c.path, c.bytes, `would ${task.function}`, c.ageMs);
        continue;
      }
      try {
        const r = await act(task, c, o);
        row(task, c.path, c.bytes, r.result, c.ageMs);
      } catch (e) {
        row(task, c.path, c.bytes, `error: ${(e as Error).message}`, c.ageMs);
        o.logger.error({ line: task.line, path: c.path, err: (e as Error).message }, `housekeeping ${task.function} failed`);
      }
    }
  }
  if (report.truncated) o.logger.warn({ truncated: report.truncated }, 'housekeeping run stopped at a bound; the rest waits for the next run');
  report.ms = Date.now() - started;
  return report;
}
