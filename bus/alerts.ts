// Alerts (`tickbus.v1.alert` on `alert.<proctype>.<name>`): what every process that raises one
// publishes (the supervisor's crash loops, the check monitor, the tickerplant's slow consumers);
// the monitor shows them (bus/SUBJECTS.md, "Alerts").
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from './log.ts';
import { subjects } from './subjects.ts';

export const ALERT_TYPE = 'tickbus.v1.alert' as const;

export interface Alert<K extends string = string> {
  type: typeof ALERT_TYPE;
  at: string;
  level: 'warning' | 'error';
  source: { proctype: string; name: string };
  kind: K;
  /** What the alert is about (a process, a check, a consumer). */
  subject: string;
  message: string;
  details: Record<string, unknown>;
}

/** Publishes an alert (fire and forget: a disconnected client logs it and goes on). */
export function publishAlert(nc: NatsConnection, a: Alert, logger?: Logger): boolean {
  try {
    nc.publish(subjects.alert(a.source.proctype, a.source.name), JSON.stringify(a));
    return true;
  } catch (e) {
    logger?.warn({ err: (e as Error).message, kind: a.kind, subject: a.subject }, 'cannot publish alert');
    return false;
  }
}
