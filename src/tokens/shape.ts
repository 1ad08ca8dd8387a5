/**
 * The classifier's core: what kind of value sits in a token slot, plus how many leading
 * characters are a public prefix (safe to print). Pure and linear in the input length:
 * only character loops, `startsWith`/`indexOf`, and anchored single-class regexes.
 *
 * Facts: docs/facts.md §1; sources cited at each form below.
 */
import { crc32Base36 } from './crc.js';
import type { AuthForm, PlaceholderIntent, TokenClass } from './types.js';

export interface TokenShape {
  cls: TokenClass;
  /** leading characters that are a public prefix (GR1348941, glrt-t1_, SIE-glrt-, glpat-) */
  prefixLen: number;
  /** the value has the shape of a real secret (so even a placeholder verdict must not print it whole) */
  realShaped: boolean;
}

/** Longer values are no token GitLab issues (routable: prefix + ≤300 + 13); skip the heuristics. */
export const MAX_CLASSIFIED_LENGTH = 1024;

// ---------------------------------------------------------------------------------------
// character classes

/**
 * Whitespace, control and invisible format characters. Any of these in a token breaks the
 * `RUNNER-TOKEN` header or the token comparison (facts §2, "invalid header field").
 */
export function isInvisible(c: number): boolean {
  return (
    c <= 0x20 ||
    (c >= 0x7f && c <= 0xa0) || // DEL, C1 controls, NBSP
    c === 0xad || // soft hyphen
    c === 0x061c ||
    c === 0x1680 ||
    c === 0x180e ||
    (c >= 0x2000 && c <= 0x200f) || // en/em spaces … zero-width space/joiners, LRM/RLM
    (c >= 0x2028 && c <= 0x202f) ||
    (c >= 0x205f && c <= 0x206f) || // word joiner, invisible operators, bidi isolates
    c === 0x3000 ||
    c === 0xfeff // BOM / zero-width no-break space
  );
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** `[A-Za-z0-9_-]`: Devise friendly_token / base64url alphabet. */
function isTokenChar(c: number): boolean {
  return isAlnum(c) || c === 0x5f || c === 0x2d;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** lowercase base 36 as Ruby `Integer#to_s(36)` writes it */
function isBase36Lower(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);
}

function all(s: string, pred: (c: number) => boolean, from = 0, to = s.length): boolean {
  for (let i = from; i < to; i++) if (!pred(s.charCodeAt(i))) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// placeholders

/** Characters people type for "fill this in": xxx, ****, ..., ___, ???, 0000, ••• */
const FILLER = new Set(['x', 'X', '*', '.', '…', '#', '?', '_', '-', '0', '•', '·']);

/**
 * Words that only a placeholder contains. Used on values that are NOT shaped like a real
 * token, so short words are fine here.
 */
const PLACEHOLDER_WORDS = [
  'token',
  'xxx',
  'replace',
  'change',
  'fake',
  'dummy',
  'example',
  'placeholder',
  'your',
  'secret',
  'redacted',
  'insert',
  'todo',
  'fixme',
  'tbd',
  'sample',
  'paste',
  'here',
  'none',
  'null',
  'undefined',
  'nil',
  'test',
  'demo',
  'default',
  'password',
  'registration',
  'runner',
  'value',
  'generated',
  'n/a',
];

/**
 * Words for values that ARE shaped like a real token (20 chars, glrt- + 20, …). At least five
 * letters, so a random 20-char body contains one with probability below ~1e-6.
 */
const STRONG_WORDS = [
  'token',
  'secret',
  'example',
  'changeme',
  'replace',
  'placeholder',
  'dummy',
  'redacted',
  'registration',
  'runner',
  'sample',
  'insert',
  'yourtoken',
  'xxxxx',
];

function containsAny(lower: string, words: readonly string[]): boolean {
  for (const w of words) if (lower.includes(w)) return true;
  return false;
}

// Not quotes: a quoted real token is a real token with a quoting mistake, not a placeholder.
const WRAPPERS: ReadonlyArray<readonly [string, string]> = [
  ['<', '>'],
  ['[', ']'],
  ['{', '}'],
  ['(', ')'],
  ['%', '%'],
  ['@', '@'],
  ['__', '__'],
];

/**
 * ≤3 distinct characters or a run of 6 equal ones: xxxxxxxx…, abababab…, 0000000…. A random
 * 20-char [A-Za-z0-9_-] body is like this with negligible probability, so such a value is
 * safe to print whole.
 */
export function isLowDiversity(body: string): boolean {
  if (body.length === 0) return true;
  const distinct = new Set<string>();
  let run = 1;
  let maxRun = 1;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (distinct.size <= 3) distinct.add(ch);
    if (i > 0) {
      run = ch === body[i - 1] ? run + 1 : 1;
      if (run > maxRun) maxRun = run;
    }
  }
  return distinct.size <= 3 || maxRun >= 6;
}

/** A real token body that is obviously made up: xxxxxx…, aaaa…, "YOUR_RUNNER_TOKEN_XX". */
function isFakeBody(body: string): boolean {
  return isLowDiversity(body) || containsAny(body.toLowerCase(), STRONG_WORDS);
}

const QUOTES: ReadonlyArray<readonly [string, string]> = [
  ['"', '"'],
  ["'", "'"],
  ['`', '`'],
  ['<', '>'],
  ['[', ']'],
  ['(', ')'],
  ['{', '}'],
];

/** Long, token-alphabet, mixed character classes: might be a secret of a kind we don't know. */
export function looksSecret(value: string): boolean {
  let s = value;
  // `"glrt-…"` with literal quotes is a secret with a quoting mistake
  for (const [open, close] of QUOTES) {
    if (s.length > 2 && s.startsWith(open) && s.endsWith(close)) {
      s = s.slice(1, -1);
      break;
    }
  }
  if (s.length < 16 || s.length > 512) return false;
  let lower = 0;
  let upper = 0;
  let digit = 0;
  const distinct = new Set<number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) lower = 1;
    else if (c >= 0x41 && c <= 0x5a) upper = 1;
    else if (c >= 0x30 && c <= 0x39) digit = 1;
    // base64, base64url, base32, hex, JWT-ish and routable separators
    else if (!'_-.=+/~:'.includes(String.fromCharCode(c))) return false;
    if (distinct.size < 8) distinct.add(c);
  }
  return lower + upper + digit >= 2 && distinct.size >= 8;
}

