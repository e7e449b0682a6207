// Stream definitions (Kemux's Input and Outputs): an input (a subject of the manager's stream, or
// a tickerplant table), a schema, an `ingest` transform; outputs, each a subject, a schema, a
// `filter` and a `transform`. Schemas are any Standard Schema validator (zod 4, valibot, arktype
// all implement `~standard`); the types of `ingest`, `filter` and `transform` are inferred from
// them. This module also checks a definition's shape at run time (a file in streamsDir is
// untrusted) and validates messages against schemas.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

// ---------------------------------------------------------------------------------------------
// Standard Schema v1 (https://standardschema.dev), the interface only: no library is required.

export interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}
export type StandardResult<O> = { readonly value: O; readonly issues?: undefined } | { readonly issues: ReadonlyArray<StandardIssue> };
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}
export type InferInput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['input'];
export type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];

// ---------------------------------------------------------------------------------------------
// Definitions

interface InputCommon<S extends StandardSchemaV1, M> {
  schema: S;
  /** Kemux's Input.Processor.ingest: runs on every valid input message before routing. */
  ingest?: (message: InferOutput<S>) => M;
}
/** Input from a subject of the manager's stream: `st.<manager>.<subject>`. */
export interface SubjectInput<S extends StandardSchemaV1, M> extends InputCommon<S, M> {
  subject: string;
  table?: undefined;
}
/** Input from a tickerplant table: each row of each batch is one message (`{time, sym, ...}`). */
export interface TableInput<S extends StandardSchemaV1, M> extends InputCommon<S, M> {
  table: string;
  /** The tickerplant; default the manager's `tp` setting. */
  tp?: string;
  /** Where a stream with no recorded position starts: 'today' (default) or 'live'. */
  from?: 'today' | 'live';
  subject?: undefined;
}
export type StreamInput<S extends StandardSchemaV1 = StandardSchemaV1, M = any> = SubjectInput<S, M> | TableInput<S, M>;

export interface StreamOutput<M = any, O extends StandardSchemaV1 = StandardSchemaV1> {
  /** Published on `st.<manager>.<subject>`. */
  subject: string;
  schema: O;
  /** Kemux's Output.Processor.filter; absent = every message. */
  filter?: (message: M) => boolean;
  /** Kemux's Output.Schema.transform; absent = the message as is. */
  transform?: (message: M) => InferInput<O>;
}
export type StreamOutputs<M = any> = Record<string, StreamOutput<M, any>>;

/** What a stream file exports (`input` and `outputs`), or what `addStream` takes. */
export interface StreamDefinition {
  input: StreamInput<StandardSchemaV1<any, any>, any>;
  outputs: StreamOutputs;
}

/** Types an input: `ingest`'s argument is the schema's output type. */
export function defineInput<S extends StandardSchemaV1, M = InferOutput<S>>(input: StreamInput<S, M>): StreamInput<S, M> {
  return input;
}

/** Types outputs from their input: `filter`'s and `transform`'s argument is what `ingest` returns. */
export function defineOutputs<M, O extends Record<string, StandardSchemaV1>>(
  _input: StreamInput<any, M>,
  outputs: { [K in keyof O]: StreamOutput<M, O[K]> },
): StreamOutputs<M> {
  return outputs;
}

// ---------------------------------------------------------------------------------------------
// Checks

/** Subject tokens a stream may use: one subject token, and never the dead-letter token. */
const TOKEN_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const DEAD_TOKEN = 'dead';
/** Outputs one stream may have. */
export const OUTPUTS_MAX = 64;

function bad(stream: string, what: string, detail: Record<string, unknown> = {}): TickbusError {
  return new TickbusError(ErrorCode.BAD_CONFIG, `stream ${stream}: ${what}`, { stream, ...detail });
}

