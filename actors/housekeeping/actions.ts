// The built-in housekeeping functions: rm, zip (gzip one file), tardir (tar+gzip one directory).
// Each new file is written under a temporary name, verified, given the original's mtime and only
// then renamed into place; the original goes only after that. A crash at any point leaves the
// original, or the original and a complete archive, never a half archive under the final name
// (a stray `*.tmp-<pid>` may be left: it matches no `.gz` pattern).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, open, rename, rm, unlink, utimes } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

export type ActionResult = { result: string; bytes?: number };

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

async function fsyncFile(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Hashes what flows through (md5 and byte count). */
function tap(): { t: Transform; digest: () => { md5: string; bytes: number } } {
  const h = createHash('md5');
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { t, digest: () => ({ md5: h.digest('hex'), bytes }) };
}

export async function removeEntry(target: string, directory: boolean): Promise<ActionResult> {
  // fs.rm never follows a symlink: a link inside the tree is removed, not what it points at.
  if (directory) await rm(target, { recursive: true });
  else await unlink(target);
  return { result: 'removed' };
}

export async function gzipFile(target: string): Promise<ActionResult> {
  if (target.endsWith('.gz')) return { result: 'skipped: already gzip' };
  const dest = `${target}.gz`;
  if (await exists(dest)) return { result: `skipped: ${basename(dest)} exists` };
  const before = await lstat(target);
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    const src = tap();
    await pipeline(createReadStream(target), src.t, createGzip(), createWriteStream(tmp, { flags: 'wx' }));
    await fsyncFile(tmp);
    const back = tap();
    await pipeline(createReadStream(tmp), createGunzip(), back.t, new Writable({ write: (_c, _e, cb) => cb() }));
    const a = src.digest();
    const b = back.digest();
    if (a.md5 !== b.md5 || a.bytes !== b.bytes) throw new TickbusError(ErrorCode.INTERNAL, `${tmp} does not decompress to ${target}`, { target });
    const after = await lstat(target);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      throw new TickbusError(ErrorCode.INTERNAL, `${target} changed while it was compressed; left as it is`, { target });
    }
    await utimes(tmp, before.atime, before.mtime);
    await rename(tmp, dest);
    await unlink(target);
    return { result: 'zipped', bytes: (await lstat(dest)).size };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Runs a command (args array, no shell) with a bound; rejects with its stderr on failure. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4_096) stderr += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new TickbusError(ErrorCode.INTERNAL, `${cmd} ${args.join(' ')} failed (${signal ? `killed by ${signal} after ${timeoutMs} ms` : `exit ${code}`}): ${stderr.trim()}`, { cmd, args, code, signal }));
    });
  });
}

/** tar+gzip a directory with the system tar (no shell; tar does not follow symlinks without -h). */
export async function tarDirectory(target: string, timeoutMs: number): Promise<ActionResult> {
  const dest = `${target}.tar.gz`;
  if (await exists(dest)) return { result: `skipped: ${basename(dest)} exists` };
  const before = await lstat(target);
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    await run('tar', ['-czf', tmp, '-C', dirname(target), '--', basename(target)], timeoutMs);
    await fsyncFile(tmp);
    await run('tar', ['-tzf', tmp], timeoutMs);
    await utimes(tmp, before.atime, before.mtime);
    await rename(tmp, dest);
    await rm(target, { recursive: true });
    return { result: 'archived', bytes: (await lstat(dest)).size };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
