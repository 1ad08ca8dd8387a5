import TOML from '@iarna/toml';
import { CONFIG_SCHEMA, lookupKey, nearestKey, type TableSchema } from './known-keys.js';
import { foldKey, keysForField } from './fold.js';
import { lineAt, lineOf, rawAt, scanKeyLines, type KeyLines, type PathSeg } from './scan.js';
import type {
  LoadProblem,
  ParsedRunnerConfig,
  RunnerEntry,
  TomlError,
  UnknownKey,
} from './types.js';

/** More unknown keys than this is not a typo but a different file format; stop listing. */
const MAX_UNKNOWN_KEYS = 200;
/** Enough to name what is wrong; a hostile file can hold thousands. */
const MAX_PROBLEMS = 20;

/**
 * Global keys only gitlab-runner's config.toml has (`Config` in common/config.go): a file with
 * them and no runners yet is still a runner config.
 */
const GLOBAL_ONLY = ['concurrent', 'check_interval', 'listen_address', 'shutdown_timeout'];

/**
 * For text that is not TOML (there is no document to ask): a table header or a key whose name
 * folds to `runners` (BurntSushi's matching, see fold.ts), even an unclosed `[[runners`, or a
 * global key only config.toml has. Escapes in quoted header keys (`[["\u0072unners"]]`) are
 * only decodable in valid TOML, so a `\u` inside a header also counts.
 */
const BROKEN_RUNNERS =
  /^[ \t]*(?:\[\[?[ \t]*["']?(?:runners\b|[^\n\]]*\\[uU])|["']?runners["']?[ \t]*[.=])/m;
const BROKEN_GLOBAL =
  /^[ \t]*["']?(?:concurrent|check_interval|listen_address|shutdown_timeout)["']?[ \t]*=/m;

/** Bounded: only looked at when the parser failed, and the regexes are linear. */
function textLooksLikeRunnerConfig(text: string): boolean {
  const folded = foldKey(text.length > 1_000_000 ? text.slice(0, 1_000_000) : text);
  return BROKEN_RUNNERS.test(folded) || BROKEN_GLOBAL.test(folded);
}

type Table = Record<string, unknown>;

/**
 * @iarna/toml 3.0.0 rejects the CR of a CRLF line ending after a comment ("Control characters
 * … are not allowed in comments"), which TOML 1.0 and BurntSushi allow. Lines and columns are
 * unchanged by dropping a CR before LF (docs/parity.md).
 */
function withoutCrlf(text: string): string {
  return text.includes('\r\n') ? text.replace(/\r\n/g, '\n') : text;
}

/** @iarna/toml's parse, with the CRLF defect worked around; throws as it does. */
export function parseToml(text: string): Record<string, unknown> {
  return TOML.parse(withoutCrlf(text)) as Record<string, unknown>;
}

const isTable = (v: unknown): v is Table =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

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
  let message = (e.message.split('\n')[0] ?? '')
    .replace(/ at row \d+, col \d+, pos \d+:?\s*$/, '')
    .trim();
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
  const cut = k.length > 64 ? `${k.slice(0, 63)}…` : k;
  return /^[A-Za-z0-9_-]+$/.test(cut) ? cut : JSON.stringify(cut);
}

interface Walk {
  readonly kl: KeyLines;
  readonly out: UnknownKey[];
  readonly problems: LoadProblem[];
  truncated: boolean;
}

function addProblem(w: { problems: LoadProblem[] }, p: LoadProblem): void {
  if (w.problems.length < MAX_PROBLEMS) w.problems.push(p);
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
  const keys = Object.keys(t);
  const found: ReturnType<typeof lookupKey>[] = [];
  // distinct keys that fold to themselves cannot fold to one field: only a table with a key
  // that folding changes can have two keys for one field
  let folded = false;
  for (const key of keys) {
    // a key found as it is is lower-case ASCII already: no need to fold it
    let f = schema.byLower.get(key);
    if (f === undefined) {
      const k = foldKey(key);
      if (k !== key) {
        folded = true;
        f = schema.byLower.get(k);
      }
    }
    found.push(f);
  }
  // two keys of one table that decode into one field: Go's map order picks the winner per start.
  // Rare, so the grouping is only built when a field name repeats.
  let repeated = false;
  if (folded) {
    const seen = new Set<string>();
    for (const f of found) {
      if (f === undefined) continue;
      if (seen.has(f.name)) {
        repeated = true;
        break;
      }
      seen.add(f.name);
    }
  }
  if (repeated) {
    const byField = new Map<string, string[]>();
    keys.forEach((key, idx) => {
      const f = found[idx];
      if (f === undefined) return;
      const same = byField.get(f.name);
      if (same === undefined) byField.set(f.name, [key]);
      else same.push(key);
    });
    for (const [name, same] of byField) {
      if (same.length < 2) continue;
      const lines = same.map((k) => lineOf(w.kl, [...segs, k])).sort((a, b) => a - b);
      const where = display === '' ? ' at the top level' : ` in \`${display}\``;
      addProblem(w, {
        kind: 'ambiguous',
        reason: `${same.map((k) => `\`${keyText(k)}\``).join(' and ')}${where} ${same.length === 2 ? 'both' : 'all'} name the setting \`${name}\` (gitlab-runner matches keys case-insensitively), and which one it uses changes from start to start`,
        line: lines[0]!,
        lines,
      });
    }
  }
  // the same for every sub-table of this one; built on the first descent
  let nextAncestors: { schema: TableSchema; display: string }[] | undefined;
  for (let idx = 0; idx < keys.length; idx++) {
    const key = keys[idx]!;
    const f = found[idx];
    // a known scalar (most keys): nothing to report, nothing to build
    const sub = f?.kind;
    if (typeof sub === 'string') continue;
    const keySegs = [...segs, key];
    const keyDisplay = display === '' ? keyText(key) : `${display}.${keyText(key)}`;
    if (f === undefined || sub === undefined) {
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
    const v = t[key];
    nextAncestors ??= [...ancestors, { schema, display }];
    if (isTable(v)) {
      checkTable(w, v, sub, keySegs, keyDisplay, nextAncestors, runnerIndex);
    } else if (Array.isArray(v)) {
      const isRunners = schema === CONFIG_SCHEMA && f.name === 'runners';
      for (let el = 0; el < v.length; el++) {
        const item: unknown = v[el];
        if (isTable(item)) {
          checkTable(
            w,
            item,
            sub,
            [...keySegs, el],
            keyDisplay,
            nextAncestors,
            isRunners ? el : runnerIndex,
          );
        }
      }
    }
    if (w.truncated) return;
  }
}

/** gitlab-runner's `RunnerConfig` string fields the rules read; any other type stops the runner. */
const STRING_FIELDS = ['name', 'url', 'token', 'executor'] as const;

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date-time';
  if (isTable(v)) return 'a table';
  return typeof v === 'bigint' || typeof v === 'number'
    ? 'a number'
    : typeof v === 'boolean'
      ? 'a boolean'
      : `a ${typeof v}`;
}

