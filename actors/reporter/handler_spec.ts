// The resulthandler column: a handler name, optionally followed by its parameters as one JSON
// object (`writecsv{"dir":"reports"}`, `emailalert{"to":["ops@example.com"],"throttleMs":600000}`).
// Parsed and checked when the report file is loaded, so a typo stops the reporter at start, not
// at 3 a.m. on the first run. Pure: no I/O.

export const HandlerKinds = ['writecsv', 'writejson', 'writetxt', 'writeparquet', 'publish', 'emailalert', 'emailreport'] as const;
export type HandlerKind = (typeof HandlerKinds)[number];

export const FileFormats = ['csv', 'json', 'txt'] as const;
export type FileFormat = (typeof FileFormats)[number];

export interface FileParams {
  /** Directory; relative = inside the data directory; default the reporter's outputDir. */
  dir?: string;
  /** File name prefix; default the report's name. */
  file?: string;
}

export type HandlerSpec =
  | { kind: 'writecsv' | 'writejson' | 'writetxt' | 'writeparquet'; params: FileParams }
  | { kind: 'publish'; params: { subject?: string } }
  | { kind: 'emailalert'; params: { to: string[]; throttleMs?: number; subject?: string } }
  | { kind: 'emailreport'; params: { to: string[]; format: FileFormat; file?: string; subject?: string } };

/** A file-name prefix: no path separators, no leading dot. */
const FILE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;
/** A publish subject: dotted tokens, no wildcards. */
const SUBJECT_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}$/;
/** Deliberately loose: something@something.tld, no spaces or commas. */
const ADDRESS_RE = /^[^\s@,<>]+@[^\s@,<>]+\.[^\s@,<>]+$/;
/** Recipients one mail may have. */
export const RECIPIENTS_MAX = 100;

/** A problem with the column, as the rule that was broken. */
export class HandlerSpecError extends Error {}

function allowOnly(kind: string, params: Record<string, unknown>, keys: string[]): void {
  for (const k of Object.keys(params)) {
    if (!keys.includes(k)) throw new HandlerSpecError(`${kind}: unknown parameter ${JSON.stringify(k)} (known: ${keys.join(', ') || 'none'})`);
  }
}

function optString(kind: string, params: Record<string, unknown>, key: string, re?: RegExp): string | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '' || (re && !re.test(v))) {
    throw new HandlerSpecError(`${kind}: ${key} must be a non-empty string${re ? ` matching ${re.source}` : ''}`);
  }
  return v;
}

function recipients(kind: string, v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.length > RECIPIENTS_MAX) {
    throw new HandlerSpecError(`${kind}: to must be an address or a list of 1..${RECIPIENTS_MAX} addresses`);
  }
  for (const a of list) {
    if (typeof a !== 'string' || !ADDRESS_RE.test(a)) throw new HandlerSpecError(`${kind}: ${JSON.stringify(a)} is not an e-mail address`);
  }
  return list as string[];
}

/** Parses the column; empty = no handler (the run is logged only). Throws HandlerSpecError naming the rule. */
export function parseHandlerSpec(text: string): HandlerSpec | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const m = /^([a-z]+)\s*(\{.*\})?$/s.exec(t);
  if (!m) throw new HandlerSpecError(`expected <handler> or <handler>{json params}, one of ${HandlerKinds.join(', ')}`);
  const kind = m[1]!;
  if (!(HandlerKinds as readonly string[]).includes(kind)) throw new HandlerSpecError(`unknown handler ${JSON.stringify(kind)} (known: ${HandlerKinds.join(', ')})`);
  let params: Record<string, unknown> = {};
  if (m[2] !== undefined) {
    try {
      params = JSON.parse(m[2]) as Record<string, unknown>;
    } catch (e) {
      throw new HandlerSpecError(`${kind}: parameters are not JSON: ${(e as Error).message}`);
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new HandlerSpecError(`${kind}: parameters must be a JSON object`);
  }
  switch (kind as HandlerKind) {
    case 'writecsv':
    case 'writejson':
    case 'writetxt':
    case 'writeparquet':
      allowOnly(kind, params, ['dir', 'file']);
      return { kind: kind as 'writecsv', params: { dir: optString(kind, params, 'dir'), file: optString(kind, params, 'file', FILE_RE) } };
    case 'publish':
      allowOnly(kind, params, ['subject']);
      return { kind: 'publish', params: { subject: optString(kind, params, 'subject', SUBJECT_RE) } };
    case 'emailalert': {
      allowOnly(kind, params, ['to', 'throttleMs', 'subject']);
      const throttleMs = params.throttleMs;
      if (throttleMs !== undefined && (typeof throttleMs !== 'number' || !Number.isInteger(throttleMs) || throttleMs < 0 || throttleMs > 7 * 86_400_000)) {
        throw new HandlerSpecError(`${kind}: throttleMs must be an integer in 0..${7 * 86_400_000}`);
      }
      return { kind: 'emailalert', params: { to: recipients(kind, params.to), throttleMs: throttleMs as number | undefined, subject: optString(kind, params, 'subject') } };
    }
    case 'emailreport': {
      allowOnly(kind, params, ['to', 'format', 'file', 'subject']);
      const format = params.format ?? 'csv';
      if (!(FileFormats as readonly unknown[]).includes(format)) throw new HandlerSpecError(`${kind}: format must be one of ${FileFormats.join(', ')}`);
      return {
        kind: 'emailreport',
        params: { to: recipients(kind, params.to), format: format as FileFormat, file: optString(kind, params, 'file', FILE_RE), subject: optString(kind, params, 'subject') },
      };
    }
  }
}
