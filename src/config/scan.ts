/**
 * A small TOML line scanner. @iarna/toml returns values without positions, so this pass walks the
 * same text once more and records, for every key path it sees, the 1-based line where it first
 * appears. It is only run on text the parser has accepted, but it must still never throw and never
 * loop: every iteration consumes at least one character, and nesting is an explicit stack.
 *
 * Paths are kept as a tree of nodes, one per key or array element, so that the parsed document
 * can be correlated with them segment by segment: `runners[1].docker.image` is
 * lineOf(kl, ['runners', 1, 'docker', 'image']). A tree rather than a map of joined path strings:
 * joining and hashing the whole path for every key was most of this pass's cost, and a joined
 * string cannot tell the segments of a quoted key holding the separator from real ones.
 */

export type PathSeg = string | number;

/** Paths deeper than this are not recorded; no config.toml key we check is nearly this deep, and it
 * keeps hostile inputs (100k-segment dotted keys, 50k nested arrays) linear. */
const MAX_DEPTH = 48;

/** One recorded key, table header or array element. */
interface Node {
  /** 1-based line where the path first appears; 0 for a path only passed through */
  line: number;
  /** raw source text of a bare scalar value (numbers, booleans, datetimes), the last one written */
  raw: string | undefined;
  /** the first few keyed children, in order; most tables have a handful of keys, and a short list
   * searched with === is cheaper than a Map that hashes every new key */
  names: string[] | undefined;
  kids: Node[] | undefined;
  /** every keyed child, once there are more than SMALL (so a huge table stays linear) */
  keys: Map<string, Node> | undefined;
  elems: Node[] | undefined;
  /** for an array of tables: how many `[[…]]` elements were seen so far */
  aot: number;
}

const newNode = (line: number): Node => ({
  line,
  raw: undefined,
  names: undefined,
  kids: undefined,
  keys: undefined,
  elems: undefined,
  aot: 0,
});

export interface KeyLines {
  readonly root: Node;
}

const SMALL = 8;

function keyed(p: Node, seg: string): Node | undefined {
  if (p.keys !== undefined) return p.keys.get(seg);
  const names = p.names;
  if (names === undefined) return undefined;
  for (let j = 0; j < names.length; j++) if (names[j] === seg) return p.kids![j];
  return undefined;
}

function addKeyed(p: Node, seg: string, c: Node): void {
  if (p.keys !== undefined) {
    p.keys.set(seg, c);
    return;
  }
  if (p.names === undefined) {
    p.names = [seg];
    p.kids = [c];
    return;
  }
  if (p.names.length < SMALL) {
    p.names.push(seg);
    p.kids!.push(c);
    return;
  }
  const keys = new Map<string, Node>();
  for (let j = 0; j < p.names.length; j++) keys.set(p.names[j]!, p.kids![j]!);
  keys.set(seg, c);
  p.keys = keys;
  p.names = undefined;
  p.kids = undefined;
}

/** The child `seg` of `p`, or undefined when it was never recorded. */
function find(p: Node, seg: PathSeg): Node | undefined {
  return typeof seg === 'number' ? p.elems?.[seg] : keyed(p, seg);
}

/** 1-based line where exactly `segs` first appears, when it was recorded. */
export function lineAt(kl: KeyLines, segs: readonly PathSeg[]): number | undefined {
  let p: Node | undefined = kl.root;
  for (let j = 0; j < segs.length && p !== undefined; j++) p = find(p, segs[j]!);
  return p === undefined || p.line === 0 ? undefined : p.line;
}

/** The line of `segs`, or of its nearest recorded ancestor; 1 when none is. */
export function lineOf(kl: KeyLines, segs: readonly PathSeg[]): number {
  let p: Node | undefined = kl.root;
  let line = 1;
  for (let j = 0; j < segs.length; j++) {
    p = find(p, segs[j]!);
    if (p === undefined) break;
    if (p.line !== 0) line = p.line;
  }
  return line;
}

