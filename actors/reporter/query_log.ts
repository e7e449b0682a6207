// The reporter's query log (TorQ's querylog): one row per stage of each run, in memory, bounded
// (the oldest rows go first), each also logged. Stages: R running (sent, result received, handler
// running), E error, C complete, T timed out, S a system message (start, load, a skipped run) with
// run id 0, as in TorQ.
import type { Logger } from '../../bus/log.ts';

export const Stage = { running: 'R', error: 'E', complete: 'C', timeout: 'T', system: 'S' } as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

export interface QueryLogRow {
  /** ISO time of the row. */
  time: string;
  /** The run's id (1, 2, ...; 0 = a system message). */
  queryid: number;
  /** The report's name ('' for system messages). */
  name: string;
  stage: Stage;
  message: string;
  /** Milliseconds since the run started (0 for its first row and for system messages). */
  ms: number;
}

export class QueryLog {
  private readonly rows: QueryLogRow[] = [];
  private head = 0;
  /** Rows dropped to keep the bound. */
  dropped = 0;

  constructor(
    private readonly rowsMax: number,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  add(queryid: number, name: string, stage: Stage, message: string, ms = 0, extra: Record<string, unknown> = {}): QueryLogRow {
    const row: QueryLogRow = { time: new Date(this.now()).toISOString(), queryid, name, stage, message, ms };
    if (this.rows.length < this.rowsMax) this.rows.push(row);
    else {
      this.rows[this.head] = row;
      this.head = (this.head + 1) % this.rowsMax;
      this.dropped++;
    }
    const bind = { queryid, report: name, stage, ms, ...extra };
    if (stage === Stage.error || stage === Stage.timeout) this.logger.warn(bind, message);
    else this.logger.info(bind, message);
    return row;
  }

  /** Rows oldest first; filtered by report name and limited to the last `last` rows when given. */
  list(name?: string, last?: number | null): QueryLogRow[] {
    const all = [...this.rows.slice(this.head), ...this.rows.slice(0, this.head)];
    const rows = name ? all.filter((r) => r.name === name) : all;
    return typeof last === 'number' && Number.isInteger(last) && last >= 0 ? rows.slice(Math.max(0, rows.length - last)) : rows;
  }

  /** The rows of one run. */
  run(queryid: number): QueryLogRow[] {
    return this.list().filter((r) => r.queryid === queryid);
  }

  get size(): number {
    return this.rows.length;
  }
}
