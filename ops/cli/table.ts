// Prints rows as an aligned text table. Cells of a state column (`state`, `heartbeat`, `status`)
// are coloured by their first word: ok/up green, warning/starting yellow, error/down red; only
// when writing to a terminal with NO_COLOR unset (picocolors decides), never into pipes or files.
import pc from 'picocolors';

type Paint = (s: string) => string;

const STATE_COLUMNS = new Set(['state', 'heartbeat', 'status']);

const GREEN = new Set(['ok', 'up', 'running', 'live', 'ready']);
const YELLOW = new Set(['warning', 'warn', 'starting', 'silent', 'backoff', 'restarting', 'stopping', 'replaying', '?']);
const RED = new Set(['error', 'down', 'failed', 'crashed', 'exited', 'stopped', 'no', 'dead', 'gone']);

/** The colour of a state cell by its first word (case-insensitive); undefined leaves it plain. */
export function stateColour(text: string, colours: { green: Paint; yellow: Paint; red: Paint } = pc): Paint | undefined {
  const word = text.trim().split(/[\s(:,]/, 1)[0]!.toLowerCase();
  if (GREEN.has(word)) return colours.green;
  if (YELLOW.has(word)) return colours.yellow;
  if (RED.has(word) || /^[A-Z_]+$/.test(text.trim())) return colours.red; // an error code
  return undefined;
}

export function printTable(header: string[], rows: string[][], out: NodeJS.WritableStream = process.stdout): void {
  const colours = pc.createColors(pc.isColorSupported && out === process.stdout && process.stdout.isTTY === true);
  const stateCols = new Set(header.flatMap((h, i) => (STATE_COLUMNS.has(h) ? [i] : [])));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[], paint: boolean) =>
    r
      .map((c, i) => {
        const cell = (c ?? '').padEnd(widths[i]!);
        const p = paint && stateCols.has(i) ? stateColour(c ?? '', colours) : undefined;
        return p ? p(cell) : cell;
      })
      .join('  ')
      .trimEnd();
  out.write(line(header, false) + '\n');
  out.write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
  for (const r of rows) out.write(line(r, true) + '\n');
}
