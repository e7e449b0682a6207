// Proves that bus/SUBJECTS.md is enough for a client we did not write: a raw-protocol NATS
// client (test/support/raw_nats.ts, ~100 lines, no nats.js) feeds rows as JSON, gets the
// documented ack and error envelopes, and queries the RDB in JSON, with no CBOR anywhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsServer } from '../../bus/nats_server.ts';
import { startRdb } from '../../actors/rdb/effects.ts';
import { startTickerplant } from '../../actors/tickerplant/effects.ts';
import { zoneDate } from '../../actors/common/clock.ts';
import { clockAt, connectTo, silentLogger, startServer, testTables, until } from '../support/bus.ts';
import { RawNats } from '../support/raw_nats.ts';

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startServer();
  nc = await connectTo(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

describe('foreign client', () => {
  it('wire: a raw JSON client feeds, is deduplicated, gets typed errors and queries the RDB', async () => {
    // The feed supplies times on the tickerplant's day, which comes from the clock injected here.
    const clock = clockAt(Date.parse('2026-11-22T10:00:05Z'));
    const day = zoneDate(clock.now(), 'UTC');
    const tp = await startTickerplant(nc, { name: 'tpx', tables: testTables }, silentLogger, clock);
    await tp.ready();
    const rdb = await startRdb(nc, { name: 'rx', tp: 'tpx', tables: testTables }, silentLogger);
    await rdb.ready();
    const raw = await RawNats.connect(server.port);

    const ack = await raw.request('tp.tpx.upd.trade', {
      type: 'tickbus.v1.upd',
      id: 'py-1',
      rows: [
        [`${day}T10:00:00.5Z`, 'AAPL', 189.5, 100, 1],
        [`${day}T10:00:01Z`, 'MSFT', 411.25, '250', 2],
      ],
    });
    expect(ack.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(ack.body)).toMatchObject({ type: 'tickbus.v1.ack', id: 'py-1', rows: 2 });
    const again = JSON.parse((await raw.request('tp.tpx.upd.trade', { type: 'tickbus.v1.upd', id: 'py-1', rows: [['AAPL', 1, 1, 1]] })).body);
    expect(again).toMatchObject({ duplicate: true, seq: JSON.parse(ack.body).seq });
    const cols = JSON.parse((await raw.request('tp.tpx.upd.quote', { type: 'tickbus.v1.upd', cols: { sym: ['AAPL'], bid: [1], ask: [2], fid: [3] } })).body);
    expect(cols).toMatchObject({ type: 'tickbus.v1.ack', rows: 1 });
    const err = JSON.parse((await raw.request('tp.tpx.upd.trade', { type: 'tickbus.v1.upd', rows: [['AAPL', 'high', 1, 1]] })).body);
    expect(err).toMatchObject({ type: 'tickbus.v1.error', code: 'BAD_COLUMN_TYPE', detail: { column: 'price', row: 0 } });

    await until(() => rdb.current().tables.get('trade')!.n === 2);
    expect(rdb.attributes()).toMatchObject({ dates: [day] });
    const res = JSON.parse((await raw.request('q.rdb', { type: 'tickbus.v1.query', table: 'trade', syms: ['MSFT'] })).body);
    expect(res).toEqual({
      type: 'tickbus.v1.result',
      table: 'trade',
      n: 1,
      columns: ['time', 'sym', 'price', 'size', 'fid'],
      types: ['timestamp', 'symbol', 'float', 'long', 'long'],
      cols: { time: [`${day}T10:00:01.000000000Z`], sym: ['MSFT'], price: [411.25], size: [250], fid: [2] },
    });
    raw.close();
    await rdb.stop();
    await tp.stop();
  });
});
