// Proves bus/pipeline.ts send(): the reply and the errors reach the callback (reply, no responders,
// deadline, closed), and an error found while sending (over maxInflight, publish throws) is given
// after send returns, so a caller that sends again from its callback cannot recurse. A fake
// connection stands in for NATS: it records publishes and lets the test deliver replies.
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../bus/pipeline.ts';

function fakeNc(o: { throwOnPublish?: boolean } = {}) {
  let deliver: ((m: Msg) => void) | undefined;
  const published: Array<{ subject: string; reply: string }> = [];
  const nc = {
    subscribe: (_s: string, opts: { callback: (e: unknown, m: Msg) => void }) => {
      deliver = (m) => opts.callback(null, m);
      return { unsubscribe() {} };
    },
    publish: (subject: string, _d: Uint8Array, opts: { reply: string }) => {
      if (o.throwOnPublish) throw new Error('connection closed');
      published.push({ subject, reply: opts.reply });
    },
  } as unknown as NatsConnection;
  const reply = (to: string, data: Uint8Array, code?: number) => deliver!({ subject: to, data, headers: code ? { code, get: () => '' } : undefined } as unknown as Msg);
  return { nc, published, reply };
}

describe('pipeline send', () => {
  it('pipeline: a reply reaches the callback; no responders and closing give typed errors', () => {
    const { nc, published, reply } = fakeNc();
    const p = new Pipeline(nc, { timeoutMs: 1_000, maxInflight: 10 });
    const got: string[] = [];
    p.send('a', new Uint8Array(1), 1_000, (e, m) => got.push(e ? (e as unknown as { code: string }).code : `ok:${m!.data.length}`));
    p.send('b', new Uint8Array(1), 1_000, (e) => got.push((e as unknown as { code: string }).code));
    p.send('c', new Uint8Array(1), 1_000, (e) => got.push((e as unknown as { code: string }).code));
    reply(published[0]!.reply, new Uint8Array(3));
    reply(published[1]!.reply, new Uint8Array(0), 503);
    expect(got).toEqual(['ok:3', 'NO_RESPONDERS']);
    expect(p.inflight).toBe(1);
    p.close();
    expect(got).toEqual(['ok:3', 'NO_RESPONDERS', 'NOT_READY']);
  });

  it('pipeline: over maxInflight or when publishing throws the callback runs after send returns', async () => {
    const { nc } = fakeNc();
    const p = new Pipeline(nc, { timeoutMs: 1_000, maxInflight: 1 });
    p.send('a', new Uint8Array(1), 1_000, () => {});
    let depth = 0;
    let maxDepth = 0;
    let calls = 0;
    // Each failure sends again from its callback, 100 times: with a synchronous callback this nests.
    const again = () => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      p.send('b', new Uint8Array(1), 1_000, (e) => {
        expect((e as unknown as { code: string }).code).toBe('OVERLOADED');
        if (++calls < 100) again();
      });
      depth--;
    };
    again();
    expect(calls).toBe(0);
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(100);
    expect(maxDepth).toBe(1);
    p.close();
    const broken = new Pipeline(fakeNc({ throwOnPublish: true }).nc, { timeoutMs: 1_000, maxInflight: 10 });
    let err: unknown;
    broken.send('x', new Uint8Array(1), 1_000, (e) => (err = e));
    expect(err).toBeUndefined();
    await Promise.resolve();
    expect((err as Error).message).toBe('connection closed');
    expect(broken.inflight).toBe(0);
    broken.close();
  });
});
