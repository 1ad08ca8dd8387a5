import type { Finding, ObjectRef } from '../findings/types.js';
import { decide } from '../policy/decide.js';
import { effectiveMode } from '../policy/mode.js';
import { refOf } from '../findings/ref.js';
import { evaluateObject, type Credential } from '../rules/evaluate.js';
import { WORKLOAD_KINDS } from '../runner/facts.js';
import type { Mode } from '../policy/mode.js';
import type { ResolvedRefs } from '../workload/types.js';
import { LEGACY_AMBIGUOUS_TOKEN } from '../rules/config/rules.js';
import { LEGACY_TOKEN_CONFIRMED, LEGACY_TOKEN_REJECTED } from '../rules/gitlab/rules.js';
import { allow, respond, type AdmissionRequest, type AdmissionResponse } from './review.js';
import type { WantedRefs } from '../workload/links.js';
import { isRecord } from '../util/is-record.js';

/**
 * One validating review, from parsed request to response. The only async parts are the
 * optional adapters (Kubernetes lookups, GitLab verification), injected so this stays
 * testable without a network and so each is bounded by the same deadline.
 */

export interface Lookups {
  /** fetch the ConfigMaps/Secrets a workload's config comes from; never throws */
  resolve(
    obj: unknown,
    namespace: string | undefined,
    deadline: number,
  ): Promise<{ resolved?: ResolvedRefs; warnings: string[] }>;
  /**
   * The same for refs already worked out (`wantedRefs`) in `namespace` (the request's, else the
   * object's): how a review checked on a worker thread asks the main thread, which owns the
   * API client, without sending the object back.
   */
  resolveRefs?(
    want: WantedRefs,
    namespace: string,
    deadline: number,
  ): Promise<{ resolved?: ResolvedRefs; warnings: string[] }>;
}

/** The namespace lookups read from: the request's, else the object's own. */
export function namespaceOf(obj: unknown, namespace: string | undefined): string {
  if (namespace) return namespace;
  return isRecord(obj) && isRecord(obj.metadata) && typeof obj.metadata.namespace === 'string'
    ? obj.metadata.namespace
    : '';
}

export interface TokenVerifier {
  verify(
    items: Credential[],
    opts: { dryRun: boolean; deadline: number },
  ): Promise<{ findings: Finding[]; warnings: string[] }>;
}

export interface ValidateDeps {
  lookups?: Lookups;
  verifier?: TokenVerifier;
}

export interface ReviewOutcome {
  response: AdmissionResponse;
  decision: 'allow' | 'deny' | 'warn' | 'skip';
  mode: Mode;
  object?: ObjectRef;
  ruleIds: string[];
  findings: Finding[];
}

export async function validateRequest(
  req: AdmissionRequest,
  pathMode: Mode,
  deps: ValidateDeps,
  deadline: number,
): Promise<ReviewOutcome> {
  // DELETE and CONNECT cannot put a bad token in place; subresources (status, scale) carry no config.
  if (
    (req.operation !== 'CREATE' && req.operation !== 'UPDATE') ||
    req.subResource ||
    req.object === undefined
  ) {
    return {
      response: allow(req.uid),
      decision: 'skip',
      mode: pathMode,
      ruleIds: [],
      findings: [],
    };
  }
  const obj = req.object;
  const kind = req.kind.kind;
  const mode = effectiveMode(pathMode, obj);

  const where = {
    kind,
    ...(req.namespace ? { namespace: req.namespace } : {}),
    ...(req.name ? { name: req.name } : {}),
  };
  let evaluation = evaluateObject(obj, where);
  if (!evaluation.relevant)
    return { response: allow(req.uid), decision: 'skip', mode, ruleIds: [], findings: [] };
  const ref = evaluation.object ?? refOf(obj, kind, where);
  const extraWarnings: string[] = [];

  if (deps.lookups && WORKLOAD_KINDS.has(kind)) {
    const { resolved, warnings } = await deps.lookups.resolve(obj, req.namespace, deadline);
    extraWarnings.push(...warnings);
    if (resolved) evaluation = evaluateObject(obj, { ...where, resolved });
  }
  const findings = [...evaluation.findings];
  if (deps.verifier && evaluation.credentials.length > 0) {
    const v = await deps.verifier.verify(evaluation.credentials, { dryRun: req.dryRun, deadline });
    findings.push(...v.findings);
    extraWarnings.push(...v.warnings);
    dropSettledLegacyFindings(findings, v.findings);
  }
  const v = decide(ref, findings, mode, extraWarnings);
  return {
    response: respond(req.uid, v),
    decision: v.decision,
    mode,
    object: ref,
    ruleIds: [...new Set(findings.map((f) => f.ruleId))],
    findings,
  };
}

/**
 * Once GitLab has answered for an unprefixed legacy token (GRA302/GRA304), the offline
 * "cannot tell which kind" finding (GRA009) at the same spot says less and is dropped.
 */
function dropSettledLegacyFindings(findings: Finding[], online: readonly Finding[]): void {
  const settled = online.filter(
    (f) => f.ruleId === LEGACY_TOKEN_CONFIRMED.id || f.ruleId === LEGACY_TOKEN_REJECTED.id,
  );
  if (settled.length === 0) return;
  const same = (a: Finding, b: Finding) =>
    a.object.kind === b.object.kind &&
    a.object.namespace === b.object.namespace &&
    a.object.name === b.object.name &&
    a.dataKey === b.dataKey &&
    a.runner?.index === b.runner?.index;
  for (let i = findings.length - 1; i >= 0; i--) {
    const f = findings[i]!;
    if (f.ruleId === LEGACY_AMBIGUOUS_TOKEN.id && settled.some((s) => same(s, f)))
      findings.splice(i, 1);
  }
}