/**
 * Is this (non-real-shaped) value a stand-in for a token? TOKEN, xxx, ****, <token>,
 * [TOKEN], {TOKEN-Runner}, YOUR_REGISTRATION_TOKEN, REPLACE_ME, changeme, FAKE-TOKEN, …
 */
export function isPlaceholderText(s: string): boolean {
  if (s.length === 0) return true;
  if (s.length > 256) return false;
  if (all(s, (c) => FILLER.has(String.fromCharCode(c)))) return true;
  const core = s.startsWith('$') ? s.slice(1) : s;
  for (const [open, close] of WRAPPERS) {
    if (
      core.length >= open.length + close.length + 1 &&
      core.startsWith(open) &&
      core.endsWith(close)
    ) {
      // "<glrt-…>" around a real token is still a real token: it would be printed whole
      if (!looksSecret(core.slice(open.length, core.length - close.length))) return true;
    }
  }
  const lower = s.toLowerCase();
  // a long random-looking value must not be called a placeholder because "nil" or "here"
  // happens to occur in it: it would then be printed whole
  return containsAny(lower, looksSecret(s) ? STRONG_WORDS : PLACEHOLDER_WORDS);
}

/** What the placeholder stands for, judged by its words. */
export function placeholderIntent(s: string): PlaceholderIntent {
  const lower = s.toLowerCase();
  // "<auto-generated-during-registration>": the token that registration produces, i.e. the
  // authentication token, although the text says "registration"
  if (lower.includes('generat')) return 'auth';
  // the noun asks for a registration token; the verb ("Run gitlab-runner register") says how to
  // get an authentication token, so it only counts when nothing else names the kind
  if (
    lower.includes('registration') ||
    /regist(?:er)?[\s_-]*tok/.test(lower) ||
    /\breg[_-]?tok/.test(lower)
  )
    return 'registration';
  if (
    lower.includes('runner') ||
    lower.includes('auth') ||
    lower.includes('glrt') ||
    lower.includes('ci_server_token')
  ) {
    return 'auth';
  }
  if (lower.includes('regist')) return 'registration';
  return 'unknown';
}

