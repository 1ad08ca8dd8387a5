/**
 * A small TOML line scanner. @iarna/toml returns values without positions, so this pass walks the
 * same text once more and records, for every key path it sees, the 1-based line where it first
 * appears. It is only run on text the parser has accepted, but it must still never throw and never
 * loop: every iteration consumes at least one character, and nesting is an explicit stack.
 *
 * Paths are encoded as strings by `pathKey` so that the parsed document can be correlated with
 * them: `runners[1].docker.image` ⇒ pathKey(['runners', 1, 'docker', 'image']).
 */

export type PathSeg = string | number;

const SEP = '\u0000';

/** Paths deeper than this are not recorded; no config.toml key we check is nearly this deep, and it
 * keeps hostile inputs (100k-segment dotted keys, 50k nested arrays) linear. */
const MAX_DEPTH = 48;

interface P {
  /** encoded path, or null when deeper than MAX_DEPTH */
  readonly key: string | null;
  readonly depth: number;
}

const ROOT: P = { key: '', depth: 0 };

function child(p: P, seg: PathSeg): P {
  if (p.key === null || p.depth >= MAX_DEPTH) return { key: null, depth: p.depth + 1 };
  return {
    key: p.key + SEP + (typeof seg === 'number' ? '#' + seg : '.' + seg),
    depth: p.depth + 1,
  };
}

export function pathKey(segs: readonly PathSeg[]): string {
  let k = '';
  for (const s of segs) k += SEP + (typeof s === 'number' ? '#' + s : '.' + s);
  return k;
}

export interface KeyLines {
  /** pathKey → 1-based line where the key (or table header, or array element) first appears */
  readonly lines: ReadonlyMap<string, number>;
  /** pathKey → raw source text of a bare scalar value (numbers, booleans, datetimes) */
  readonly raw: ReadonlyMap<string, string>;
}

const isBare = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x5f ||
  c === 0x2d;

const ESCAPES: Record<string, string> = {
  b: '\b',
  t: '\t',
  n: '\n',
  f: '\f',
  r: '\r',
  e: '\x1b',
  '"': '"',
  '\\': '\\',
};

interface ArrayFrame {
  readonly kind: 'array';
  readonly p: P;
  count: number;
}
interface InlineFrame {
  readonly kind: 'inline';
  readonly p: P;
}

