import { tokenSecretRef } from '../mutation/annotations.js';
import { analyzeWorkload } from '../workload/index.js';

/** The ConfigMaps and Secrets (by name, in the workload's namespace) a review wants read. */
export interface WantedRefs {
  configMaps: string[];
  secrets: string[];
}

/**
 * Which objects the lookups adapter should fetch for a workload: where its `run` config comes
 * from, what feeds its runner containers' env, and the token Secret its annotation names. Pure,
 * and cheap on a second call for the same object (the analysis is shared within a review).
 */
export function wantedRefs(obj: unknown, readSecrets: boolean): WantedRefs {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const a = analyzeWorkload(obj);
  if (a) {
    for (const s of a.referencedConfigSources) (s.kind === 'ConfigMap' ? configMaps : secrets).add(s.name);
    for (const s of a.referencedEnvSources) (s.kind === 'ConfigMap' ? configMaps : secrets).add(s.name);
  }
  const ts = tokenSecretRef(obj);
  if (ts) secrets.add(ts.name);
  return { configMaps: [...configMaps], secrets: readSecrets ? [...secrets] : [] };
}
