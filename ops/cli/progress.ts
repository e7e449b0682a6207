// One progress bar on stderr (cli-progress), drawn only when stderr is a terminal: piped or
// redirected output, CI and tests get no bar and no carriage returns.
import { SingleBar } from 'cli-progress';

export interface Progress {
  update(value: number, total: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

const none: Progress = { update: () => {}, stop: () => {} };

/** A bar with `{value}/{total}` and the payload fields named in `extra` (e.g. "rows {rows}"). */
export function progressBar(label: string, extra = '', stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return none;
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% {value}/{total}${extra ? `  ${extra}` : ''}  {duration_formatted}`,
    barCompleteChar: '#',
    barIncompleteChar: '.',
    barsize: 30,
    hideCursor: true,
    clearOnComplete: false,
    // At most ~10 redraws a second whatever the caller's rate.
    fps: 10,
  });
  let started = false;
  return {
    update(value, total, payload = {}) {
      if (!started) {
        bar.start(total, value, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