export function scanKeyLines(src: string): KeyLines {
  const lines = new Map<string, number>();
  const raw = new Map<string, string>();
  /** array-of-tables path → number of elements seen so far */
  const aot = new Map<string, number>();
  const stack: (ArrayFrame | InlineFrame)[] = [];
  const n = src.length;
  let i = 0;
  let line = 1;
  let table: P = ROOT;

  const rec = (p: P, ln: number): void => {
    if (p.key !== null && !lines.has(p.key)) lines.set(p.key, ln);
  };

  const skipWs = (): void => {
    while (i < n) {
      const c = src.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else break;
    }
  };
  const skipComment = (): void => {
    while (i < n && src.charCodeAt(i) !== 0x0a) i++;
  };
  const skipWsNlComments = (): void => {
    while (i < n) {
      const c = src.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else if (c === 0x0a) {
        i++;
        line++;
      } else if (c === 0x23) skipComment();
      else break;
    }
  };
  /** rest of a statement: after a complete value only whitespace and a comment may follow */
  const skipToEol = (): void => {
    skipComment();
    if (i < n) {
      i++;
      line++;
    }
  };

  /** single-line basic string starting at `"`; returns the decoded value when `decode` */
  const basicString = (decode: boolean): string => {
    i++;
    let out = '';
    while (i < n) {
      const ch = src[i]!;
      if (ch === '"') {
        i++;
        break;
      }
      if (ch === '\n') break; // unterminated: leave the newline to the caller
      if (ch === '\\' && i + 1 < n) {
        const e = src[i + 1]!;
        if (decode) {
          if (e === 'u' || e === 'U') {
            const len = e === 'u' ? 4 : 8;
            const cp = Number.parseInt(src.slice(i + 2, i + 2 + len), 16);
            out += Number.isFinite(cp) && cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
            i += 2 + len;
            continue;
          }
          if (e === 'x') {
            const cp = Number.parseInt(src.slice(i + 2, i + 4), 16);
            out += Number.isFinite(cp) ? String.fromCharCode(cp) : '';
            i += 4;
            continue;
          }
          out += ESCAPES[e] ?? e;
        }
        i += e === '\n' ? 1 : 2;
        continue;
      }
      if (decode) out += ch;
      i++;
    }
    return out;
  };

  const literalString = (decode: boolean): string => {
    const start = ++i;
    while (i < n && src[i] !== "'" && src[i] !== '\n') i++;
    const v = decode ? src.slice(start, i) : '';
    if (src[i] === "'") i++;
    return v;
  };

  const multiline = (quote: '"' | "'"): void => {
    const delim = quote.repeat(3);
    i += 3;
    while (i < n) {
      const c = src[i]!;
      if (c === '\\' && quote === '"') {
        i++;
        if (i < n && src[i] !== '\n') i++;
        continue;
      }
      if (c === quote && src.startsWith(delim, i)) {
        i += 3;
        // up to two quotes right before the closing delimiter belong to the content
        for (let extra = 0; extra < 2 && src[i] === quote; extra++) i++;
        return;
      }
      if (c === '\n') line++;
      i++;
    }
  };

  const readKey = (): string[] => {
    const segs: string[] = [];
    for (;;) {
      skipWs();
      if (i >= n) return segs;
      const c = src[i]!;
      if (c === '"') segs.push(basicString(true));
      else if (c === "'") segs.push(literalString(true));
      else {
        const start = i;
        while (i < n && isBare(src.charCodeAt(i))) i++;
        if (i === start) return segs;
        segs.push(src.slice(start, i));
      }
      skipWs();
      if (src[i] === '.') {
        i++;
        continue;
      }
      return segs;
    }
  };

  /** consume one value starting at i; containers push a frame and return */
  const startValue = (p: P): void => {
    skipWs();
    if (i >= n) return;
    const c = src[i]!;
    if (c === '"') {
      if (src.startsWith('"""', i)) multiline('"');
      else basicString(false);
    } else if (c === "'") {
      if (src.startsWith("'''", i)) multiline("'");
      else literalString(false);
    } else if (c === '[') {
      i++;
      stack.push({ kind: 'array', p, count: 0 });
    } else if (c === '{') {
      i++;
      stack.push({ kind: 'inline', p });
    } else {
      const start = i;
      while (i < n) {
        const d = src[i]!;
        if (d === ',' || d === ']' || d === '}' || d === '#' || d === '\n') break;
        i++;
      }
      if (p.key !== null) raw.set(p.key, src.slice(start, i).trim());
    }
  };

  const keyValue = (base: P): void => {
    const ln = line;
    const segs = readKey();
    if (segs.length === 0) return;
    let p = base;
    for (const s of segs) {
      p = child(p, s);
      rec(p, ln);
    }
    skipWs();
    if (src[i] !== '=') return;
    i++;
    startValue(p);
  };

  const header = (): void => {
    const ln = line;
    i++;
    const isArray = src[i] === '[';
    if (isArray) i++;
    const segs = readKey();
    if (segs.length > 0) {
      let p = ROOT;
      for (let j = 0; j < segs.length; j++) {
        p = child(p, segs[j]!);
        rec(p, ln);
        // `[runners.docker]` after `[[runners]]` means the last runners element
        if (j < segs.length - 1 && p.key !== null) {
          const count = aot.get(p.key);
          if (count !== undefined) p = child(p, count - 1);
        }
      }
      if (isArray) {
        const count = p.key === null ? 0 : (aot.get(p.key) ?? 0);
        if (p.key !== null) aot.set(p.key, count + 1);
        p = child(p, count);
        rec(p, ln);
      }
      table = p;
    }
    skipToEol();
  };

  while (i < n) {
    const before = i;
    const depth = stack.length;
    const top = stack[depth - 1];
    if (top === undefined) {
      skipWsNlComments();
      if (i >= n) break;
      if (src[i] === '[') header();
      else {
        keyValue(table);
        if (stack.length === 0) skipToEol();
      }
    } else {
      skipWsNlComments();
      if (i >= n) break;
      const c = src[i]!;
      if (c === ',') i++;
      else if ((top.kind === 'array' && c === ']') || (top.kind === 'inline' && c === '}')) {
        i++;
        stack.pop();
        if (stack.length === 0) skipToEol();
      } else if (top.kind === 'array') {
        const p = child(top.p, top.count++);
        rec(p, line);
        startValue(p);
      } else {
        keyValue(top.p);
      }
    }
    // progress guarantee for input the scanner does not understand
    if (i === before && stack.length === depth) {
      if (src[i] === '\n') line++;
      i++;
    }
  }

  return { lines, raw };
}
