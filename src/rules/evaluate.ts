import type { ParsedRunnerConfig } from '../config/types.js';
import { parseRunnerConfigCached } from './parse-cache.js';
import { refOf } from '../findings/ref.js';
import type { Finding, ObjectRef } from '../findings/types.js';
import type { ResolvedRefs } from '../workload/types.js';
import { analyzeWorkload } from '../workload/index.js';
import type { Location } from './rule.js';
import { checkRunnerConfig, type ConfigStorage } from './config/check.js';
import { configMapEntries, secretEntries, type DataEntry } from './data.js';
import { checkSecretEntries, hasChartKeys } from './secret/check.js';
import { checkGitopsObject, GITOPS_KINDS } from './chartvalues/gitops.js';
import { workloadFindingsFor } from './workload/index.js';
import { isRecord } from '../util/is-record.js';
import { WORKLOAD_KINDS } from '../runner/facts.js';

/**
 * The single entry from "a Kubernetes object" to "its findings". The webhook and the CLI
 * both call this, so they cannot disagree. Pure: anything fetched from the cluster comes in
 * through `resolved`.
 */

/** A runner URL + token pair found in a config, for online verification (issue 6). */
export interface Credential {
  url: string;
  token: string;
  at: Location;
}

export interface Evaluation {
  /** false: the object is neither a runner config nor a runner workload and passes untouched */
  relevant: boolean;
  /** the object every finding points at (absent when not relevant) */
  object?: ObjectRef;
  findings: Finding[];
  credentials: Credential[];
  /** what was not checked in a relevant object, and why (CLI notes) */
  notes?: string[];
}

const IRRELEVANT: Evaluation = Object.freeze({
  relevant: false,
  findings: [],
  credentials: [],
}) as Evaluation;

/**
 * A data key holds a runner config when its name ends in `.toml` and the text is one by
 * `isRunnerConfig`'s rule (src/config). Returns the parse, so a review parses each text once.
 */
export function runnerConfigOf(e: DataEntry): ParsedRunnerConfig | undefined {
  if (e.text === undefined || !e.key.endsWith('.toml')) return undefined;
  const parsed = parseRunnerConfigCached(e.text);
  return parsed.runnerConfig ? parsed : undefined;
}

function configFindings(
  entries: DataEntry[],
  ref: ObjectRef,
  storage: ConfigStorage,
  out: Evaluation,
): void {
  for (const e of entries) {
    const parsed = runnerConfigOf(e);
    if (parsed === undefined || e.text === undefined) continue;
    out.relevant = true;
    out.findings.push(
      ...checkRunnerConfig(e.text, { object: ref, storage, dataKey: e.key }, parsed),
    );
    if (!parsed.ok) continue;
    for (const r of parsed.runners) {
      if (r.url === undefined || r.token === undefined || r.token.trim() === '') continue;
      const at: Location = {
        object: ref,
        dataKey: e.key,
        runner: { index: r.index, ...(r.name !== undefined ? { name: r.name } : {}) },
      };
      if (r.tokenLine !== undefined) at.line = r.tokenLine;
      out.credentials.push({ url: r.url, token: r.token, at });
    }
  }
}

export interface EvaluateOptions {
  /** the kind from AdmissionReview request.kind, which is authoritative over object.kind */
  kind?: string;
  resolved?: ResolvedRefs;
  /** the AdmissionReview's namespace and name, for objects whose metadata lacks them */
  namespace?: string;
  name?: string;
}

export function evaluateObject(obj: unknown, opts: EvaluateOptions = {}): Evaluation {
  if (!isRecord(obj)) return IRRELEVANT;
  const kind = opts.kind ?? (typeof obj.kind === 'string' ? obj.kind : undefined);
  if (kind === undefined) return IRRELEVANT;
  const ref = refOf(obj, kind, {
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    ...(opts.name ? { name: opts.name } : {}),
  });

  if (kind === 'ConfigMap') {
    const out: Evaluation = { relevant: false, object: ref, findings: [], credentials: [] };
    configFindings(configMapEntries(obj), ref, 'configmap', out);
    return out.relevant ? out : IRRELEVANT;
  }
  if (kind === 'Secret') {
    const entries = secretEntries(obj);
    const out: Evaluation = { relevant: false, object: ref, findings: [], credentials: [] };
    configFindings(entries, ref, 'secret', out);
    const secretFindings = checkSecretEntries(entries, ref);
    if (secretFindings.length > 0 || hasChartKeys(entries)) out.relevant = true;
    out.findings.push(...secretFindings);
    return out.relevant ? out : IRRELEVANT;
  }
  if (WORKLOAD_KINDS.has(kind)) {
    const analysis = analyzeWorkload(obj);
    if (analysis === undefined) return IRRELEVANT;
    return {
      relevant: true,
      object: ref,
      findings: workloadFindingsFor(analysis, ref, opts.resolved),
      credentials: [],
    };
  }
  if (GITOPS_KINDS.has(kind)) {
    const ev = checkGitopsObject(obj, kind, ref);
    if (!ev) return IRRELEVANT;
    return {
      relevant: true,
      object: ref,
      findings: ev.findings,
      credentials: ev.credentials,
      ...(ev.notes.length ? { notes: ev.notes } : {}),
    };
  }
  return IRRELEVANT;
}
