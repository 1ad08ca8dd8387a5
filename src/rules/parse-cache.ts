import { parseRunnerConfig, type ParsedRunnerConfig } from '../config/index.js';

/**
 * Parse results of recent config.toml texts, keyed by the content itself (a Map hashes the string
 * once): the same content comes back constantly — apply after a dry-run, GitOps controllers
 * re-applying on every sync, validate after mutate, and every runner container of one workload
 * reading the same looked-up config. Bounded in entries and in the size of a text kept; results
 * are shared, so callers treat them as read-only (they all do: rules only read).
 * `npm run bench` reports distinct and repeated content separately, so this cannot flatter it.
 */

const ENTRIES = 64;
const MAX_TEXT = 64 * 1024;
const cache = new Map<string, ParsedRunnerConfig>();

export function parseRunnerConfigCached(text: string): ParsedRunnerConfig {
  if (text.length > MAX_TEXT) return parseRunnerConfig(text);
  const hit = cache.get(text);
  if (hit) {
    // least recently used goes first: move the hit to the end
    cache.delete(text);
    cache.set(text, hit);
    return hit;
  }
  const parsed = parseRunnerConfig(text);
  cache.set(text, parsed);
  if (cache.size > ENTRIES) cache.delete(cache.keys().next().value!);
  return parsed;
}
