// The processed-files table (TorQ's alreadyprocessed), persisted as JSON lines in the data dir:
// one line per event, appended (a SIGKILL loses at most the line being written; a torn last line
// is skipped on load). Two kinds:
//   {"t":"done", rule, name, size, md5, at, result: "ok"|"error"|"duplicate", rows?, resumedAt?, error?, movedTo?}
//   {"t":"progress", md5, size, table, rows}   loadcsv: rows of that content acknowledged so far
// It is compacted (rewritten to a temporary file, then renamed over) at open and whenever the
// file holds more than twice the live entries: the newest `processedMax` done entries are kept,
// and the progress of contents not yet done. A JSON file rather than a KV bucket: it lives with
// the files it describes, survives a NATS store reset, and is readable with `jq`.
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface DoneEntry {
  t: 'done';
  /** The rule's identity: `<path>|<match>|<function>[:table]`. */
  rule: string;
  name: string;
  size: number;
  md5: string;
  at: string;
  result: 'ok' | 'error' | 'duplicate';
  rows?: number;
  /** loadcsv: the row the load started at (> 0 when it resumed after a crash). */
  resumedAt?: number;
  /** loadcsv: rows the tickerplant answered as already in the log (a chunk re-sent with its id). */
  duplicateRows?: number;
  error?: { code: string; message: string; detail?: Record<string, unknown> };
  movedTo?: string;
}

export interface ProgressEntry {
  t: 'progress';
  md5: string;
  size: number;
  table: string;
  rows: number;
}

export class ProcessedTable {
  private done: DoneEntry[] = [];
  private byContent = new Map<string, DoneEntry>();
  private byName = new Map<string, DoneEntry>();
  private progress = new Map<string, ProgressEntry>();
  private lines = 0;

  constructor(
    readonly file: string,
    private readonly max: number,
  ) {
    mkdirSync(dirname(file), { recursive: true });
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // first start: no table yet
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let e: DoneEntry | ProgressEntry;
      try {
        e = JSON.parse(line) as DoneEntry | ProgressEntry;
      } catch {
        continue; // a line torn by a kill mid-write
      }
      this.apply(e);
    }
    this.compact();
  }

  private static contentKey(rule: string, md5: string, size: number): string {
    return `${rule}\u0000${md5}\u0000${size}`;
  }

  private apply(e: DoneEntry | ProgressEntry): void {
    if (e.t === 'progress') {
      this.progress.set(`${e.table}\u0000${e.md5}\u0000${e.size}`, e);
      return;
    }
    if (e.t !== 'done') return;
    this.done.push(e);
    if (e.result !== 'duplicate') {
      this.byContent.set(ProcessedTable.contentKey(e.rule, e.md5, e.size), e);
      this.byName.set(`${e.rule}\u0000${e.name}`, e);
    }
  }

  private append(e: DoneEntry | ProgressEntry): void {
    appendFileSync(this.file, JSON.stringify(e) + '\n');
    this.lines++;
    this.apply(e);
    if (this.lines > 2 * (this.done.length + this.progress.size) + 1_000 || this.done.length > this.max * 1.1) this.compact();
  }

  /** Rewrites the file with the live entries only (temp + rename: a crash leaves the old or the new). */
  compact(): void {
    if (this.done.length > this.max) {
      this.done = this.done.slice(-this.max);
      this.byContent.clear();
      this.byName.clear();
      for (const e of this.done) {
        if (e.result === 'duplicate') continue;
        this.byContent.set(ProcessedTable.contentKey(e.rule, e.md5, e.size), e);
        this.byName.set(`${e.rule}\u0000${e.name}`, e);
      }
    }
    // Progress of a content that is done (by any rule) is no longer needed.
    const doneContent = new Set(this.done.filter((e) => e.result === 'ok').map((e) => `${e.md5}\u0000${e.size}`));
    for (const [k, p] of this.progress) if (doneContent.has(`${p.md5}\u0000${p.size}`)) this.progress.delete(k);
    const body = [...this.done, ...this.progress.values()].map((e) => JSON.stringify(e) + '\n').join('');
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, body);
    renameSync(tmp, this.file);
    this.lines = this.done.length + this.progress.size;
  }

  /** The entry that makes a file already processed by a rule: by name (newonly) or by content (md5 and size). */
  seen(rule: string, name: string, md5: string, size: number, newonly: boolean): DoneEntry | undefined {
    return (newonly ? this.byName.get(`${rule}\u0000${name}`) : undefined) ?? this.byContent.get(ProcessedTable.contentKey(rule, md5, size));
  }

  record(e: Omit<DoneEntry, 't' | 'at'> & { at?: string }): DoneEntry {
    const entry: DoneEntry = { t: 'done', at: new Date().toISOString(), ...e };
    this.append(entry);
    return entry;
  }

  rowsDone(table: string, md5: string, size: number): number {
    return this.progress.get(`${table}\u0000${md5}\u0000${size}`)?.rows ?? 0;
  }

  recordProgress(table: string, md5: string, size: number, rows: number): void {
    this.append({ t: 'progress', md5, size, table, rows });
  }

  /** The done entries, oldest first (the last `limit`). */
  list(limit = this.max): DoneEntry[] {
    return this.done.slice(-Math.max(0, limit));
  }

  get size(): number {
    return this.done.length;
  }
}