// ---------------------------------------------------------------------------------------
// env references

const ENV_BRACED = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const ENV_BARE = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;
// Kubernetes `$(VAR)` in command/args; its names may hold '.' and '-'
const ENV_K8S = /^\$\(([A-Za-z_.-][A-Za-z0-9_.-]*)\)$/;

function envReference(v: string): string | undefined {
  if (v.charCodeAt(0) !== 0x24 || v.length > 256) return undefined;
  const m = ENV_BRACED.exec(v) ?? ENV_BARE.exec(v) ?? ENV_K8S.exec(v);
  return m?.[1];
}

// ---------------------------------------------------------------------------------------
// routable tokens

/**
 * Routable token layout, from gitlab `lib/authn/token_field/generator/routable_token.rb`
 * (read at gitlabhq/gitlabhq 1de0121c; the versionless layout at de09f039):
 *
 *   encoded = prefix + base64url_nopad(random16 + routing_payload + [payload.size].pack('C'))
 *             + "." + "01" + "."                       # TOKEN_VERSION 1, to_s(36).rjust(2,'0')
 *             + base64_payload.size.to_s(36).rjust(2, '0')
 *   token   = encoded + Zlib.crc32(encoded).to_s(36).rjust(7, '0')
 *
 * So the CRC covers everything before the last 7 characters, prefix (including any
 * instance prefix) and separators included; the 2 base-36 digits are the length of the
 * base64 payload, which is the tail of the segment before the first '.'
 * (`decoders/v1/routable_payload.rb`: `prefixed_base64_payload[-len.to_i(36)..]`).
 * The older layout is the same without ".01." (and random bytes after the payload).
 */
export interface RoutableParts {
  version: 'v1' | 'legacy';
  /** what precedes the base64 payload per the encoded length, or undefined if the length does not fit */
  prefix: string | undefined;
  payloadLength: number;
  crcValid: boolean;
}

export function parseRoutable(v: string): RoutableParts | undefined {
  const n = v.length;
  if (n < 11 || v.charCodeAt(n - 10) !== 0x2e /* . */) return undefined;
  if (!all(v, isBase36Lower, n - 9, n)) return undefined;
  let headEnd = n - 10;
  let version: RoutableParts['version'] = 'legacy';
  if (headEnd >= 3 && v.startsWith('.01', headEnd - 3)) {
    version = 'v1';
    headEnd -= 3;
  }
  if (headEnd === 0 || !all(v, isTokenChar, 0, headEnd)) return undefined;
  const payloadLength = parseInt(v.slice(n - 9, n - 7), 36);
  const prefix =
    payloadLength >= 1 && payloadLength <= headEnd
      ? v.slice(0, headEnd - payloadLength)
      : undefined;
  const crcValid = crc32Base36(v.slice(0, n - 7)) === v.slice(n - 7);
  return { version, prefix, payloadLength, crcValid };
}

// ---------------------------------------------------------------------------------------
// runner tokens

type Scope = 'instance' | 'group' | 'project';
const SCOPES: Record<string, Scope> = { '1': 'instance', '2': 'group', '3': 'project' };

/** `t1_`/`t2_`/`t3_` at i: runner type 1 instance, 2 group, 3 project (facts §1; gitlab `Ci::Runner#partition_id_prefix_in_16_bit_encode`). */
function scopeAt(v: string, i: number): Scope | undefined {
  if (v.charCodeAt(i) !== 0x74 /* t */ || v.charCodeAt(i + 2) !== 0x5f /* _ */) return undefined;
  return SCOPES[v.charAt(i + 1)];
}

/** friendly_token bodies are 20 chars; accept near lengths too so a token from a future or
 * custom-length generator still counts as what its prefix says (prefix is authoritative). */
const LENIENT_MIN = 16;
const LENIENT_MAX = 64;

function placeholder(
  intent: PlaceholderIntent,
  prefixLen: number,
  realShaped: boolean,
): TokenShape {
  return { cls: { kind: 'placeholder', intent }, prefixLen, realShaped };
}

/**
 * A registration or runner authentication token starting at offset `o` (o > 0: after an
 * instance prefix). The prefix decides; the body must fit or be obviously fake.
 */
