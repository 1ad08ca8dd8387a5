/**
 * Which GitLab URLs the webhook may contact. Pure.
 *
 * The url in a `[[runners]]` section is written by whoever can create a ConfigMap; the allowlist is
 * written by whoever installs the webhook. A match is decided on the WHATWG-parsed form of both
 * (the parser Node's fetch and http use), never on the raw string, so the tricks that fool string
 * comparison do not apply:
 * - `https://allowed.example@evil.example` has host `evil.example`; any userinfo is refused outright
 *   (it is also a place where people paste credentials, so it is never echoed).
 * - case, IDN (the parser maps Unicode hosts to punycode, so a homograph is a different host),
 *   IPv4 spelled `0x7f.1`, default ports (`:443`) and `..`/`%2e%2e` path segments are normalised
 *   by the parser before we compare.
 * - one trailing dot on the host (`gitlab.example.com.`) names the same DNS host; it is dropped on
 *   both sides so it neither bypasses nor breaks a match.
 * - the path is compared by whole segments: `/gitlab` allows `/gitlab/sub` but not `/gitlab-evil`.
 * - query and fragment are ignored: requests are built from the origin of the allowlist entry and
 *   the normalised path, never by string concatenation on the config value.
 */

export interface GitlabBase {
  /** `https:` or `http:` */
  protocol: string;
  /** lowercase ASCII host without trailing dot; IPv6 in brackets */
  hostname: string;
  /** explicit port, or the scheme default */
  port: number;
  /** path segments, no empty segments */
  segments: string[];
}

const DEFAULT_PORT: Record<string, number> = { 'https:': 443, 'http:': 80 };

/** Parses a GitLab base URL; undefined when it is not a usable http(s) URL without userinfo. */
export function parseBase(raw: string): GitlabBase | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return undefined;
  }
  const defaultPort = DEFAULT_PORT[u.protocol];
  if (defaultPort === undefined) return undefined;
  if (u.username !== '' || u.password !== '') return undefined;
  let hostname = u.hostname.toLowerCase();
  if (hostname.endsWith('.')) hostname = hostname.slice(0, -1);
  if (hostname === '' || hostname.endsWith('.')) return undefined;
  const port = u.port === '' ? defaultPort : Number(u.port);
  const segments = u.pathname.split('/').filter((s) => s !== '');
  return { protocol: u.protocol, hostname, port, segments };
}

/** `https://host[:port]` with the port only when it is not the default. */
export function originOf(b: GitlabBase): string {
  const dflt = DEFAULT_PORT[b.protocol];
  return `${b.protocol}//${b.hostname}${b.port === dflt ? '' : `:${b.port}`}`;
}

/** The base as a URL string without trailing slash: what `api/v4/...` is appended to. */
export function baseUrlOf(b: GitlabBase): string {
  return originOf(b) + (b.segments.length ? '/' + b.segments.join('/') : '');
}

/** Safe to print: no userinfo, query or fragment. Unparseable values are not echoed (they may hold a secret). */
export function displayUrl(raw: string): string {
  const b = parseBase(raw);
  if (b) return baseUrlOf(b);
  try {
    const u = new URL(raw.trim());
    if (u.username !== '' || u.password !== '')
      return `${u.protocol}//(credentials removed)@${u.host}`;
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** The url without its userinfo when it has some (`https://u:p@host/x` → `https://host/x`), else undefined. */
export function withoutCredentials(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (u.username === '' && u.password === '') return undefined;
  u.username = '';
  u.password = '';
  return u.href;
}

export interface Allowlist {
  entries: GitlabBase[];
  /** entries that could not be parsed (shown to the operator at start-up; they never match) */
  invalid: string[];
}

export function compileAllowlist(raw: readonly string[]): Allowlist {
  const entries: GitlabBase[] = [];
  const invalid: string[] = [];
  for (const r of raw) {
    const b = parseBase(r);
    if (b) entries.push(b);
    else invalid.push(displayUrl(r));
  }
  return { entries, invalid };
}

function isUnder(candidate: GitlabBase, allowed: GitlabBase): boolean {
  if (candidate.protocol !== allowed.protocol) return false;
  if (candidate.hostname !== allowed.hostname) return false;
  if (candidate.port !== allowed.port) return false;
  if (candidate.segments.length < allowed.segments.length) return false;
  return allowed.segments.every((s, i) => candidate.segments[i] === s);
}

/**
 * The base to contact for a config url, or undefined when the url is not under an allowlist entry.
 * The origin of the returned base is the allowlist entry's, so the host that is contacted always
 * comes from the operator's list.
 */
export function matchAllowlist(list: Allowlist, rawUrl: string): GitlabBase | undefined {
  const candidate = parseBase(rawUrl);
  if (!candidate) return undefined;
  const hit = list.entries.find((a) => isUnder(candidate, a));
  if (!hit) return undefined;
  let segments = candidate.segments;
  // gitlab-runner trims a trailing "/ci" before appending /api/v4/ (network/client.go fixCIURL),
  // so `url = "https://gitlab.example.com/ci"` talks to https://gitlab.example.com/api/v4/.
  if (segments.length > hit.segments.length && segments[segments.length - 1] === 'ci')
    segments = segments.slice(0, -1);
  return { protocol: hit.protocol, hostname: hit.hostname, port: hit.port, segments };
}