/** The [[runners]] fields a runner entry is built from. */
const RUNNER_TAGS = new Set<string>([...STRING_FIELDS, 'token_expires_at']);

function runnerEntries(
  r: Table,
  at: number,
  index: number,
  runnersKey: string,
  kl: KeyLines,
  w: Walk,
): RunnerEntry[] {
  // keysForField for every tag at once: one pass, one fold per key (same order as Object.keys)
  const byTag = new Map<string, string[]>();
  for (const k of Object.keys(r)) {
    const f = foldKey(k);
    if (!RUNNER_TAGS.has(f)) continue;
    const same = byTag.get(f);
    if (same === undefined) byTag.set(f, [k]);
    else same.push(k);
  }
  const keysOf = (tag: string): string[] => byTag.get(tag) ?? [];
  /** the key gitlab-runner decodes into `tag`: the exact one, else one that folds to it */
  const field = (tag: string): string | undefined => (own(r, tag) ? tag : keysOf(tag)[0]);

  const base: PathSeg[] = [runnersKey, at];
  const entry: RunnerEntry = { index, line: lineOf(kl, base) };
  for (const tag of STRING_FIELDS) {
    for (const k of keysOf(tag)) {
      const v = r[k];
      if (typeof v === 'string') continue;
      addProblem(w, {
        kind: 'unloadable',
        reason: `\`${keyText(k)}\` of [[runners]] #${index} is ${typeName(v)}, but gitlab-runner reads it as a string and stops with "incompatible types"`,
        line: lineOf(kl, [...base, k]),
      });
    }
  }
  const name = stringAt(r, field('name'));
  if (name !== undefined) entry.name = name;
  const url = stringAt(r, field('url'));
  if (url !== undefined) entry.url = url;
  const executor = stringAt(r, field('executor'));
  if (executor !== undefined) entry.executor = executor;

  const expKey = field('token_expires_at');
  if (expKey !== undefined) {
    const v = r[expKey];
    const rawText = rawAt(kl, [...base, expKey]);
    if (typeof v === 'string') entry.tokenExpiresAt = v;
    else if (rawText !== undefined && rawText !== '') entry.tokenExpiresAt = rawText;
    else if (v instanceof Date) entry.tokenExpiresAt = v.toISOString();
    else if (v !== undefined && v !== null) entry.tokenExpiresAt = String(v);
  }

  // exact key first, as BurntSushi matches; with several candidates each is a token the runner may use
  const tokenKeys = keysOf('token').sort((a, b) => (a === 'token' ? -1 : b === 'token' ? 1 : 0));
  if (tokenKeys.length === 0) return [entry];
  return tokenKeys.map((k) => {
    const e: RunnerEntry = { ...entry };
    const v = r[k];
    if (typeof v === 'string') e.token = v;
    const l = lineAt(kl, [...base, k]);
    if (l !== undefined) e.tokenLine = l;
    if (tokenKeys.length > 1) e.ambiguousToken = true;
    return e;
  });
}

