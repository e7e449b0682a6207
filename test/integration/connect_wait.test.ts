// A process started while nats-server is down (restarting after a crash, or started by a
// supervisor first) waits for the server, bounded by firstConnectWaitMs, instead of exiting at
// once: the tickerplant is started before any server listens, and goes live when one does.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectBus } from '../../bus/connection.ts';
import { freePort, NatsServer } from '../../bus/nats_server.ts';
import { connectTo, silentLogger, testTables } from '../support/bus.ts';
import { spawnProc, status, stopProc, waitUp, type Proc } from '../support/procs.ts';

const dir = mkdtempSync(join(tmpdir(), 'tickbus-wait-'));
let server: NatsServer | undefined;
let proc: Proc | undefined;

afterAll(async () => {
  if (proc) await stopProc(proc);
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('first connect', () => {
  it('connect: a process started before nats-server waits for it and goes live', async () => {
    const port = await freePort();
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ tables: testTables }));
    proc = spawnProc('tickerplant', 'tpwait', cfg, `nats://127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(proc.child.exitCode).toBeNull(); // still waiting, not failed
    server = await NatsServer.start({ port });
    const nc = await connectTo(server);
    await waitUp(nc, 'tpwait', 30_000);
    expect(await status<{ state: string }>(nc, 'tpwait')).toMatchObject({ state: 'live' });
    await nc.close();
  }, 60_000);

  it('connect: the wait is bounded and ends in a typed error naming the server', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = await connectBus({ servers: `nats://127.0.0.1:${port}`, name: 'nobody', logger: silentLogger, firstConnectWaitMs: 800 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_READY', detail: { waitMs: 800 } });
    expect(String((err as Error).message)).toContain(`127.0.0.1:${port}`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
  });
});
