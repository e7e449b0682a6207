// Polling the watched directories. Polling rather than fs.watch: fs.watch misses or merges events
// on network and container filesystems (NFS, SMB, bind mounts), needs a watch per directory
// (inotify limits), and reports events, not states; a poll sees the directory as it is, and the
// "unchanged over one poll" rule (a file still being written is not taken) needs the poll anyway.
// Cost: up to one pollMs of latency, and one readdir + lstat per file per poll.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { matchesGlob } from '../common/glob.ts';
import type { FileRule } from './rules.ts';

export interface FoundFile {
  path: string;
  dir: string;
  name: string;
  size: number;
  mtimeMs: number;
  /** The rules matching the file, in table order. */
  rules: FileRule[];
}

/** md5s kept for unchanged files (path, size, mtime, inode), so a file is hashed once. */
const HASH_CACHE_MAX = 10_000;

export class Scanner {
  /** What each file looked like at the previous poll: a file is taken once it is unchanged. */
  private lastSeen = new Map<string, string>();
  /** Files present at start, per newonly rule line: left alone while they stay. */
  private preexisting = new Map<number, Set<string>>();
  private hashes = new Map<string, string>();
  truncated = 0;

  constructor(
    private readonly rules: readonly FileRule[],
    private readonly scanEntriesMax: number,
  ) {}

  private async list(dir: string): Promise<Array<{ name: string; size: number; mtimeMs: number; ino: number }>> {
    const out: Array<{ name: string; size: number; mtimeMs: number; ino: number }> = [];
    let d;
    try {
      d = await opendir(dir);
    } catch {
      return out; // not there yet: nothing to do
    }
    let n = 0;
    for await (const e of d) {
      if (++n > this.scanEntriesMax) {
        this.truncated++;
        break;
      }
      if (!e.isFile()) continue; // symlinks, directories (the error and done dirs) are never taken
      const st = await lstat(join(dir, e.name)).catch(() => undefined);
      if (st?.isFile()) out.push({ name: e.name, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }
    return out;
  }

  /** Records the files present now for the newonly rules (call once at start). */
  async snapshot(): Promise<void> {
    for (const r of this.rules) {
      if (!r.newonly) continue;
      const names = new Set((await this.list(r.path)).filter((f) => matchesGlob(f.name, r.match)).map((f) => f.name));
      this.preexisting.set(r.line, names);
    }
  }

  /** Files ready now: matching a rule, not pre-existing for a newonly rule, unchanged since the last poll. */
  async poll(): Promise<FoundFile[]> {
    const dirs = [...new Set(this.rules.map((r) => r.path))];
    const seenNow = new Map<string, string>();
    const ready: FoundFile[] = [];
    for (const dir of dirs) {
      const files = await this.list(dir);
      const names = new Set(files.map((f) => f.name));
      for (const r of this.rules) {
        const pre = this.preexisting.get(r.line);
        if (pre && r.path === dir) for (const n of pre) if (!names.has(n)) pre.delete(n);
      }
      for (const f of files) {
        const rules = this.rules.filter((r) => r.path === dir && matchesGlob(f.name, r.match) && !this.preexisting.get(r.line)?.has(f.name));
        if (rules.length === 0) continue;
        const path = join(dir, f.name);
        const sig = `${f.size}:${f.mtimeMs}:${f.ino}`;
        seenNow.set(path, sig);
        if (this.lastSeen.get(path) === sig) ready.push({ path, dir, name: f.name, size: f.size, mtimeMs: f.mtimeMs, rules });
      }
    }
    this.lastSeen = seenNow;
    return ready;
  }

  /** md5 of a file, cached by path, size, mtime and inode. */
  async md5(f: FoundFile): Promise<string> {
    const key = `${f.path}:${f.size}:${f.mtimeMs}`;
    const hit = this.hashes.get(key);
    if (hit) return hit;
    const h = createHash('md5');
    await pipeline(createReadStream(f.path), h);
    const md5 = h.digest('hex');
    if (this.hashes.size >= HASH_CACHE_MAX) this.hashes.clear();
    this.hashes.set(key, md5);
    return md5;
  }
}
