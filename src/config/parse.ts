import TOML from '@iarna/toml';
import { CONFIG_SCHEMA, lookupKey, nearestKey, type TableSchema } from './known-keys.js';
import { pathKey, scanKeyLines, type KeyLines, type PathSeg } from './scan.js';
import type { ParsedRunnerConfig, RunnerEntry, TomlError, UnknownKey } from './types.js';

/** More unknown keys than this is not a typo but a different file format; stop listing. */
const MAX_UNKNOWN_KEYS = 200;

/**
 * facts §5: a ConfigMap/Secret holds a runner config when a `.toml` data key contains `[[runners]]`.
 * TOML allows whitespace inside the brackets and a quoted key; a comment may follow.
 */
const RUNNERS_HEADER = /^\uFEFF?[ \t]*\[\[[ \t]*(?:runners|"runners"|'runners')[ \t]*\]\][ \t]*(?:#[^\n]*)?\r?$/m;

export function looksLikeRunnerConfig(text: string): boolean {
  if (typeof text !== 'string') return false;
  return RUNNERS_HEADER.test(text);
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** BurntSushi/toml (the runner's decoder) matches keys exactly, then case-insensitively. */
function fieldName(t: Table, name: string): string | undefined {
  if (own(t, name)) return name;
  const lower = name.toLowerCase();
  return Object.keys(t).find((k) => k.toLowerCase() === lower);
}

const MAX_MESSAGE = 200;

/**
 * @iarna/toml appends " at row R, col C, pos P:" and a code frame of the surrounding lines to its
 * messages. The frame can hold a token, so keep only the first line, without the position (it is
 * returned separately), and never any text that came from the input.
 */
function tomlError(err: unknown): TomlError {
  if (err instanceof RangeError) {
    return { message: 'TOML document is nested too deeply to parse', line: 1, column: 1 };
  }
  const e = err as { fromTOML?: unknown; message?: unknown; line?: unknown; col?: unknown } | null;
  if (e === null || typeof e !== 'object' || e.fromTOML !== true || typeof e.message !== 'string') {
    return { message: 'TOML parser failed on this input', line: 1, column: 1 };
  }
  let message = (e.message.split('\n')[0] ?? '').replace(/ at row \d+, col \d+, pos \d+:?\s*$/, '').trim();
  // the only input-derived part of iarna messages: `Unknown character "65279"` (a code point)
  message = message.replace(/Unknown character "(\d+)"/, (_m, cp: string) => {
    const hex = Number(cp).toString(16).toUpperCase().padStart(4, '0');
    return `Unknown character U+${hex}`;
  });
  if (message.length > MAX_MESSAGE) message = message.slice(0, MAX_MESSAGE) + '…';
  if (message === '') message = 'Invalid TOML';
  const line = typeof e.line === 'number' && Number.isFinite(e.line) ? e.line + 1 : 1;
  const column = typeof e.col === 'number' && Number.isFinite(e.col) ? e.col + 1 : 1;
  return { message, line, column };
}

/** Render a key for a dotted path the way it would be written in TOML. */
function keyText(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

/** The line of `segs`, or of its nearest recorded ancestor. */
function lineOf(kl: KeyLines, segs: readonly PathSeg[]): number {
  for (let len = segs.length; len > 0; len--) {
    const l = kl.lines.get(pathKey(segs.slice(0, len)));
    if (l !== undefined) return l;
  }
  return 1;
}

interface Walk {
  readonly kl: KeyLines;
  readonly out: UnknownKey[];
  truncated: boolean;
}

/**
 * Report keys of `t` that `schema` does not know. Only descends into tables whose schema is known;
 * free-form maps (labels, node_selector, tmpfs, …) and unknown subtrees are never entered, so the
 * recursion depth is bounded by the schema, not by the input.
 */
function checkTable(
  w: Walk,
  t: Table,
  schema: TableSchema,
  segs: PathSeg[],
  display: string,
  ancestors: readonly { schema: TableSchema; display: string }[],
  runnerIndex: number | undefined,
): void {
  for (const key of Object.keys(t)) {
    const found = lookupKey(schema, key);
    const keySegs = [...segs, key];
    const keyDisplay = display === '' ? keyText(key) : `${display}.${keyText(key)}`;
    if (found === undefined) {
      if (w.out.length >= MAX_UNKNOWN_KEYS) {
        w.truncated = true;
        return;
      }
      let suggestion = nearestKey(schema, key);
      if (suggestion === undefined) {
        // a key written after a sub-table header lands in that sub-table (TOML scoping)
        for (let a = ancestors.length - 1; a >= 0; a--) {
          const anc = ancestors[a]!;
          const hit = lookupKey(anc.schema, key);
          if (hit !== undefined && typeof hit.kind === 'string') {
            suggestion = anc.display === '' ? hit.name : `${anc.display}.${hit.name}`;
            break;
          }
        }
      }
      const uk: UnknownKey = { path: keyDisplay, line: lineOf(w.kl, keySegs) };
      if (suggestion !== undefined) uk.suggestion = suggestion;
      if (runnerIndex !== undefined) uk.runnerIndex = runnerIndex;
      w.out.push(uk);
      continue;
    }
    if (typeof found.kind === 'string') continue;
    const v = t[key];
    const nextAncestors = [...ancestors, { schema, display }];
    if (isTable(v)) {
      checkTable(w, v, found.kind, keySegs, keyDisplay, nextAncestors, runnerIndex);
    } else if (Array.isArray(v)) {
      const isRunners = schema === CONFIG_SCHEMA && found.name === 'runners';
      v.forEach((el, idx) => {
        if (isTable(el)) {
          checkTable(w, el, found.kind as TableSchema, [...keySegs, idx], keyDisplay, nextAncestors, isRunners ? idx : runnerIndex);
        }
      });
    }
    if (w.truncated) return;
  }
}

function stringField(t: Table, name: string): string | undefined {
  const k = fieldName(t, name);
  const v = k === undefined ? undefined : t[k];
  return typeof v === 'string' ? v : undefined;
}

function runnerEntry(r: Table, index: number, runnersKey: string, kl: KeyLines): RunnerEntry {
  const base: PathSeg[] = [runnersKey, index];
  const entry: RunnerEntry = { index, line: kl.lines.get(pathKey(base)) ?? lineOf(kl, base) };
  const name = stringField(r, 'name');
  if (name !== undefined) entry.name = name;
  const url = stringField(r, 'url');
  if (url !== undefined) entry.url = url;
  const executor = stringField(r, 'executor');
  if (executor !== undefined) entry.executor = executor;

  const tokenKey = fieldName(r, 'token');
  if (tokenKey !== undefined) {
    const v = r[tokenKey];
    if (typeof v === 'string') entry.token = v;
    const l = kl.lines.get(pathKey([...base, tokenKey]));
    if (l !== undefined) entry.tokenLine = l;
  }

  const expKey = fieldName(r, 'token_expires_at');
  if (expKey !== undefined) {
    const v = r[expKey];
    const rawText = kl.raw.get(pathKey([...base, expKey]));
    if (typeof v === 'string') entry.tokenExpiresAt = v;
    else if (rawText !== undefined && rawText !== '') entry.tokenExpiresAt = rawText;
    else if (v instanceof Date) entry.tokenExpiresAt = v.toISOString();
    else if (v !== undefined && v !== null) entry.tokenExpiresAt = String(v);
  }
  return entry;
}

function build(text: string): ParsedRunnerConfig {
  if (typeof text !== 'string') {
    return { ok: false, error: { message: 'Runner config is not text', line: 1, column: 1 } };
  }
  // a BOM is not TOML, but editors write it; columns of line 1 then count from after it
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;

  let doc: Table;
  try {
    doc = TOML.parse(src) as Table;
  } catch (err) {
    return { ok: false, error: tomlError(err) };
  }

  const kl = scanKeyLines(src);

  const runnersKey = fieldName(doc, 'runners');
  const globals: Record<string, unknown> = {};
  for (const k of Object.keys(doc)) {
    if (k !== runnersKey) Object.defineProperty(globals, k, { value: doc[k], enumerable: true, writable: true, configurable: true });
  }

  const runners: RunnerEntry[] = [];
  const rv = runnersKey === undefined ? undefined : doc[runnersKey];
  // `[runners.docker]` with no `[[runners]]` makes runners a table (a docs fragment): no runners
  if (runnersKey !== undefined && Array.isArray(rv)) {
    rv.forEach((r, idx) => {
      if (isTable(r)) runners.push(runnerEntry(r, idx, runnersKey, kl));
    });
  }

  const w: Walk = { kl, out: [], truncated: false };
  checkTable(w, doc, CONFIG_SCHEMA, [], '', [], undefined);

  // document order, as a reader scans the file
  w.out.sort((a, b) => a.line - b.line);
  const result: ParsedRunnerConfig = { ok: true, globals, runners, unknownKeys: w.out };
  if (w.truncated) result.unknownKeysTruncated = true;
  return result;
}

/**
 * Parse a config.toml / config.template.toml. Never throws: syntax errors, hostile nesting and
 * odd encodings come back as `{ ok: false, error }` with a 1-based line and column and a one-line
 * message that quotes nothing from the input (so never a token).
 */
export function parseRunnerConfig(text: string): ParsedRunnerConfig {
  try {
    return build(text);
  } catch (err) {
    return { ok: false, error: tomlError(err instanceof RangeError ? err : null) };
  }
}
