// File-name globs for the ops CSVs (housekeeping match/exclude, file alerter match). Node 20's
// path.matchesGlob is experimental (it prints an ExperimentalWarning and may change), so this is a
// small glob of our own, applied to one file name (never a path):
//   *        any run of characters (possibly none)
//   ?        exactly one character
//   [abc]    one of the listed characters; [a-z] a range; [!abc] or [^abc] none of them
//   anything else matches itself (so `.`, `+`, `(` are literal); `\x` is a literal x.
// A name is matched whole. A pattern holding `/` is refused: these patterns select names inside
// one configured directory, and a separator would let a row reach elsewhere.
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

const cache = new Map<string, RegExp>();
/** Compiled patterns kept (a CSV has few; bounded anyway). */
const CACHE_MAX = 1_024;

export function globToRegExp(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  if (pattern.includes('/')) throw new TickbusError(ErrorCode.BAD_CONFIG, `glob ${JSON.stringify(pattern)} holds a /: patterns match file names only`, { pattern });
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < pattern.length) re += escape(pattern[++i]!);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (x) => `\\${x}`)}]`;
      i = end;
    } else re += escape(c);
  }
  const out = new RegExp(re + '$', 's');
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(pattern, out);
  return out;
}

function escape(c: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(c) ? `\\${c}` : c;
}

export function matchesGlob(name: string, pattern: string): boolean {
  return globToRegExp(pattern).test(name);
}
