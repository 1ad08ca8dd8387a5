import { formatWarning } from '../findings/format.js';
import type { Finding } from '../findings/types.js';
import { encodePatch } from '../mutation/patch.js';
import { WORKLOAD_KINDS } from '../runner/facts.js';
import { planInjection, type InjectionPlan } from '../mutation/plan.js';
import { effectiveMode } from '../policy/mode.js';
import { MAX_WARNINGS } from '../policy/decide.js';
import { refOf } from '../findings/ref.js';
import type { Mode } from '../policy/mode.js';
import { allow, type AdmissionRequest, type AdmissionResponse } from './review.js';
import type { ReviewOutcome, ValidateDeps } from './validate.js';

/**
 * One mutating review: inject a registration initContainer into a runner workload that needs
 * one (src/mutation/plan.ts, docs/mutation.md). Never denies: what could not be done is a
 * warning, and the validating webhook decides admission.
 *
 * Lookups are made only when the cheap, lookup-free pass says the object is a runner workload
 * that might need a registration step, so unrelated objects cost no API call.
 */
const NOT_RELEVANT = new Set(['not-a-workload', 'not-a-runner']);

export async function mutateRequest(req: AdmissionRequest, pathMode: Mode, deps: ValidateDeps, deadline: number): Promise<ReviewOutcome> {
  const skip = (): ReviewOutcome => ({ response: allow(req.uid), decision: 'skip', mode: pathMode, ruleIds: [], findings: [] });
  // DELETE/CONNECT carry nothing to inject into; subresources (status, scale) have no pod spec.
  if ((req.operation !== 'CREATE' && req.operation !== 'UPDATE') || req.subResource || req.object === undefined) return skip();
  const kind = req.kind.kind;
  if (!WORKLOAD_KINDS.has(kind)) return skip();
  const obj = req.object;
  const mode = effectiveMode(pathMode, obj);
  const ns = req.namespace;

  let plan: InjectionPlan = planInjection(obj, { kind, ...(ns ? { namespace: ns } : {}) });
  if (plan.action === 'none' && NOT_RELEVANT.has(plan.reason)) return { ...skip(), mode };
  if (plan.action === 'none' && plan.reason === 'no-lookups' && deps.lookups) {
    const { resolved } = await deps.lookups.resolve(obj, ns, deadline);
    // The adapter's own warnings are not repeated here: the validating webhook reports the
    // same lookups; GRA402 says what a failure meant for the injection.
    plan = planInjection(obj, { kind, ...(ns ? { namespace: ns } : {}), resolved: resolved ?? { configMaps: new Map(), secrets: new Map() } });
  }

  const ref = refOf(obj, kind, { ...(ns ? { namespace: ns } : {}), ...(req.name ? { name: req.name } : {}) });
  const findings: Finding[] = plan.findings;
  const ruleIds = [...new Set(findings.map((f) => f.ruleId))];
  const warnings = findings.filter((f) => f.severity !== 'info').map(formatWarning).slice(0, MAX_WARNINGS);

  let response: AdmissionResponse;
  if (mode === 'audit') {
    // audit observes only: report what would have been done, change nothing
    response = allow(req.uid);
    if (plan.action === 'patch' || findings.length > 0) {
      response.auditAnnotations = {
        'would-inject': plan.action === 'patch' ? 'true' : 'false',
        detail: findings.map((f) => `${f.ruleId} ${f.message}`).join('; ').slice(0, 1000),
      };
    }
  } else {
    response = allow(req.uid, warnings.length ? { warnings } : {});
    if (plan.action === 'patch' && plan.patch.length > 0) {
      response.patchType = 'JSONPatch';
      response.patch = encodePatch(plan.patch);
    }
  }
  return {
    response,
    decision: warnings.length > 0 && mode !== 'audit' ? 'warn' : 'allow',
    mode,
    object: ref,
    ruleIds,
    findings,
  };
}
