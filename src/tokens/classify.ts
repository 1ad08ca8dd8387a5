/**
 * `classifyToken`: what a string in a token slot is (facts §1), with the whitespace around
 * and inside it reported separately, because a trailing newline from `echo` into a Secret
 * breaks the RUNNER-TOKEN header even when the token itself is right (facts §2).
 */
import { tokenShape, isInvisible } from './shape.js';
import { describeChar, redactAnalysis, splitWhitespace } from './redact.js';
import type { Classification, TokenClass } from './types.js';

export type { Classification, TokenClass };

/** At most this many distinct character names per place, so a pathological value gives a short note. */
const MAX_NAMES = 4;

function names(s: string): string {
  const seen: string[] = [];
  let more = false;
  for (let i = 0; i < s.length; i++) {
    const name = describeChar(s.charCodeAt(i));
    if (seen.includes(name)) continue;
    if (seen.length === MAX_NAMES) {
      more = true;
      break;
    }
    seen.push(name);
  }
  return seen.join(', ') + (more ? ', …' : '');
}

/** the invisible characters inside the value (first 64 are enough to name them) */
function innerInvisibles(trimmed: string): string {
  let out = '';
  for (let i = 0; i < trimmed.length && out.length < 64; i++) {
    if (isInvisible(trimmed.charCodeAt(i))) out += trimmed[i];
  }
  return out;
}

export function classifyToken(raw: string): Classification {
  const { trimmed, compact, start, end, inner } = splitWhitespace(raw);
  // Classified without inner invisibles, so "glrt-…\u200b…" still says what it is, and the
  // whitespace flags say what is wrong with it.
  const a = tokenShape(compact);
  const surrounding = start > 0 || end < raw.length;
  const c: Classification = {
    cls: a.cls,
    value: trimmed,
    surroundingWhitespace: surrounding,
    innerWhitespace: inner,
    redacted: redactAnalysis(a, compact, trimmed),
  };
  if (surrounding || inner) {
    const parts: string[] = [];
    // cap the scanned text: a 100k run of spaces needs no 100k-step name lookup
    if (start > 0) parts.push(`leading ${names(raw.slice(0, Math.min(start, 256)))}`);
    if (end < raw.length)
      parts.push(`trailing ${names(raw.slice(Math.max(end, raw.length - 256)))}`);
    if (inner) {
      const count = trimmed.length - compact.length;
      parts.push(
        `${names(innerInvisibles(trimmed))} inside (${count} character${count === 1 ? '' : 's'})`,
      );
    }
    c.whitespaceDetail = parts.join('; ');
  }
  return c;
}
