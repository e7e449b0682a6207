// The file alerter process (TorQ's filealerter): polls the directories of its rule table, runs
// each matching rule's function on a file once it is stable (loadcsv, or a user hook), records
// it in the persisted processed-files table, and moves it to the rule's movetodirectory on
// success or to the error directory on failure. Named APIs: `processed` (the table), `poll` (a
// poll now), `rules`. One poll at a time; polls follow each other with pollMs between them.
// No control flow beyond the poll loop, so no machine (like the monitor).
import { copyFile, lstat, mkdir, rename, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import { Publisher } from '../../bus/publisher.ts';
import { defineSchema } from '../../storage/schema.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { loadHooks, type HookTable } from '../common/hooks.ts';
import type { ApiTable } from '../common/runtime.ts';
import { loadCsv, type LoadOptions } from './loadcsv.ts';
import { ProcessedTable, type DoneEntry } from './processed.ts';
import { LOADCSV, parseFileAlerterCsv, type FileRule } from './rules.ts';
import { Scanner, type FoundFile } from './scan.ts';
import { fileAlerterSettings, type FileAlerterSettings } from './settings.ts';

/** Codes that mean "not now" (the tickerplant is away, the file changed): the file stays and is tried at the next poll. */
const TRY_AGAIN = new Set<string>([ErrorCode.TIMEOUT, ErrorCode.NO_RESPONDERS, ErrorCode.NOT_READY, ErrorCode.OVERLOADED, ErrorCode.LOG_APPEND_FAILED]);
/** Names tried in a target directory before a move gives up (`a.csv`, `a.csv.1`, ...). */
const MOVE_NAMES_MAX = 1_000;

export interface FileAlerter {
  settings: FileAlerterSettings;
  rules: FileRule[];
  poll(): Promise<DoneEntry[]>;
  processed(limit?: number): DoneEntry[];
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

export function ruleKey(r: FileRule): string {
  return `${r.path}|${r.match}|${r.function}${r.table ? `:${r.table}` : ''}`;
}

/** Moves a file into `dir` by rename (copy + rename when across filesystems), never over another file. */
export async function moveInto(path: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = basename(path);
  for (let i = 0; i < MOVE_NAMES_MAX; i++) {
    const dest = join(dir, i === 0 ? name : `${name}.${i}`);
    if (await lstat(dest).then(() => true, () => false)) continue;
    try {
      await rename(path, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      const tmp = `${dest}.tmp-${process.pid}`;
      await copyFile(path, tmp);
      await rename(tmp, dest);
      await unlink(path);
    }
    return dest;
  }
  throw new TickbusError(ErrorCode.INTERNAL, `cannot move ${path} into ${dir}: ${MOVE_NAMES_MAX} names taken`, { path, dir });
}

export async function startFileAlerter(nc: NatsConnection, raw: Record<string, unknown> & { name: string }, logger: Logger, apis?: ApiTable, clock: Clock = systemClock): Promise<FileAlerter> {
  const s = fileAlerterSettings(raw);
  const schema = defineSchema(s.tables);
  const hooks: HookTable = await loadHooks(s.hooksModule, [LOADCSV]);
  let text: string;
  try {
    text = readFileSync(s.csv, 'utf8');
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `cannot read the file alerter table ${s.csv}: ${(e as Error).message}`, { file: s.csv });
  }
  const rules = parseFileAlerterCsv(text, s.csv, [...schema.keys()], Object.keys(hooks));
  // The watched directories are made when missing, so the drop location exists from the start.
  for (const dir of new Set(rules.map((r) => r.path))) {
    await mkdir(dir, { recursive: true }).catch((e: Error) => logger.warn({ dir, err: e.message }, 'cannot create a watched directory'));
  }
  const processed = new ProcessedTable(s.processedFile, s.processedMax);
  const scanner = new Scanner(rules, s.scanEntriesMax);
  await scanner.snapshot();
  const publisher = new Publisher(nc, { tp: s.tp, ackTimeoutMs: s.ackTimeoutMs });
  const counts = { files: 0, rows: 0, errors: 0, duplicates: 0, retries: 0 };
  let loading: { file: string; rows: number; total: number } | undefined;
  let stopping = false;
  const loadOptions: LoadOptions = { ...s, schema, publisher, processed, clock, onProgress: (p) => (loading = p), stopping: () => stopping };
  const at = () => new Date(clock.now()).toISOString();

  const runRule = async (f: FoundFile, r: FileRule, md5: string): Promise<{ rows: number; resumedAt: number; duplicateRows: number } | undefined> => {
    if (r.function === LOADCSV) {
      const res = await loadCsv(f.path, f.name, r.table, { md5, size: f.size }, loadOptions);
      counts.rows += res.rows - res.resumedAt - res.duplicateRows;
      logger.info({ file: f.name, table: res.table, rows: res.rows, chunks: res.chunks, resumedAt: res.resumedAt, duplicateRows: res.duplicateRows }, 'loadcsv done');
      return { rows: res.rows, resumedAt: res.resumedAt, duplicateRows: res.duplicateRows };
    }
    try {
      await hooks[r.function]!({ path: f.path, dir: f.dir, name: f.name, size: f.size, md5 });
    } catch (e) {
      if (e instanceof TickbusError) throw e;
      throw new TickbusError(ErrorCode.API_FAILED, `hook ${r.function} failed on ${f.name}: ${(e as Error)?.message ?? String(e)}`, { hook: r.function, file: f.name }, { cause: e });
    }
    return undefined;
  };

  /** Handles one ready file: every matching rule not yet done for it, then one move. */
  const handle = async (f: FoundFile): Promise<DoneEntry[]> => {
    const md5 = await scanner.md5(f);
    const pending = f.rules.filter((r) => !processed.seen(ruleKey(r), f.name, md5, f.size, r.newonly));
    const moveTo = f.rules.find((r) => r.moveTo)?.moveTo;
    if (pending.length === 0) {
      // Already processed (the same content again, under this name or another): no function runs.
      if (!moveTo) return [];
      const movedTo = await moveInto(f.path, moveTo);
      counts.duplicates++;
      logger.info({ file: f.name, md5, movedTo }, 'file already processed; moved without running its functions');
      return [processed.record({ rule: ruleKey(f.rules[0]!), name: f.name, size: f.size, md5, result: 'duplicate', movedTo, at: at() })];
    }
    const ok: Array<{ r: FileRule; load?: { rows: number; resumedAt: number; duplicateRows: number } }> = [];
    for (const r of pending) {
      try {
        ok.push({ r, load: await runRule(f, r, md5) });
      } catch (e) {
        const err = toTickbusError(e);
        if (TRY_AGAIN.has(err.code)) {
          counts.retries++;
          logger.warn({ file: f.name, code: err.code, err: err.message }, 'file not processed now; tried again at the next poll');
          return [];
        }
        const errorDir = s.errorDir || join(f.dir, 'error');
        const movedTo = await moveInto(f.path, errorDir).catch((me: Error) => {
          logger.error({ file: f.name, err: me.message }, 'cannot move the file to the error directory');
          return undefined;
        });
        counts.errors++;
        logger.error({ file: f.name, rule: r.line, code: err.code, err: err.message, movedTo }, `file alerter ${r.function} failed`);
        const entry = processed.record({ rule: ruleKey(r), name: f.name, size: f.size, md5, result: 'error', error: { code: err.code, message: err.message, detail: err.detail }, at: at(), ...(movedTo ? { movedTo } : {}) });
        return [...ok.map((o) => processed.record({ rule: ruleKey(o.r), name: f.name, size: f.size, md5, result: 'ok', at: at(), ...(o.load ?? {}) })), entry];
      }
    }
    // Recorded before the move: a crash in between finds the file done and only moves it.
    const entries = ok.map((o) => processed.record({ rule: ruleKey(o.r), name: f.name, size: f.size, md5, result: 'ok', at: at(), ...(o.load ?? {}) }));
    counts.files++;
    if (moveTo) {
      const movedTo = await moveInto(f.path, moveTo);
      for (const e of entries) e.movedTo = movedTo;
    }
    return entries;
  };

  const poll = async (): Promise<DoneEntry[]> => {
    const out: DoneEntry[] = [];
    const ready = (await scanner.poll()).slice(0, s.filesPerPollMax);
    for (const f of ready) {
      if (stopping) break;
      try {
        out.push(...(await handle(f)));
      } catch (e) {
        logger.error({ file: f.name, err: (e as Error).message }, 'file alerter could not handle a file');
      } finally {
        loading = undefined;
      }
    }
    return out;
  };

  // One poll at a time, and at most one waiting behind it: the API's poll waits for the loop's and
  // the other way round; callers arriving while one waits share its result.
  let current: Promise<DoneEntry[]> = Promise.resolve([]);
  let waiting: Promise<DoneEntry[]> | undefined;
  const pollOnce = (): Promise<DoneEntry[]> => {
    if (waiting) return waiting;
    const p = current.catch(() => []).then(() => {
      waiting = undefined;
      return poll();
    });
    waiting = current = p;
    return p;
  };
  let timer: unknown;
  const loop = () => {
    if (stopping) return;
    void pollOnce().finally(() => {
      if (!stopping) timer = clock.setTimeout(loop, s.pollMs);
    });
  };
  loop();

  apis?.register('processed', (limit?: number) => processed.list(typeof limit === 'number' ? limit : undefined), 'the processed-files table, oldest first (optional: the last N)');
  apis?.register('poll', () => pollOnce(), 'poll now: the entries recorded by this poll');
  apis?.register('rules', () => rules, 'the file alerter rule table as loaded');
  return {
    settings: s,
    rules,
    poll: pollOnce,
    processed: (limit) => processed.list(limit),
    ready: async () => {},
    stop: async () => {
      stopping = true;
      clock.clearTimeout(timer);
      await current.catch(() => {});
      publisher.close();
    },
    status: () => ({ rules: rules.length, processed: processed.size, ...counts, truncatedScans: scanner.truncated, ...(loading ? { loading } : {}) }),
  };
}