function runnerAt(v: string, o: number): TokenShape | undefined {
  // Registration: `GR1348941` (GR + 20220225 in hex, gitlab `RunnersTokenPrefixable`) + 20;
  // the runner itself accepts any `GR` + 7 hex as the prefix (helpers/shorten_token.go).
  if (v.startsWith('GR', o) && all(v, isHex, o + 2, o + 9) && v.length >= o + 9) {
    const p = o + 9;
    const body = v.slice(p);
    const len = body.length;
    if (all(body, isTokenChar) && (len === 20 || (len >= LENIENT_MIN && len <= LENIENT_MAX))) {
      if (isFakeBody(body)) return placeholder('registration', p, true);
      return { cls: { kind: 'registration', form: 'prefixed' }, prefixLen: p, realShaped: true };
    }
    if (isPlaceholderText(body)) return placeholder('registration', p, false);
    return undefined;
  }

  // Authentication: `^glrt-(t[123]_)?|^t[123]_|^glrtr-` (gitlab-runner helpers/shorten_token.go,
  // facts §1); GitLab `Authn::Tokens::RunnerAuthenticationToken.prefix?` lists the same.
  let p: number;
  let base: 'glrt' | 'glrtr' | 'scoped';
  if (v.startsWith('glrtr-', o)) {
    p = o + 6;
    base = 'glrtr';
  } else if (v.startsWith('glrt-', o)) {
    p = o + 5;
    base = 'glrt';
  } else if (o === 0 && scopeAt(v, 0)) {
    p = 0;
    base = 'scoped';
  } else {
    return undefined;
  }
  let scope = scopeAt(v, p);
  if (scope) p += 3;
  const body = v.slice(p);

  if (base !== 'scoped' && body.includes('.')) {
    const r = parseRoutable(v);
    if (r) {
      // the encoded length says where the payload starts; trust it over a literal "t1_"
      // that might just be the payload's first bytes
      if (r.prefix !== undefined) {
        const declared = r.prefix.endsWith('_')
          ? scopeAt(r.prefix, r.prefix.length - 3)
          : undefined;
        scope = declared;
        if (r.prefix.length <= p) p = r.prefix.length;
      }
      const form: AuthForm =
        o > 0 ? 'instance-prefixed' : r.version === 'v1' ? 'routable' : 'routable-legacy';
      const cls: TokenClass = { kind: 'auth', form, crcValid: r.crcValid };
      if (scope) cls.scope = scope;
      return { cls, prefixLen: p, realShaped: true };
    }
    // glrt- + base64 + dots that do not end in a well-formed length/CRC: a routable token cut
    // short or mangled. Still an authentication token by its prefix, and it fails the check.
    if (body.length >= LENIENT_MIN && all(body, (c) => isTokenChar(c) || c === 0x2e)) {
      const form: AuthForm =
        o > 0 ? 'instance-prefixed' : body.includes('.01.') ? 'routable' : 'routable-legacy';
      const cls: TokenClass = { kind: 'auth', form, crcValid: false };
      if (scope) cls.scope = scope;
      return { cls, prefixLen: p, realShaped: true };
    }
  }

  const len = body.length;
  const fits =
    base === 'scoped' ? len === 20 : len === 20 || (len >= LENIENT_MIN && len <= LENIENT_MAX);
  if (fits && all(body, isTokenChar)) {
    if (isFakeBody(body)) return placeholder('auth', p, true);
    let form: AuthForm;
    if (o > 0) form = 'instance-prefixed';
    else if (base === 'scoped') form = 'scoped';
    else if (base === 'glrtr') form = 'glrtr';
    else form = scope ? 'glrt-scoped' : 'glrt';
    const cls: TokenClass = { kind: 'auth', form };
    if (scope) cls.scope = scope;
    return { cls, prefixLen: p, realShaped: true };
  }
  if (isPlaceholderText(body)) return placeholder('auth', p, false);
  return undefined;
}

// ---------------------------------------------------------------------------------------
// other GitLab tokens

/**
 * Prefixes of GitLab tokens that are not runner tokens. GitLab docs "Token prefixes"
 * (doc/security/tokens/_index.md) and gitlab-runner
 * `common/buildlogger/internal/tokensanitizer/token_masker.go` (which adds `gltok-`).
 */
