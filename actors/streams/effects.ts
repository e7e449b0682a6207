// The `streams` process: a StreamManager on the process runtime's connection, its streams from
// `streamsDir`, status and registry attributes with per-stream counts (`actors ps`).
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../bus/log.ts';
import type { RunningProcess } from '../common/runtime.ts';
import { configFilePath } from '../common/hooks.ts';
import { StreamManager } from './manager.ts';
import type { StreamsSettings } from './settings.ts';

/** One compact line per stream: `in=5 aquatic=2 spooky=2 dropped=1`. */
function countsLine(s: ReturnType<StreamManager['status']>['streams'][number]): string {
  const outs = Object.entries(s.out).map(([o, n]) => `${o}=${n}`);
  return [`in=${s.in}`, ...outs, `dropped=${s.dropped}`].join(' ');
}

export async function startStreams(
  nc: NatsConnection,
  raw: Record<string, unknown> & { name: string; dataDir: string },
  logger: Logger,
): Promise<RunningProcess> {
  const streamsDir = typeof raw.streamsDir === 'string' && raw.streamsDir ? configFilePath(raw.streamsDir) : undefined;
  const m = StreamManager.init({ ...(raw as Partial<StreamsSettings>), name: raw.name, dataDir: raw.dataDir, streamsDir, nc, logger });
  await m.start();
  return {
    ready: async () => {},
    stop: () => m.stop(),
    status: () => ({ ...m.status() }),
    attributes: () => {
      const st = m.status();
      return {
        order: st.order,
        ...(st.loadErrors.length ? { loadErrors: st.loadErrors.length } : {}),
        ...Object.fromEntries(st.streams.map((s) => [`stream.${s.name}`, countsLine(s)])),
      };
    },
  };
}
