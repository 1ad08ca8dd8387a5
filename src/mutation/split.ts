import { keysForField } from '../config/fold.js';
import { parseToml } from '../config/parse.js';

/**
 * The line scanner the injected init step runs (see script.ts), mirrored in TypeScript so the
 * webhook can prove, on the config it read at admission, that the shell split gives exactly the
 * global part and one `[[runners]]` template per runner. Why split at all: `register
 * --template-config` takes exactly one `[[runners]]` and ignores global keys, while `register
 * --config` appends to an existing file (facts §2; gitlab-runner commands/register.go
 * configTemplate.MergeTo: "configuration template must contain exactly one [[runners]] entry").
 *
 * The scanner knows table headers only by shape: a line that is `[name…]` or `[[name…]]`,
 * optionally followed by a comment, whose first character after the brackets is a key character.
 * A multi-line string holding such a line would fool it; verifySplit() catches that by parsing
 * every piece and comparing it with the parse of the whole file.
 */

/** Same language as the script's `grep -nE` (POSIX [[:space:]] = space, \t, \r, \f, \v). */
export const HEADER_ERE = `^[[:space:]]*\\[\\[?[A-Za-z0-9_."'-][^]]*\\]\\]?[[:space:]]*(#.*)?$`;
// `[\s\S]` where grep's `.` is: it also matches the CR of a CRLF line, which JS's `.` does not
const HEADER_RE = /^[ \t\r\f\v]*\[\[?[A-Za-z0-9_."'-][^\]]*\]\]?[ \t\r\f\v]*(#[\s\S]*)?$/;

export interface SplitResult {
  globals: string;
  runners: string[];
}

/** Lines as `sed`/`grep` count them: a final newline does not start another line. */
function lines(text: string): string[] {
  const ls = text.split('\n');
  if (ls.length > 0 && ls[ls.length - 1] === '') ls.pop();
  return ls;
}

/** Mirror of the script's split (keep the two in step; script.test runs both on the same input). */
export function splitConfig(text: string): SplitResult {
  const ls = lines(text);
  const out: { globals: string[]; runners: string[][] } = { globals: [], runners: [] };
  let cur: string[] = out.globals;
  for (const line of ls) {
    if (HEADER_RE.test(line)) {
      const h = line.replace(/[ \t\r]/g, '');
      if (h.startsWith('[[runners]]')) {
        cur = [];
        out.runners.push(cur);
      } else if (h.startsWith('[runners.') || h.startsWith('[[runners.')) {
        // a sub-table of the current section (of the current runner, when there is one)
      } else cur = out.globals;
    }
    cur.push(line);
  }
  const join = (l: string[]) => (l.length ? `${l.join('\n')}\n` : '');
  return { globals: join(out.globals), runners: out.runners.map(join) };
}

/** First `KEY = "value"` among a runner template's own keys (before its first sub-table), as the script's sed reads it. */
export function scriptValue(runnerText: string, key: string): string | undefined {
  const ls = lines(runnerText);
  const re = new RegExp(
    `^[ \\t\\r\\f\\v]*${key}[ \\t\\r\\f\\v]*=[ \\t\\r\\f\\v]*"([^"]*)"[\\s\\S]*$`,
  );
  for (let i = 1; i < ls.length; i++) {
    const l = ls[i]!;
    if (/^[ \t\r\f\v]*\[/.test(l)) break;
    const m = re.exec(l);
    if (m) return m[1];
  }
  return undefined;
}

function canon(v: unknown): string {
  // @iarna/toml gives a BigInt for integers above 2^53, which JSON.stringify refuses.
  return JSON.stringify(v, (_k, x: unknown) =>
    x instanceof Date ? `date:${x.toISOString()}` : typeof x === 'bigint' ? `bigint:${x}` : x,
  );
}

export type SplitCheck =
  | { ok: true; split: SplitResult; runners: { url: string; executor: string; name?: string }[] }
  | { ok: false; reason: string };

/**
 * Does the script's split of `text` reproduce the file exactly (globals, and each runner), and
 * can the script read url/executor/name of each runner? `reason` reads as the end of the
 * sentence "on this config …" (GRA404).
 */
export function verifySplit(text: string): SplitCheck {
  let whole: Record<string, unknown>;
  try {
    whole = parseToml(text);
  } catch {
    return { ok: false, reason: 'the TOML does not parse' };
  }
  // gitlab-runner also reads `[[RUNNERS]]`, `[["runnerſ"]]`, `runners = [{…}]`; the script's
  // split knows only `[[runners]]` headers, so anything else is no safe split
  const other = keysForField(whole, 'runners').find((k) => k !== 'runners');
  if (other !== undefined)
    return {
      ok: false,
      reason: `it names the runners list ${JSON.stringify(other)}, and the init step only splits at \`[[runners]]\` headers`,
    };
  if (whole.runners !== undefined && !Array.isArray(whole.runners))
    return { ok: false, reason: '`runners` is not a list of [[runners]] tables' };
  const wholeRunners = Array.isArray(whole.runners)
    ? (whole.runners as Record<string, unknown>[])
    : [];
  const { runners: _r, ...wholeGlobals } = whole;
  const split = splitConfig(text);
  if (split.runners.length !== wholeRunners.length) {
    return {
      ok: false,
      reason: `it finds ${split.runners.length} [[runners]] headers where the TOML has ${wholeRunners.length}`,
    };
  }
  let g: Record<string, unknown>;
  try {
    g = parseToml(split.globals);
  } catch {
    return {
      ok: false,
      reason:
        'the global part it cuts out is not valid TOML (a header-like line inside a multi-line string?)',
    };
  }
  if (canon(g) !== canon(wholeGlobals))
    return {
      ok: false,
      reason: 'the global part it cuts out differs from the global settings of the file',
    };
  const info: { url: string; executor: string; name?: string }[] = [];
  for (let i = 0; i < split.runners.length; i++) {
    const piece = split.runners[i]!;
    let p: Record<string, unknown>;
    try {
      p = parseToml(piece);
    } catch {
      return {
        ok: false,
        reason: `the template it cuts out for [[runners]] #${i} is not valid TOML`,
      };
    }
    const pr = Array.isArray(p.runners) ? (p.runners as unknown[]) : [];
    if (Object.keys(p).length !== 1 || pr.length !== 1 || canon(pr[0]) !== canon(wholeRunners[i])) {
      return {
        ok: false,
        reason: `the template it cuts out for [[runners]] #${i} differs from that runner in the file`,
      };
    }
    const entry = wholeRunners[i]!;
    const url = scriptValue(piece, 'url');
    const executor = scriptValue(piece, 'executor');
    const name = scriptValue(piece, 'name');
    if (typeof entry.url !== 'string' || entry.url === '' || url !== entry.url) {
      return {
        ok: false,
        reason: `[[runners]] #${i} needs url = "https://…" as a basic string before its sub-tables (register takes --url from it)`,
      };
    }
    if (
      typeof entry.executor !== 'string' ||
      entry.executor === '' ||
      executor !== entry.executor
    ) {
      return {
        ok: false,
        reason: `[[runners]] #${i} needs executor = "…" as a basic string before its sub-tables (register takes --executor from it)`,
      };
    }
    if (entry.name !== undefined && name !== entry.name) {
      return {
        ok: false,
        reason: `[[runners]] #${i} has a name the script cannot read (write name = "…" before its sub-tables)`,
      };
    }
    info.push({ url, executor, ...(name !== undefined ? { name } : {}) });
  }
  return { ok: true, split, runners: info };
}
