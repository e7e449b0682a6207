// `actors eop --tp tp1 [--reason text] [--by name]`: ends the tickerplant's current intraday period
// now (ctl.<tp>.eop). The marker goes into the log after the period's last batch, with the caller
// and the reason on it; the schedule then resumes. Prints the period ended and its counts.
import { userInfo } from 'node:os';
import { connect } from '@nats-io/transport-node';
import { securityOptions } from '../../bus/connection.ts';
import { ErrorCode, TickbusError, isErrorEnvelope } from '../../bus/errors.ts';
import { assertName, subjects } from '../../bus/subjects.ts';
import { EOP_REQUEST_TYPE } from '../../actors/tickerplant/effects.ts';
import { natsServers, usageError, type Command } from './args.ts';

export const eopCommand: Command = {
  usage: `  actors eop --tp <tp> [--reason <text>] [--by <name>] [--timeout 30000]
      end the tickerplant's current intraday period now (ctl.<tp>.eop; needs intradayFreqMs > 0);
      the caller (--by, default the OS user) and the reason ride on the marker
`,
  flags: ['tp', 'reason', 'by', 'timeout'],
  run: async (a) => {
    const tp = a.flags.get('tp');
    if (!tp) throw usageError('actors eop needs --tp <tickerplant>', { flag: 'tp' });
    assertName('tickerplant', tp);
    const timeoutMs = Number(a.flags.get('timeout') ?? 30_000);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw usageError(`--timeout ${a.flags.get('timeout')} is not an integer in [100, 600000] ms`);
    const by = a.flags.get('by') ?? safeUser();
    const reason = a.flags.get('reason');
    const nc = await connect({ servers: natsServers(), name: 'actors-eop', ...securityOptions(), timeout: 2_000 });
    try {
      let m;
      try {
        m = await nc.request(subjects.ctl(tp, 'eop'), JSON.stringify({ type: EOP_REQUEST_TYPE, by, ...(reason !== undefined ? { reason } : {}) }), { timeout: timeoutMs });
      } catch (e) {
        throw new TickbusError(ErrorCode.NO_RESPONDERS, `tickerplant ${tp} did not answer ctl.${tp}.eop within ${timeoutMs} ms: ${(e as Error).message}`, { tp, timeoutMs });
      }
      const r = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
      if (isErrorEnvelope(r)) throw TickbusError.fromEnvelope(r);
      process.stdout.write(`${tp}: ended period ${r.period} (next ${r.nextPeriod}); counts ${JSON.stringify(r.counts)}\n`);
      return 0;
    } finally {
      await nc.close();
    }
  },
};

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
