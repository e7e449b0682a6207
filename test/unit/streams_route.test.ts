// Proves the pure parts of the stream processors: the start order is topological (a chain of
// three named against the alphabet, which Kemux's one-pass swap gets wrong; a diamond; a cycle
// is a BAD_CONFIG naming only the streams on it) and routing one message fans out to every
// matching output, and turns an invalid input, an invalid output, a throwing ingest, filter,
// transform or validator into a dead letter with its stage and reason (the other outputs still
// get theirs). Definitions from files are checked (shape, names, shared subjects).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import { checkDefinition, type StandardSchemaV1, type StreamDefinition } from '../../actors/streams/define.ts';
import { route } from '../../actors/streams/route.ts';
import { startOrder } from '../../actors/streams/topo.ts';

const s = z.object({ v: z.number() });
const chain = (input: string, output: string): StreamDefinition => ({ input: { subject: input, schema: s }, outputs: { o: { subject: output, schema: s } } });

function thrown(f: () => unknown): TickbusError {
  try {
    f();
  } catch (e) {
    return e as TickbusError;
  }
  throw new Error('did not throw');
}

describe('streams start order', () => {
  it('streams: a chain of three starts producer first, whatever the names', () => {
    const defs = new Map([
      ['alpha', chain('c2', 'c3')],
      ['beta', chain('c1', 'c2')],
      ['gamma', chain('c0', 'c1')],
    ]);
    expect(startOrder(defs)).toEqual(['gamma', 'beta', 'alpha']);
  });

  it('streams: a diamond starts its source first and its sink last', () => {
    const defs = new Map<string, StreamDefinition>([
      ['sink', chain('b', 'out')],
      ['left', chain('a', 'b')],
      ['right', { input: { subject: 'a', schema: s }, outputs: { o: { subject: 'b2', schema: s } } }],
      ['src', { input: { subject: 'in', schema: s }, outputs: { x: { subject: 'a', schema: s } } }],
    ]);
    const order = startOrder(defs);
    expect(order[0]).toBe('src');
    expect(order.indexOf('left')).toBeLessThan(order.indexOf('sink'));
  });

  it('streams: a cycle is BAD_CONFIG naming the streams on it, not those outside', () => {
    const defs = new Map([
      ['a', chain('x', 'y')],
      ['b', chain('y', 'x')],
      ['free', chain('in', 'out')],
    ]);
    const e = thrown(() => startOrder(defs));
    expect(e.code).toBe(ErrorCode.BAD_CONFIG);
    expect(e.detail.streams).toEqual(['a', 'b']);
  });
});

describe('streams routing', () => {
  const Out = z.object({ name: z.string(), value: z.number().nonnegative() });
  const def: StreamDefinition = {
    input: { subject: 'animals', schema: z.object({ name: z.string().regex(/^[a-z]+$/), value: z.number() }), ingest: (m: { name: string; value: number }) => { if (m.name === 'boom') throw new Error('ingest exploded'); return m; } },
    outputs: {
      spooky: { subject: 'spooky', schema: Out, filter: (m: { name: string }) => ['bat', 'spider'].includes(m.name) },
      flying: { subject: 'flying', schema: Out, filter: (m: { name: string }) => ['bat', 'bird'].includes(m.name), transform: (m: { name: string; value: number }) => { if (m.value === 13) throw new Error('unlucky'); return m; } },
    },
  };

  it('streams: fan-out to every matching output', async () => {
    const r = await route(def, { name: 'bat', value: 1 });
    expect(r.out.map((o) => o.output)).toEqual(['spooky', 'flying']);
    expect(r.dead).toEqual([]);
    expect((await route(def, { name: 'cat', value: 1 })).out).toEqual([]);
  });

  it('streams: invalid input, throwing ingest, throwing transform and invalid output are dead letters with stage and reason', async () => {
    const bad = await route(def, { name: 'Bat', value: 1 });
    expect(bad.dead.map((d) => [d.stage, d.reason.startsWith('input schema: name:')])).toEqual([['input', true]]);
    expect((await route(def, { name: 'boom', value: 1 })).dead[0]).toMatchObject({ stage: 'input', reason: 'ingest threw: ingest exploded' });
    const unlucky = await route(def, { name: 'bat', value: 13 });
    expect(unlucky.out.map((o) => o.output)).toEqual(['spooky']); // the other output still gets it
    expect(unlucky.dead[0]).toMatchObject({ stage: 'flying', reason: 'output flying filter or transform threw: unlucky' });
    const negative = await route(def, { name: 'bat', value: -1 });
    expect(negative.out).toEqual([]);
    expect(negative.dead.map((d) => d.stage)).toEqual(['spooky', 'flying']);
  });

  it('streams: a validator that throws drops the message, never the stream', async () => {
    const throwing: StandardSchemaV1 = { '~standard': { version: 1, vendor: 'test', validate: () => { throw new Error('validator bug'); } } };
    const r = await route({ input: { subject: 'i', schema: throwing }, outputs: { o: { subject: 'o', schema: s } } }, { v: 1 });
    expect(r.dead[0]).toMatchObject({ stage: 'input', reason: 'input schema: validator threw: validator bug' });
  });
});

describe('streams definitions', () => {
  it('streams: a definition is checked: schema, one input kind, names, shared output subjects', () => {
    const field = (def: unknown) => thrown(() => checkDefinition('x', def)).detail.field;
    expect(field({ input: { subject: 'a', schema: {} }, outputs: { o: { subject: 'b', schema: s } } })).toBe('input.schema');
    expect(field({ input: { subject: 'a', table: 't', schema: s }, outputs: { o: { subject: 'b', schema: s } } })).toBe('input');
    expect(field({ input: { subject: 'a', schema: s }, outputs: {} })).toBe('outputs');
    expect(field({ input: { subject: 'a', schema: s }, outputs: { o: { subject: 'dead', schema: s } } })).toBe('outputs.o.subject');
    expect(field({ input: { subject: 'a', schema: s }, outputs: { o: { subject: 'b', schema: s }, p: { subject: 'b', schema: s } } })).toBe('outputs.p.subject');
    expect(field({ input: { subject: 'a', schema: s }, outputs: { o: { subject: 'a', schema: s } } })).toBe('outputs.o.subject');
    expect(field({ input: { subject: 'a', schema: s }, outputs: { o: { subject: 'b', schema: s, filter: 1 } } })).toBe('outputs.o.filter');
    expect(checkDefinition('ok', { input: { table: 'trade', schema: s }, outputs: { o: { subject: 'b', schema: s } } }).input.table).toBe('trade');
  });
});