function isFragment(t: Table): boolean {
  const values = Object.values(t);
  return (
    values.length > 0 &&
    values.every((v) => isTable(v) || (Array.isArray(v) && v.length > 0 && v.every(isTable)))
  );
}

function stringAt(t: Table, k: string | undefined): string | undefined {
  const v = k === undefined ? undefined : t[k];
  return typeof v === 'string' ? v : undefined;
}

function build(text: string): ParsedRunnerConfig {
  if (typeof text !== 'string') {
    return {
      ok: false,
      runnerConfig: false,
      error: { message: 'Runner config is not text', line: 1, column: 1 },
    };
  }
  // A BOM is not TOML, but editors write it; columns of line 1 then count from after it.
  // (BurntSushi/toml 1.2 refuses a UTF-8 BOM, later versions skip it: docs/parity.md.)
  const src = withoutCrlf(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

  let doc: Table;
  try {
    doc = TOML.parse(src) as Table;
  } catch (err) {
    return { ok: false, runnerConfig: textLooksLikeRunnerConfig(src), error: tomlError(err) };
  }

  const kl = scanKeyLines(src);
  const w: Walk = { kl, out: [], problems: [], truncated: false };

  const runnersKeys = keysForField(doc, 'runners');
  const globals: Record<string, unknown> = {};
  for (const k of Object.keys(doc)) {
    if (!runnersKeys.includes(k))
      Object.defineProperty(globals, k, {
        value: doc[k],
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  const runnerConfig =
    runnersKeys.length > 0 || GLOBAL_ONLY.some((g) => keysForField(doc, g).length > 0);

  const runners: RunnerEntry[] = [];
  let nextIndex = 0;
  for (const runnersKey of runnersKeys) {
    const rv = doc[runnersKey];
    const line = lineOf(kl, [runnersKey]);
    // `[runners]`, `runners.token = …`: a table where gitlab-runner's Config wants
    // []*RunnerConfig, so `gitlab-runner run` stops at start. A table of nothing but sections
    // (`[runners.docker]` with no `[[runners]]`) is how the docs show one section: a fragment,
    // not a config anyone runs; it is schema-checked and has no runners (docs/parity.md).
    if (isTable(rv) && isFragment(rv)) continue;
    if (!Array.isArray(rv)) {
      addProblem(w, {
        kind: 'unloadable',
        reason: `\`${keyText(runnersKey)}\` is ${typeName(rv)}, but gitlab-runner reads it as a list of [[runners]] tables and stops with "incompatible types"`,
        line,
      });
      continue;
    }
    const offset = nextIndex;
    nextIndex += rv.length;
    rv.forEach((r, idx) => {
      // with two keys folding to `runners` (ambiguous, denied) the entries of both are checked, numbered on
      if (isTable(r)) runners.push(...runnerEntries(r, idx, offset + idx, runnersKey, kl, w));
      else {
        addProblem(w, {
          kind: 'unloadable',
          reason: `element ${idx} of \`${keyText(runnersKey)}\` is ${typeName(r)}, not a table, and gitlab-runner stops with "incompatible types"`,
          line: lineOf(kl, [runnersKey, idx]),
        });
      }
    });
  }

  checkTable(w, doc, CONFIG_SCHEMA, [], '', [], undefined);

  // document order, as a reader scans the file
  w.out.sort((a, b) => a.line - b.line);
  w.problems.sort((a, b) => a.line - b.line);
  const result: ParsedRunnerConfig = {
    ok: true,
    runnerConfig,
    problems: w.problems,
    globals,
    runners,
    unknownKeys: w.out,
  };
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
    return {
      ok: false,
      runnerConfig: typeof text === 'string' && textLooksLikeRunnerConfig(text),
      error: tomlError(err instanceof RangeError ? err : null),
    };
  }
}

/**
 * The one answer to "is this text a gitlab-runner config.toml?", for the webhook and the CLI:
 * decided from the parsed document with gitlab-runner's key matching (a top-level key that
 * decodes into `runners`, whatever its type, or a global only config.toml has); from the text
 * when it does not parse (an unclosed `[[runners` is a broken runner config).
 */
export function isRunnerConfig(text: string): boolean {
  return parseRunnerConfig(text).runnerConfig;
}
