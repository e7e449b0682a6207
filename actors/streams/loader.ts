// Loads stream files from a directory (Kemux's streams_dir): every top-level `*.ts` (also .mts,
// .js, .mjs) that exports `input` and `outputs` is a stream named after its file. The process runs
// under tsx, so a dynamic import() reads TypeScript. A file that throws at import or exports no
// valid definition is reported by name and skipped; the others load.
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, TickbusError, toTickbusError } from '../../bus/errors.ts';
import { checkDefinition, type StreamDefinition } from './define.ts';

export interface LoadError {
  file: string;
  code: string;
  message: string;
}

/** Stream files one directory may hold. */
export const STREAM_FILES_MAX = 256;
const EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

export async function loadStreamsDir(dir: string): Promise<{ streams: Array<{ name: string; def: StreamDefinition; file: string }>; errors: LoadError[] }> {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new TickbusError(ErrorCode.BAD_CONFIG, `streamsDir ${dir} is not a directory`, { setting: 'streamsDir', dir });
  const files = readdirSync(dir)
    .filter((f) => EXTENSIONS.has(extname(f)) && !f.endsWith('.d.ts'))
    .sort();
  if (files.length > STREAM_FILES_MAX) throw new TickbusError(ErrorCode.BAD_CONFIG, `streamsDir ${dir} holds more than ${STREAM_FILES_MAX} stream files`, { dir, files: files.length });
  const streams: Array<{ name: string; def: StreamDefinition; file: string }> = [];
  const errors: LoadError[] = [];
  for (const f of files) {
    const file = join(dir, f);
    try {
      const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      const name = basename(f, extname(f));
      streams.push({ name, def: checkDefinition(name, { input: mod.input, outputs: mod.outputs }), file });
    } catch (e) {
      const err = toTickbusError(e);
      errors.push({ file, code: err.code === ErrorCode.INTERNAL ? ErrorCode.BAD_CONFIG : err.code, message: err.message });
    }
  }
  return { streams, errors };
}