export const OTHER_GITLAB_PREFIXES: ReadonlyArray<readonly [prefix: string, name: string]> = [
  ['glpat-', 'personal access token'], // also project/group access and impersonation tokens
  ['gloas-', 'OAuth application secret'],
  ['gldt-', 'deploy token'],
  ['glcbt-', 'CI/CD job token'],
  ['glptt-', 'pipeline trigger token'],
  ['glft-', 'feed token'],
  ['glimt-', 'incoming mail token'],
  ['glagent-', 'GitLab agent for Kubernetes token'],
  ['glsoat-', 'SCIM token'],
  ['glffct-', 'feature flags client token'],
  ['glwt-', 'workspace token'],
  ['gltok-', 'GitLab token'], // listed by the runner's masker; the docs do not name its kind
  ['_gitlab_session=', 'GitLab session cookie'],
];

function otherAt(v: string, o: number): TokenShape | undefined {
  for (const [prefix, name] of OTHER_GITLAB_PREFIXES) {
    if (!v.startsWith(prefix, o)) continue;
    const p = o + prefix.length;
    const body = v.slice(p);
    const realShaped = body.length >= LENIENT_MIN;
    if (realShaped ? isFakeBody(body) : isPlaceholderText(body))
      return placeholder('unknown', p, realShaped);
    return { cls: { kind: 'other-gitlab', prefix, name }, prefixLen: p, realShaped: true };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------

/**
 * Classify a value that has already been trimmed and stripped of invisible characters.
 */
export function tokenShape(v: string): TokenShape {
  if (v.length === 0) return { cls: { kind: 'empty' }, prefixLen: 0, realShaped: false };
  if (v.length > MAX_CLASSIFIED_LENGTH)
    return { cls: { kind: 'unknown', looksSecret: false }, prefixLen: 0, realShaped: false };

  const variable = envReference(v);
  if (variable !== undefined)
    return { cls: { kind: 'env-reference', variable }, prefixLen: 0, realShaped: false };

  // A runner prefix decides, except that a 20-char legacy token may start with `t1_` or
  // `GR`+7 hex by chance; `GR1348941` and `glrt` are never chance.
  const runner = runnerAt(v, 0);
  if (
    runner &&
    (runner.cls.kind !== 'placeholder' || v.startsWith('GR1348941') || v.startsWith('glrt'))
  )
    return runner;

  // Legacy, unprefixed. 30 hex: `SecureRandom.hex(15)`, the pre-friendly-token runner token
  // (gitlab `app/models/ci/runner.rb` of GitLab 10.x, `set_default_values`).
  if (v.length === 30 && all(v, isHex)) {
    if (isFakeBody(v)) return placeholder(placeholderIntent(v), 0, true);
    return { cls: { kind: 'auth', form: 'legacy-hex30' }, prefixLen: 0, realShaped: true };
  }
  // 20 chars: registration token before GR1348941, or authentication token before glrt-;
  // only `POST /api/v4/runners/verify` can tell (facts §1).
  if (v.length === 20 && all(v, isTokenChar)) {
    if (isFakeBody(v)) return placeholder(placeholderIntent(v), 0, true);
    return {
      cls: { kind: 'legacy-ambiguous', hex: all(v, isHex) },
      prefixLen: 0,
      realShaped: true,
    };
  }

  if (runner) return runner;
  const other = otherAt(v, 0);
  if (other) return other;

  // Instance prefix: `"#{instance_prefix}-#{prefix}"` behind the `custom_prefix_for_all_token_types`
  // feature flag (gitlab `lib/authn/token_field/prefix_helper.rb`).
  const limit = Math.min(v.length - 1, 64);
  for (let i = 1; i < limit; i++) {
    const c = v.charCodeAt(i);
    if (!isTokenChar(c)) break;
    if (c !== 0x2d) continue;
    // registration tokens have a fixed prefix; `GR`+7 hex after a dash is chance
    if (v.startsWith('GR', i + 1) && !v.startsWith('GR1348941', i + 1)) continue;
    const found = runnerAt(v, i + 1) ?? otherAt(v, i + 1);
    if (found) return found;
  }

  if (isPlaceholderText(v)) return placeholder(placeholderIntent(v), 0, false);
  return { cls: { kind: 'unknown', looksSecret: looksSecret(v) }, prefixLen: 0, realShaped: false };
}
