// The demo stream (`actors start streams --name streams1` beside `npm start`): the demo feed's
// trades in from tp1, split by notional into `st.streams1.big` (>= 100 000) and
// `st.streams1.aapl` (AAPL trades of any size), as {sym, price, size, notional, time}.
import { z } from 'zod';
import { defineInput, defineOutputs } from '../../actors/streams/define.ts';

const Trade = z.object({ time: z.bigint(), sym: z.string(), price: z.number(), size: z.bigint() }).loose();
const Derived = z.object({ time: z.bigint(), sym: z.string(), price: z.number().positive(), size: z.number().int().positive(), notional: z.number() });

export const input = defineInput({
  table: 'trade',
  from: 'live',
  schema: Trade,
  ingest: (t) => ({ time: t.time, sym: t.sym, price: t.price, size: Number(t.size), notional: t.price * Number(t.size) }),
});

export const outputs = defineOutputs(input, {
  big: { subject: 'big', schema: Derived, filter: (t) => t.notional >= 100_000 },
  aapl: { subject: 'aapl', schema: Derived, filter: (t) => t.sym === 'AAPL' },
});
