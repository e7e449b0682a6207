// Reads a Server-Sent Events stream with Node's fetch: yields each event's name and data. The
// caller breaks out of the loop (or aborts) to close the connection.
export interface SseEvent {
  event: string;
  data: string;
}

export async function* sseEvents(url: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const res = await fetch(url, { signal, headers: { Accept: 'text/event-stream' } });
  if (res.status !== 200 || !res.body) throw new Error(`GET ${url}: ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length) yield { event, data: data.join('\n') };
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** Reads snapshots from the stream until `pred` holds for one (bounded by timeoutMs); returns it. */
export async function untilSnapshot<T>(url: string, pred: (s: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), timeoutMs);
  let last: T | undefined;
  try {
    for await (const e of sseEvents(url, ac.signal)) {
      if (e.event !== 'snapshot') continue;
      last = JSON.parse(e.data) as T;
      if (pred(last)) return last;
    }
    throw new Error('event stream ended');
  } catch (e) {
    if (ac.signal.aborted) throw new Error(`no snapshot matched within ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 2_000)}`);
    throw e;
  } finally {
    clearTimeout(t);
    ac.abort();
  }
}
