import type { Finding } from '../findings/types.js';
import { WORKLOAD_KINDS } from '../runner/facts.js';
import { planInjection, type InjectionPlan } from '../mutation/plan.js';
import { effectiveMode } from '../policy/mode.js';
import { decide } from '../policy/decide.js';
import { refOf } from '../findings/ref.js';
import type { Mode } from '../policy/mode.js';
import { allow, patched, type AdmissionRequest, type AdmissionResponse } from './review.js';
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

export async function mutateRequest(
  req: AdmissionRequest,
  pathMode: Mode,
  deps: ValidateDeps,
  deadline: number,
): Promise<ReviewOutcome> {
  const skip = (): ReviewOutcome => ({
    response: allow(req.uid),
    decision: 'skip',
    mode: pathMode,
    ruleIds: [],
    findings: [],
  });
  // DELETE/CONNECT carry nothing to inject into; subresources (status, scale) have no pod spec.
  if (
    (req.operation !== 'CREATE' && req.operation !== 'UPDATE') ||
    req.subResource ||
    req.object === undefined
  )
    return skip();
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
    plan = planInjection(obj, {
      kind,
      ...(ns ? { namespace: ns } : {}),
      resolved: resolved ?? { configMaps: new Map(), secrets: new Map() },
    });
  }

  const ref = refOf(obj, kind, {
    ...(ns ? { namespace: ns } : {}),
    ...(req.name ? { name: req.name } : {}),
  });
  const findings: Finding[] = plan.findings;
  const ruleIds = [...new Set(findings.map((f) => f.ruleId))];
  // The same verdict as the validating webhook's (warnings, audit annotations), except that
  // /mutate never denies: admission is the validating webhook's call.
  const v = decide(ref, findings, mode === 'enforce' ? 'warn' : mode);

  let response: AdmissionResponse;
  if (mode === 'audit') {
    // audit observes only: report what would have been done, change nothing
    const wouldInject = plan.action === 'patch';
    response = allow(req.uid, {
      auditAnnotations:
        wouldInject || v.auditAnnotations
          ? { ...v.auditAnnotations, 'would-inject': String(wouldInject) }
          : undefined,
    });
  } else {
    response =
      plan.action === 'patch'
        ? patched(req.uid, plan.patch, { warnings: v.warnings })
        : allow(req.uid, { warnings: v.warnings });
  }
  return {
    response,
    decision: v.decision === 'warn' ? 'warn' : 'allow',
    mode,
    object: ref,
    ruleIds,
    findings,
  };
}