function isSchema(v: unknown): v is StandardSchemaV1 {
  const std = (v as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  return typeof std === 'object' && std !== null && typeof std.validate === 'function';
}

function checkToken(stream: string, field: string, v: unknown): string {
  if (typeof v !== 'string' || !TOKEN_RE.test(v) || v === DEAD_TOKEN) {
    throw bad(stream, `${field} must be a subject token (${TOKEN_RE.source}, not "${DEAD_TOKEN}"), got ${JSON.stringify(v)}`, { field, value: v });
  }
  return v;
}

function checkFn(stream: string, field: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function') throw bad(stream, `${field} must be a function`, { field });
}

/** Checks a definition's shape (it may come from an untrusted file); throws BAD_CONFIG naming the field. */
export function checkDefinition(stream: string, def: unknown): StreamDefinition {
  checkToken(stream, 'name', stream);
  const d = def as { input?: Record<string, unknown>; outputs?: Record<string, Record<string, unknown>> } | null;
  const input = d?.input;
  if (typeof input !== 'object' || input === null) throw bad(stream, 'no input exported', { field: 'input' });
  if (!isSchema(input.schema)) throw bad(stream, 'input.schema is not a Standard Schema validator (no ~standard.validate)', { field: 'input.schema' });
  if ((input.subject === undefined) === (input.table === undefined)) throw bad(stream, 'input needs exactly one of subject or table', { field: 'input' });
  if (input.subject !== undefined) checkToken(stream, 'input.subject', input.subject);
  else {
    checkToken(stream, 'input.table', input.table);
    if (input.tp !== undefined) checkToken(stream, 'input.tp', input.tp);
    if (input.from !== undefined && input.from !== 'today' && input.from !== 'live') throw bad(stream, 'input.from must be today or live', { field: 'input.from' });
  }
  checkFn(stream, 'input.ingest', input.ingest);
  const outputs = d?.outputs;
  if (typeof outputs !== 'object' || outputs === null || Object.keys(outputs).length === 0) throw bad(stream, 'no outputs exported', { field: 'outputs' });
  if (Object.keys(outputs).length > OUTPUTS_MAX) throw bad(stream, `more than ${OUTPUTS_MAX} outputs`, { field: 'outputs' });
  const seen = new Map<string, string>();
  for (const [name, o] of Object.entries(outputs)) {
    checkToken(stream, `output name`, name);
    if (name.startsWith(`${DEAD_TOKEN}-`)) throw bad(stream, `output name ${name} starts with "${DEAD_TOKEN}-" (dead-letter ids use it)`, { field: `outputs.${name}` });
    if (typeof o !== 'object' || o === null) throw bad(stream, `output ${name} is not an object`, { field: `outputs.${name}` });
    const subject = checkToken(stream, `outputs.${name}.subject`, o.subject);
    // Kemux keys outputs by topic, so two outputs on one topic silently collide; here it is refused.
    if (seen.has(subject)) throw bad(stream, `outputs ${seen.get(subject)} and ${name} share subject ${subject}`, { field: `outputs.${name}.subject` });
    seen.set(subject, name);
    if (input.subject === subject) throw bad(stream, `output ${name} publishes on its own input subject ${subject}`, { field: `outputs.${name}.subject` });
    if (!isSchema(o.schema)) throw bad(stream, `outputs.${name}.schema is not a Standard Schema validator`, { field: `outputs.${name}.schema` });
    checkFn(stream, `outputs.${name}.filter`, o.filter);
    checkFn(stream, `outputs.${name}.transform`, o.transform);
  }
  return def as StreamDefinition;
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Characters of a reason kept (it travels in a header). */
export const REASON_CHARS_MAX = 500;

export type Checked = { ok: true; value: unknown } | { ok: false; reason: string };

function pathText(p: StandardIssue['path']): string {
  if (!p || p.length === 0) return '';
  return `${p.map((k) => String(typeof k === 'object' && k !== null ? (k as { key: PropertyKey }).key : k)).join('.')}: `;
}

/** Validates a value; a validator that throws is a failed validation, never a crash. */
export async function validate(schema: StandardSchemaV1, value: unknown): Promise<Checked> {
  try {
    const r = await schema['~standard'].validate(value);
    if (r.issues) return { ok: false, reason: clip(r.issues.map((i) => `${pathText(i.path)}${i.message}`).join('; ')) };
    return { ok: true, value: r.value };
  } catch (e) {
    return { ok: false, reason: clip(`validator threw: ${(e as Error)?.message ?? String(e)}`) };
  }
}

export function clip(s: string): string {
  // Headers are one line: no CR/LF.
  const one = s.replace(/[\r\n]+/g, ' ');
  return one.length > REASON_CHARS_MAX ? `${one.slice(0, REASON_CHARS_MAX - 1)}…` : one;
}
