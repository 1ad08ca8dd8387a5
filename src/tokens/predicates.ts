/**
 * Questions rules ask about a classified token. Facts: SPEC §1 (which kinds are runner
 * authentication tokens) and §5 (what the webhook must treat as a secret).
 */
import type { TokenClass } from './types.js';

/**
 * A runner authentication token by its shape: glrt-, glrt-tN_, tN_, glrtr-, routable,
 * instance-prefixed, legacy 30 hex. A routable token with a wrong checksum is still one
 * (a damaged one; check `crcValid`). Unprefixed 20-char tokens are NOT included: only GitLab
 * can tell (`legacy-ambiguous`).
 */
export function isAuthToken(cls: TokenClass): boolean {
  return cls.kind === 'auth';
}

/** A prefixed registration token (GR1348941…). Unprefixed legacy ones are `legacy-ambiguous`. */
export function isRegistrationToken(cls: TokenClass): boolean {
  return cls.kind === 'registration';
}

/**
 * Anything that may be a real secret: where it sits (a ConfigMap, a plain env `value`)
 * matters, and it must never be printed whole.
 */
export function isRealToken(cls: TokenClass): boolean {
  switch (cls.kind) {
    case 'registration':
    case 'legacy-ambiguous':
    case 'auth':
    case 'other-gitlab':
      return true;
    case 'unknown':
      return cls.looksSecret === true;
    default:
      return false;
  }
}

/**
 * Nothing a runner could authenticate with: empty or a placeholder. Not `env-reference`:
 * since runner 18.10 `token = "${RUNNER_TOKEN}"` is expanded from the environment (SPEC §2),
 * so whether it works depends on the container's env, which the caller has to look at.
 */
export function isPlaceholderLike(cls: TokenClass): boolean {
  return cls.kind === 'empty' || cls.kind === 'placeholder';
}
