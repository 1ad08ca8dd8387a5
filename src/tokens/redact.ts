/**
 * Safe-to-print forms of token values. House rule: a token never appears whole in a
 * message, log, metric or error; at most its public prefix and its last 4 characters.
 */
import {
  OTHER_GITLAB_PREFIXES,
  tokenShape,
  isInvisible,
  isLowDiversity,
  looksSecret,
  type TokenShape,
} from './shape.js';
import type { AuthForm, TokenClass } from './types.js';

/** Below this many secret characters, even the last 4 would give away too much. */
const MIN_SECRET_TO_SHOW_TAIL = 12;
/** Placeholders and env references are shown whole up to this many characters. */
const MAX_SHOWN = 40;
/** An instance prefix longer than this is shown cut (it is admin text, not secret, but unbounded). */
const MAX_PREFIX_SHOWN = 32;

/** Names for the invisible characters people actually paste. */
const CHAR_NAMES: Record<number, string> = {
  0x09: 'tab (\\t)',
  0x0a: 'newline (\\n)',
  0x0d: 'carriage return (\\r)',
  0x20: 'space',
  0xa0: 'non-breaking space (U+00A0)',
  0x200b: 'zero-width space (U+200B)',
  0x200c: 'zero-width non-joiner (U+200C)',
  0x200d: 'zero-width joiner (U+200D)',
  0x2060: 'word joiner (U+2060)',
  0xfeff: 'byte-order mark (U+FEFF)',
};

function hex4(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}

export function describeChar(c: number): string {
  return CHAR_NAMES[c] ?? `U+${hex4(c)}`;
}

/** Control, whitespace and invisible characters as escapes, so a printed value shows them. */
export function escapeInvisible(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20) out += ' ';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (isInvisible(c)) out += `\\u${hex4(c)}`;
    else out += s[i];
  }
  return out;
}

function showWhole(trimmed: string): string {
  const cut = trimmed.length > MAX_SHOWN ? `${trimmed.slice(0, MAX_SHOWN)}…` : trimmed;
  return escapeInvisible(cut);
}

/**
 * @param compact  the value trimmed and with inner invisible characters removed (what `a` classified)
 * @param trimmed  the value trimmed only (placeholders are shown as written)
 */
export function redactAnalysis(a: TokenShape, compact: string, trimmed: string): string {
  const { cls } = a;
  if (cls.kind === 'empty') return '(empty)';
  if (cls.kind === 'env-reference') return showWhole(trimmed);
  // a placeholder verdict on something shaped like a secret is a guess: do not bet a token on it
  if (cls.kind === 'placeholder') {
    if (a.realShaped ? isLowDiversity(compact.slice(a.prefixLen)) : !looksSecret(compact))
      return showWhole(trimmed);
  }

  const prefixLen = Math.min(a.prefixLen, compact.length);
  let prefix = compact.slice(0, prefixLen);
  if (prefix.length > MAX_PREFIX_SHOWN) prefix = `${prefix.slice(0, MAX_PREFIX_SHOWN - 1)}…`;
  const secretLen = compact.length - prefixLen;
  if (compact.length < MIN_SECRET_TO_SHOW_TAIL || secretLen < MIN_SECRET_TO_SHOW_TAIL) {
    return prefixLen > 0 && compact.length >= MIN_SECRET_TO_SHOW_TAIL
      ? `${prefix}…(${secretLen} chars)`
      : `(${compact.length} chars)`;
  }
  return `${prefix}…${compact.slice(-4)}`;
}

/** Trim invisible characters from both ends; also report where they were. */
export function splitWhitespace(raw: string): {
  trimmed: string;
  compact: string;
  start: number;
  end: number;
  inner: boolean;
} {
  let start = 0;
  let end = raw.length;
  while (start < end && isInvisible(raw.charCodeAt(start))) start++;
  while (end > start && isInvisible(raw.charCodeAt(end - 1))) end--;
  const trimmed = raw.slice(start, end);
  let inner = false;
  for (let i = 0; i < trimmed.length; i++) {
    if (isInvisible(trimmed.charCodeAt(i))) {
      inner = true;
      break;
    }
  }
  let compact = trimmed;
  if (inner) {
    compact = '';
    for (let i = 0; i < trimmed.length; i++)
      if (!isInvisible(trimmed.charCodeAt(i))) compact += trimmed[i];
  }
  return { trimmed, compact, start, end, inner };
}

