/**
 * What a string in a token slot is. Facts: docs/facts.md §1 (gitlab-runner
 * helpers/shorten_token.go, GitLab "Token prefixes" docs).
 */
export type AuthForm =
  | 'glrt' // glrt- + 20 (GitLab 15.10+, created in UI/API)
  | 'glrt-scoped' // glrt-t1_/t2_/t3_ + 20 (created runners, 2024-10+)
  | 'scoped' // t1_/t2_/t3_ + 20 (registered through a registration token, 2024-10+)
  | 'glrtr' // glrtr- (registered through a registration token, 2025-03+)
  | 'routable' // glrt(r)?-<base64url>.01.<len2><crc7>
  | 'routable-legacy' // glrt(r)?-<base64url>.<len2><crc7> (no .01.)
  | 'instance-prefixed' // <prefix>glrt-… (feature flag)
  | 'legacy-hex30'; // 30 hex, no prefix (pre-10.x auth token)

export type PlaceholderIntent = 'registration' | 'auth' | 'unknown';

export type TokenClass =
  | { kind: 'empty' }
  | { kind: 'env-reference'; variable: string } // ${VAR}, $VAR, $(VAR)
  | { kind: 'placeholder'; intent: PlaceholderIntent } // TOKEN, xxx, ****, <token>, [TOKEN], YOUR_REGISTRATION_TOKEN …
  | { kind: 'registration'; form: 'prefixed' } // GR1348941 + 20
  | { kind: 'legacy-ambiguous'; hex: boolean } // 20 chars unprefixed: legacy registration OR legacy auth, only GitLab can tell
  | { kind: 'auth'; form: AuthForm; scope?: 'instance' | 'group' | 'project'; crcValid?: boolean }
  | { kind: 'other-gitlab'; prefix: string; name: string } // glpat- personal access token, …
  /** looksSecret: long, token-alphabet, mixed-class value; treat as a secret (never print it) */
  | { kind: 'unknown'; looksSecret?: boolean };

export interface Classification {
  cls: TokenClass;
  /** the value with surrounding whitespace removed; never print it, use `redacted` */
  value: string;
  /** true when the raw value had whitespace/newlines around it (breaks the RUNNER-TOKEN header) */
  surroundingWhitespace: boolean;
  /** true when whitespace or control characters sit inside the value */
  innerWhitespace: boolean;
  /** safe to print, e.g. "trailing newline (\\n)"; set when either whitespace flag is true */
  whitespaceDetail?: string;
  /** safe to print: known prefix + "…" + last 4 at most; placeholders may be shown whole */
  redacted: string;
}
