// Routing one input message (Kemux's Stream.process, with a dead-letter path instead of a crash):
// validate against the input schema, ingest, then fan out to every output whose filter matches,
// transform and validate against the output schema. Nothing here does I/O; a user function that
// throws drops the message with its reason, it never stops the stream.
import { clip, validate, type StreamDefinition } from './define.ts';

/** Where a message was dropped: the input (schema, ingest) or an output by name. */
export type Stage = 'input' | string;

export interface Routed {
  /** Messages to publish, per output name (in the definition's order). */
  out: Array<{ output: string; value: unknown }>;
  /** Dropped messages with their reasons. */
  dead: Array<{ stage: Stage; reason: string; value: unknown }>;
}

function thrown(what: string, e: unknown): string {
  return clip(`${what} threw: ${(e as Error)?.message ?? String(e)}`);
}

export async function route(def: StreamDefinition, message: unknown): Promise<Routed> {
  const r: Routed = { out: [], dead: [] };
  const input = await validate(def.input.schema, message);
  if (!input.ok) {
    r.dead.push({ stage: 'input', reason: `input schema: ${input.reason}`, value: message });
    return r;
  }
  let ingested: unknown;
  try {
    ingested = def.input.ingest ? def.input.ingest(input.value) : input.value;
  } catch (e) {
    r.dead.push({ stage: 'input', reason: thrown('ingest', e), value: input.value });
    return r;
  }
  for (const [name, o] of Object.entries(def.outputs)) {
    let value: unknown;
    try {
      if (o.filter && !o.filter(ingested)) continue;
      value = o.transform ? o.transform(ingested) : ingested;
    } catch (e) {
      r.dead.push({ stage: name, reason: thrown(`output ${name} filter or transform`, e), value: ingested });
      continue;
    }
    const checked = await validate(o.schema, value);
    if (checked.ok) r.out.push({ output: name, value: checked.value });
    else r.dead.push({ stage: name, reason: `output ${name} schema: ${checked.reason}`, value });
  }
  return r;
}