/**
 * Known prefix + "…" + last 4 characters; "(N chars)" when the secret part is too short to
 * show any of it; placeholders and env references whole (≤40 chars, invisibles escaped).
 *
 * `cls` is accepted so callers can pass what `classifyToken` returned, but the value is
 * analysed again (linear, cheap): a wrong or stale `cls` must never make a token print whole.
 */
export function redactToken(value: string, _cls?: TokenClass): string {
  const { trimmed, compact } = splitWhitespace(value);
  return redactAnalysis(tokenShape(compact), compact, trimmed);
}

// ---------------------------------------------------------------------------------------

const SCOPE_DIGIT = { instance: '1', group: '2', project: '3' } as const;

function scopeText(scope: 'instance' | 'group' | 'project' | undefined): string {
  return scope ? `, ${scope} runner` : '';
}

function authPrefix(form: AuthForm, scope: 'instance' | 'group' | 'project' | undefined): string {
  const t = scope ? `t${SCOPE_DIGIT[scope]}_` : '';
  switch (form) {
    case 'glrt':
      return 'glrt-';
    case 'glrt-scoped':
      return `glrt-${t || 't1_'}`;
    case 'scoped':
      return t || 't1_';
    case 'glrtr':
      return `glrtr-${t}`;
    case 'routable':
    case 'routable-legacy':
      return `glrt-${t}`;
    case 'instance-prefixed':
      return `…-glrt-${t}`;
    case 'legacy-hex30':
      return '';
  }
}

function article(noun: string): string {
  return /^[aeiouAEIOU]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** A short phrase for messages: "a registration token (GR1348941…)", "a placeholder". */
export function describeToken(cls: TokenClass): string {
  switch (cls.kind) {
    case 'empty':
      return 'an empty value';
    case 'env-reference':
      return `a reference to the environment variable ${cls.variable}`;
    case 'placeholder':
      if (cls.intent === 'registration') return 'a placeholder for a registration token';
      if (cls.intent === 'auth') return 'a placeholder for a runner authentication token';
      return 'a placeholder';
    case 'registration':
      return 'a registration token (GR1348941…)';
    case 'legacy-ambiguous':
      return `an unprefixed legacy token (${cls.hex ? '20 hex characters' : '20 characters'}; registration or authentication, only GitLab can tell)`;
    case 'auth': {
      if (cls.form === 'legacy-hex30')
        return 'a legacy runner authentication token (30 hex characters)';
      const prefix = authPrefix(cls.form, cls.scope);
      const routable = cls.form === 'routable' || cls.form === 'routable-legacy';
      const crc = cls.crcValid === false ? ', with a wrong checksum: mistyped or cut short' : '';
      const what =
        cls.form === 'instance-prefixed'
          ? 'a runner authentication token with an instance prefix'
          : routable
            ? 'a routable runner authentication token'
            : 'a runner authentication token';
      return `${what} (${prefix}${scopeText(cls.scope)}${crc})`;
    }
    case 'other-gitlab':
      return `${article(cls.name)} (${cls.prefix})`;
    case 'unknown':
      return cls.looksSecret ? 'an unrecognised secret-looking value' : 'an unrecognised value';
  }
}

// ---------------------------------------------------------------------------------------
// token-shaped substrings of free text

/** Prefixes that mark a token wherever they start (never chance in a name). */
const STRONG_PREFIXES = [
  'GR1348941',
  'glrtr-',
  'glrt-',
  ...OTHER_GITLAB_PREFIXES.map(([p]) => p).filter((p) => /^[A-Za-z0-9_.-]+$/.test(p)),
];
/** Prefixes that could occur in an identifier (`test1_…`): only with a secret-looking body. */
const WEAK_PREFIXES = ['t1_', 't2_', 't3_'];
/** The characters a token (routable ones included) is made of; text is cut into runs of these. */
const RUN = /[A-Za-z0-9_.-]{16,}/g;
/** No token is shorter than this (friendly_token bodies are 20, lenient 16). */
const MIN_BODY = 16;

function mask(prefix: string, body: string): string {
  return body.length >= MIN_SECRET_TO_SHOW_TAIL
    ? `${prefix}…${body.slice(-4)}`
    : `${prefix}…(${body.length} chars)`;
}

function classes(s: string): { lower: number; upper: number; digit: number } {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) lower++;
    else if (c >= 0x41 && c <= 0x5a) upper++;
    else if (c >= 0x30 && c <= 0x39) digit++;
  }
  return { lower, upper, digit };
}

