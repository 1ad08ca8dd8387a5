/**
 * Questions rules ask about a classified token (docs/tokens.md: which forms are runner
 * authentication tokens, and what the webhook must treat as a secret).
 */
import type { TokenClass } from './types.js';

/**
 * A token with a GitLab prefix (GR1348941…, glrt-…, glpat-…): recognisable as a secret wherever
 * it sits, even outside a token slot.
 */
export function isPrefixedToken(cls: TokenClass): boolean {
  return cls.kind === 'registration' || cls.kind === 'auth' || cls.kind === 'other-gitlab';
}

/** A form GitLab issues: prefixed, or an unprefixed legacy runner token only GitLab can place. */
export function isGitlabToken(cls: TokenClass): boolean {
  return isPrefixedToken(cls) || cls.kind === 'legacy-ambiguous';
}

/**
 * Anything in a token slot that may be a real secret: a GitLab form, or an unrecognised value
 * with the shape of a random secret. Where it sits (a ConfigMap, a plain env `value`) matters,
 * and it must never be printed whole.
 */
export function isRealToken(cls: TokenClass): boolean {
  return isGitlabToken(cls) || (cls.kind === 'unknown' && cls.looksSecret === true);
}

/**
 * Nothing a runner could authenticate with: empty or a placeholder. Not `env-reference`:
 * since runner 18.10 `token = "${RUNNER_TOKEN}"` is expanded from the environment (docs/tokens.md),
 * so whether it works depends on the container's env, which the caller has to look at.
 */
export function isPlaceholderLike(cls: TokenClass): boolean {
  return cls.kind === 'empty' || cls.kind === 'placeholder';
}
