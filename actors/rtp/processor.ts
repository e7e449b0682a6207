// The real-time processor's user code: the `RtpProcessor` interface a module exports, and its
// loader. A processor is named in config as a file path (relative to the checkout), `file#export`,
// or a package export `pkg#name`; the process runs under tsx, so a TypeScript file imports as is.
// A module that cannot be imported, or whose export is not a processor, is a BAD_CONFIG naming it.
import { pathToFileURL } from 'node:url';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { Logger } from '../../bus/log.ts';
import type { Batch } from '../../storage/batch.ts';
import type { QueryResult } from '../../storage/query/result.ts';
import type { MemTable } from '../../storage/table.ts';
import { configFilePath } from '../common/hooks.ts';

/** Columns of a derived update, as the tickerplant takes them (`cols`; `time` optional: stamped when absent). */
export type DerivedCols = Record<string, unknown>;

/** What a processor has at hand at start. */
export interface RtpContext {
  /** The process's name. */
  readonly name: string;
  /** `processorConfig` from the settings. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Today's tables held by the process (columnar, after the pre-processor). */
  tables(): ReadonlyMap<string, MemTable>;
  /** A query on today's tables: tickbus.v1.getdata, tickbus.v1.asof or tickbus.v1.query (storage/query). */
  query(request: Record<string, unknown>): QueryResult;
  readonly logger: Logger;
}

/** What a processor has at hand for one batch of the log. */
export interface RtpBatchContext extends RtpContext {
  /** The batch's log sequence (on the followed tickerplant's stream). */
  readonly seq: number;
  /** The batch's day. */
  readonly day: string;
  /**
   * True while today's log is replayed (a start or a restart): derived updates already in the
   * log are not published again (see docs/rtp.md, "Replay").
   */
  readonly replaying: boolean;
  /**
   * Publishes a derived update to the tickerplant (`publishTp`), in a group with the updates of
   * the next input batches (id `rtp.<name>.<firstSeq>-<lastSeq>`, groups.ts): never appended
   * twice. Returns at once; the RTP bounds the groups in flight.
   */
  publish(table: string, cols: DerivedCols): void;
}

/**
 * A real-time processor (PyKX's RTP pre/post-processors). `S` is the processor's own state:
 * `init` makes it at start, on a replay from the day's start and at each new day.
 */
export interface RtpProcessor<S = unknown> {
  /** The state for a (re)started day; default undefined. */
  init?(ctx: RtpContext): S;
  /** Before the batch is kept: the batch to keep (filtered, reshaped), or null to drop it. Default: keep. */
  pre?(table: string, batch: Batch, ctx: RtpBatchContext): Batch | null | undefined;
  /** After: the ORIGINAL batch (as PyKX), the state; publish derived rows from here. */
  post?(table: string, batch: Batch, state: S, ctx: RtpBatchContext): void;
  /** At an end-of-day marker, before the state is made again for the next day. */
  endOfDay?(day: string, state: S, ctx: RtpContext): void;
}

/** Declares a processor with its state type inferred (identity at run time). */
export function defineProcessor<S>(p: RtpProcessor<S>): RtpProcessor<S> {
  return p;
}

const HOOKS = ['init', 'pre', 'post', 'endOfDay'] as const;

/** `file.ts`, `file.ts#name`, `pkg#name`: what to import and which export (default: `default`, else `processor`). */
export function parseProcessorSpec(spec: string): { module: string; exportName?: string; isFile: boolean } {
  const hash = spec.lastIndexOf('#');
  const module = hash >= 0 ? spec.slice(0, hash) : spec;
  const exportName = hash >= 0 ? spec.slice(hash + 1) : undefined;
  if (!module || exportName === '') throw new TickbusError(ErrorCode.BAD_CONFIG, `processor ${JSON.stringify(spec)} must be a file path, file#export or pkg#name`, { setting: 'processor', value: spec });
  // A file: a path (has a slash, starts with a dot) or a script extension; anything else is a package.
  const isFile = module.startsWith('.') || module.startsWith('/') || /\.(ts|mts|js|mjs)$/.test(module);
  return { module, exportName, isFile };
}

/** Imports and checks the processor `spec`: BAD_CONFIG naming the file (or package) when broken. */
export async function loadProcessor(spec: string): Promise<{ processor: RtpProcessor; source: string }> {
  const { module, exportName, isFile } = parseProcessorSpec(spec);
  const source = isFile ? configFilePath(module) : module;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(isFile ? pathToFileURL(source).href : source)) as Record<string, unknown>;
  } catch (e) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `processor module ${source} cannot be loaded: ${(e as Error).message}`, { setting: 'processor', module: source }, { cause: e });
  }
  const name = exportName ?? ('default' in mod ? 'default' : 'processor');
  const p = mod[name] as Record<string, unknown> | undefined;
  const where = `processor module ${source}${exportName ? `#${exportName}` : ''}`;
  if (typeof p !== 'object' || p === null) {
    throw new TickbusError(ErrorCode.BAD_CONFIG, `${where}: export ${name} is not a processor object (exports: ${Object.keys(mod).join(', ') || 'none'})`, { setting: 'processor', module: source, export: name });
  }
  for (const h of HOOKS) {
    if (p[h] !== undefined && typeof p[h] !== 'function') throw new TickbusError(ErrorCode.BAD_CONFIG, `${where}: ${h} must be a function`, { setting: 'processor', module: source, hook: h });
  }
  if (p.pre === undefined && p.post === undefined) throw new TickbusError(ErrorCode.BAD_CONFIG, `${where}: a processor needs pre or post (or both)`, { setting: 'processor', module: source });
  return { processor: p as RtpProcessor, source };
}