/** camelCase / PascalCase words of 3+ letters each: `volumeMounts`, `DockerMachineAutoscaling` */
const CAMEL = /^(?:[a-z]{2,}|[A-Z][a-z]{2,})(?:[A-Z][a-z]{2,})*$/;

/** 20+ hex characters with letters and digits: a legacy `SecureRandom.hex` token (or a digest). */
const HEX_RUN = /[0-9a-fA-F]{20,}/;

/** One run of token characters: mask a prefixed token to its end, or the whole run when it is a bare secret. */
function redactRun(run: string): string {
  // beyond looksSecret's 512 there is no telling; such a run in a message is masked whole (and
  // the prefix search below stays linear)
  if (run.length > 512) return mask('', run);
  let at = -1;
  let plen = 0;
  for (const p of STRONG_PREFIXES) {
    const i = run.indexOf(p);
    if (i >= 0 && (at < 0 || i < at)) {
      at = i;
      plen = p.length;
    }
  }
  for (const p of WEAK_PREFIXES) {
    for (let i = run.indexOf(p); i >= 0 && (at < 0 || i < at); i = run.indexOf(p, i + 1)) {
      if (looksSecret(run.slice(i + p.length))) {
        at = i;
        plen = p.length;
        break;
      }
    }
  }
  if (at >= 0 && run.length - at - plen >= 1) {
    const left = run.slice(0, at);
    let prefix = run.slice(at, at + plen);
    const rest = run.slice(at + plen);
    // `glrt-t1_…`: keep the scope, it is public
    const scope = /^t[123]_/.exec(rest)?.[0] ?? '';
    prefix += scope;
    return (
      (left.length >= MIN_BODY ? redactRun(left) : left) + mask(prefix, rest.slice(scope.length))
    );
  }
  const hex = HEX_RUN.exec(run);
  if (hex && /[a-fA-F]/.test(hex[0]) && /[0-9]/.test(hex[0])) return mask('', run);
  // A friendly_token (base64url, 20 chars) mixes cases at random; the mixed-case names people
  // and Kubernetes write are camelCase words (`initContainers`, `secretKeyRef`), which a random
  // body matches with probability below 1e-6. One case and digits in a 16+ character piece is a
  // token too (pod-hash suffixes and DNS labels come in short pieces).
  if (!looksSecret(run)) return run;
  for (const seg of run.split(/[-._]/)) {
    const k = classes(seg);
    if (seg.length >= 4 && k.lower > 0 && k.upper > 0 && !CAMEL.test(seg)) return mask('', run);
    // a long camelCase word is a name (`runnerRegistrationToken`), not a token: see CAMEL above
    if (
      seg.length >= MIN_BODY &&
      !CAMEL.test(seg) &&
      (k.lower > 0 ? 1 : 0) + (k.upper > 0 ? 1 : 0) + (k.digit > 0 ? 1 : 0) >= 2
    )
      return mask('', run);
  }
  return run;
}

/**
 * Every token-shaped substring of a user-controlled string (a runner name, a data key, an unknown
 * key, an object name, an annotation) masked as the rest of the product masks tokens: public
 * prefix, "…" and at most the last 4 characters. Text without such a substring is returned as is.
 * Linear: one regex pass, and each run is scanned a bounded number of times.
 */
export function redactSecrets(text: string): string {
  if (typeof text !== 'string' || text.length < MIN_BODY) return text;
  return text.replace(RUN, redactRun);
}
