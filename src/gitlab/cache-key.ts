/**
 * The verifier's cache (src/util/ttl-cache.ts) is keyed by sha256(base URL + NUL + token): the
 * token itself is never a key, so a heap dump or a debugger shows digests, not secrets.
 */
import { createHash } from 'node:crypto';

export function cacheKey(baseUrl: string, token: string): string {
  return createHash('sha256').update(baseUrl).update('\0').update(token).digest('hex');
}
