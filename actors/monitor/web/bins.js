// Error counts in bins of any width: the monitor sends counts per wall-clock minute
// ([minute start ms, errors, warnings]); the page groups them. Bins are aligned to multiples of
// the width since the epoch (a minute always falls in the same bin), cover `spanMinutes` up to
// `nowMs`, and include empty bins so the time axis is continuous. Unit-tested in
// test/unit/monitor_state.test.ts.

const MINUTE_MS = 60_000;

/**
 * @param {Array<[number, number, number]>} minutes
 * @param {number} binMinutes
 * @param {number} spanMinutes
 * @param {number} nowMs
 * @returns {{starts: number[], errors: number[], warns: number[]}}
 */
export function binCounts(minutes, binMinutes, spanMinutes, nowMs) {
  const w = Math.max(1, Math.floor(binMinutes)) * MINUTE_MS;
  const last = Math.floor(nowMs / w) * w;
  const n = Math.max(1, Math.min(10_000, Math.ceil((spanMinutes * MINUTE_MS) / w)));
  const first = last - (n - 1) * w;
  const starts = Array.from({ length: n }, (_, i) => first + i * w);
  const errors = new Array(n).fill(0);
  const warns = new Array(n).fill(0);
  for (const [t, e, wn] of minutes) {
    const i = Math.floor((t - first) / w);
    if (i < 0 || i >= n) continue;
    errors[i] += e;
    warns[i] += wn;
  }
  return { starts, errors, warns };
}
