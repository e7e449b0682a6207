// kdb+'s `like` patterns (`*` any run, `?` one character, `[abc]`, `[a-z]`, `[^abc]` sets) parsed
// once and rendered for each engine: a RegExp for the RDB, a DuckDB GLOB pattern for the HDB (whose
// set negation is `[!...]` and whose literal metacharacters must be bracketed).
import { bad } from './request.ts';

type Token = { kind: 'lit'; ch: string } | { kind: 'any' } | { kind: 'one' } | { kind: 'set'; negate: boolean; body: string };

function parse(pattern: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') out.push({ kind: 'any' });
    else if (ch === '?') out.push({ kind: 'one' });
    else if (ch === '[') {
      let j = i + 1;
      const negate = pattern[j] === '^';
      if (negate) j++;
      const from = j;
      // A `]` right after the opening bracket is a member, as in kdb+ and glob.
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) throw bad('filters', `like pattern ${JSON.stringify(pattern)} has an unclosed [`, { pattern });
      const body = pattern.slice(from, j);
      if (body.length === 0) throw bad('filters', `like pattern ${JSON.stringify(pattern)} has an empty []`, { pattern });
      out.push({ kind: 'set', negate, body });
      i = j;
    } else out.push({ kind: 'lit', ch });
  }
  return out;
}

function escapeRegexChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

/** The pattern as an anchored RegExp (the RDB evaluates it once per distinct symbol). */
export function likeToRegExp(pattern: string): RegExp {
  let src = '^';
  for (const t of parse(pattern)) {
    if (t.kind === 'any') src += '[\\s\\S]*';
    else if (t.kind === 'one') src += '[\\s\\S]';
    else if (t.kind === 'lit') src += escapeRegexChar(t.ch);
    else {
      let body = '';
      for (let k = 0; k < t.body.length; k++) {
        const c = t.body[k]!;
        // Keep a-z ranges; escape everything else that a RegExp class treats specially.
        if (c === '-' && k > 0 && k < t.body.length - 1) body += '-';
        else body += escapeRegexChar(c);
      }
      src += `[${t.negate ? '^' : ''}${body}]`;
    }
  }
  return new RegExp(`${src}$`, 's');
}

/** The pattern for DuckDB's GLOB operator (bound as a parameter, never spliced into SQL). */
export function likeToGlob(pattern: string): string {
  let out = '';
  for (const t of parse(pattern)) {
    if (t.kind === 'any') out += '*';
    else if (t.kind === 'one') out += '?';
    else if (t.kind === 'lit') out += t.ch === '*' || t.ch === '?' || t.ch === '[' ? `[${t.ch}]` : t.ch;
    else {
      // A leading `!` would read as glob negation: move the literal `!` to the end of the set.
      const body = !t.negate && t.body.startsWith('!') && t.body.length > 1 ? `${t.body.slice(1)}!` : t.body;
      out += `[${t.negate ? '!' : ''}${body}]`;
    }
  }
  return out;
}