/** Raw source text of the bare scalar at exactly `segs`. */
export function rawAt(kl: KeyLines, segs: readonly PathSeg[]): string | undefined {
  let p: Node | undefined = kl.root;
  for (let j = 0; j < segs.length && p !== undefined; j++) p = find(p, segs[j]!);
  return p?.raw;
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

interface Frame {
  readonly array: boolean;
  /** null when deeper than MAX_DEPTH */
  readonly p: Node | null;
  readonly depth: number;
  count: number;
}

export function scanKeyLines(src: string): KeyLines {
  const root = newNode(0);
  const stack: Frame[] = [];
  const n = src.length;
  let i = 0;
  let line = 1;
  let table: Node | null = root;
  let tableDepth = 0;

  /**
   * The child `seg` of `p` (depth `depth` + 1), recorded at line `ln` when it first appears
   * (`ln` 0: only passed through); null past MAX_DEPTH.
   */
  const child = (p: Node | null, depth: number, seg: PathSeg, ln: number): Node | null => {
    if (p === null || depth >= MAX_DEPTH) return null;
    let c: Node | undefined;
    if (typeof seg === 'number') {
      const elems = (p.elems ??= []);
      c = elems[seg];
      if (c === undefined) elems[seg] = c = newNode(ln);
    } else {
      c = keyed(p, seg);
      if (c === undefined) addKeyed(p, seg, (c = newNode(ln)));
    }
    if (c.line === 0) c.line = ln;
    return c;
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
    const start = ++i;
    // most strings have no escape: one slice instead of a string built per character
    while (i < n) {
      const c = src.charCodeAt(i);
      if (c === 0x22) {
        const v = decode ? src.slice(start, i) : '';
        i++;
        return v;
      }
      if (c === 0x0a) return decode ? src.slice(start, i) : ''; // unterminated: leave the newline to the caller
      if (c === 0x5c) break;
      i++;
    }
    let out = decode ? src.slice(start, i) : '';
    while (i < n) {
      const ch = src[i]!;
      if (ch === '"') {
        i++;
        break;
      }
      if (ch === '\n') break;
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
    while (i < n) {
      const c = src.charCodeAt(i);
      if (c === 0x27 || c === 0x0a) break;
      i++;
    }
    const v = decode ? src.slice(start, i) : '';
    if (src.charCodeAt(i) === 0x27) i++;
    return v;
  };

  const multiline = (quote: number): void => {
    i += 3;
    while (i < n) {
      const c = src.charCodeAt(i);
      if (c === 0x5c && quote === 0x22) {
        i++;
        if (i < n && src.charCodeAt(i) !== 0x0a) i++;
        continue;
      }
      if (c === quote && src.charCodeAt(i + 1) === quote && src.charCodeAt(i + 2) === quote) {
        i += 3;
        // up to two quotes right before the closing delimiter belong to the content
        for (let extra = 0; extra < 2 && src.charCodeAt(i) === quote; extra++) i++;
        return;
      }
      if (c === 0x0a) line++;
      i++;
    }
  };

  /** one key segment at i (after whitespace); undefined when there is none */
  const readSeg = (): string | undefined => {
    skipWs();
    if (i >= n) return undefined;
    const c = src.charCodeAt(i);
    if (c === 0x22) return basicString(true);
    if (c === 0x27) return literalString(true);
    const start = i;
    while (i < n && isBare(src.charCodeAt(i))) i++;
    return i === start ? undefined : src.slice(start, i);
  };
  /** after a segment: true (and past the dot) when another one follows */
  const dotFollows = (): boolean => {
    skipWs();
    if (src.charCodeAt(i) === 0x2e) {
      i++;
      return true;
    }
    return false;
  };

  /** consume one value starting at i; containers push a frame and return */
  const startValue = (p: Node | null, depth: number): void => {
    skipWs();
    if (i >= n) return;
    const c = src.charCodeAt(i);
    if (c === 0x22) {
      if (src.charCodeAt(i + 1) === 0x22 && src.charCodeAt(i + 2) === 0x22) multiline(c);
      else basicString(false);
    } else if (c === 0x27) {
      if (src.charCodeAt(i + 1) === 0x27 && src.charCodeAt(i + 2) === 0x27) multiline(c);
      else literalString(false);
    } else if (c === 0x5b) {
      i++;
      stack.push({ array: true, p, depth, count: 0 });
    } else if (c === 0x7b) {
      i++;
      stack.push({ array: false, p, depth, count: 0 });
    } else {
      const start = i;
      while (i < n) {
        const d = src.charCodeAt(i);
        // , ] } # \n
        if (d === 0x2c || d === 0x5d || d === 0x7d || d === 0x23 || d === 0x0a) break;
        i++;
      }
      if (p !== null) p.raw = src.slice(start, i).trim();
    }
  };

  const keyValue = (base: Node | null, baseDepth: number): void => {
    const ln = line;
    let seg = readSeg();
    if (seg === undefined) return;
    let p = base;
    let depth = baseDepth;
    for (;;) {
      p = child(p, depth, seg, ln);
      depth++;
      if (!dotFollows()) break;
      seg = readSeg();
      if (seg === undefined) break;
    }
    skipWs();
    if (src.charCodeAt(i) !== 0x3d) return;
    i++;
    startValue(p, depth);
  };

  const header = (): void => {
    const ln = line;
    i++;
    const isArray = src.charCodeAt(i) === 0x5b;
    if (isArray) i++;
    let seg = readSeg();
    if (seg !== undefined) {
      let p: Node | null = root;
      let depth = 0;
      for (;;) {
        p = child(p, depth, seg, ln);
        depth++;
        if (!dotFollows()) break;
        const next = readSeg();
        if (next === undefined) break;
        // `[runners.docker]` after `[[runners]]` means the last runners element
        if (p !== null && p.aot > 0) {
          p = child(p, depth, p.aot - 1, 0);
          depth++;
        }
        seg = next;
      }
      if (isArray) {
        const count = p === null ? 0 : p.aot;
        if (p !== null) p.aot = count + 1;
        p = child(p, depth, count, ln);
        depth++;
      }
      table = p;
      tableDepth = depth;
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
      if (src.charCodeAt(i) === 0x5b) header();
      else {
        keyValue(table, tableDepth);
        if (stack.length === 0) skipToEol();
      }
    } else {
      skipWsNlComments();
      if (i >= n) break;
      const c = src.charCodeAt(i);
      if (c === 0x2c) i++;
      else if (top.array ? c === 0x5d : c === 0x7d) {
        i++;
        stack.pop();
        if (stack.length === 0) skipToEol();
      } else if (top.array) {
        const p = child(top.p, top.depth, top.count++, line);
        startValue(p, top.depth + 1);
      } else {
        keyValue(top.p, top.depth);
      }
    }
    // progress guarantee for input the scanner does not understand
    if (i === before && stack.length === depth) {
      if (src.charCodeAt(i) === 0x0a) line++;
      i++;
    }
  }

  return { root };
}
