// V8 flags for tickbus processes (tickerplant, RDB, gateway, ...), applied by every launcher:
// `actors start` (ops/actors.mjs), the children of `actors up` (ops/cli/main.ts) and the test and
// benchmark child processes (test/support/procs.ts). See docs/performance.md (Latency) and
// docs/decisions.md for the measurements behind them.
//
// - A young generation of 16 MB from the start (V8 otherwise starts at 1 MB and grows only while
//   much survives): the tick path allocates ~20 KB per update and almost all of it dies within
//   the millisecond, so the number of scavenges falls with the semi-space size while each costs
//   about the same (it copies only the survivors).
// (An initial old generation of 64 MB was tried and dropped: it only moved a young process's first
// mark-compact later, into the measured window, and the old generation still fills at ~2 MB/s.)
//
// TICKBUS_NODE_FLAGS replaces the list (space separated; empty = Node's defaults).

/** @type {readonly string[]} */
export const DEFAULT_NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=32'];

/**
 * The node flags for a tickbus process.
 * @param {Record<string, string | undefined>} [env]
 * @returns {string[]}
 */
export function nodeFlags(env = process.env) {
  const v = env.TICKBUS_NODE_FLAGS;
  if (v === undefined) return [...DEFAULT_NODE_FLAGS];
  return v.split(/\s+/).filter(Boolean);
}

/**
 * `--import <tsx loader>` with the loader resolved from this checkout, so a launcher works from
 * any working directory (a bare `--import tsx` resolves against the cwd's node_modules).
 * @returns {string[]}
 */
export function tsxImport() {
  return ['--import', import.meta.resolve('tsx')];
}
