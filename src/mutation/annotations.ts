import { CHART_KEYS } from '../runner/facts.js';
import { isRecord } from '../util/is-record.js';
/**
 * Annotations the mutating webhook reads and writes. All live under one prefix so a reader of a
 * manifest can tell at a glance which keys belong to this product (the validating webhook's
 * `gitlab-runner-admission/mode` uses the same prefix, src/policy/mode.ts).
 */
export const PREFIX = 'gitlab-runner-admission/';

/** `"false"` disables injection for this workload. */
export const INJECT = `${PREFIX}inject`;
/** name of a Secret in the workload's namespace holding the token (chart key names by default) */
export const TOKEN_SECRET = `${PREFIX}token-secret`;
/** key of that Secret holding a registration token (default `runner-registration-token`, as the official chart) */
export const REGISTRATION_KEY_ANNOTATION = `${PREFIX}registration-token-key`;
/** key of that Secret holding an authentication token (default `runner-token`, as the official chart) */
export const RUNNER_KEY_ANNOTATION = `${PREFIX}runner-token-key`;
/** written by the webhook: what was injected and why */
export const INJECTED = `${PREFIX}injected`;

function annotationsAt(meta: unknown): Record<string, string> {
  if (!isRecord(meta) || !isRecord(meta.annotations)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.annotations)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Annotations that steer injection. For a workload the object's own annotations win; the pod
 * template's are read too, so that in pod mode (the webhook sees Pods, whose annotations come
 * from the template) the same annotation works wherever the user put it.
 */
export function steeringAnnotations(obj: unknown): Record<string, string> {
  if (!isRecord(obj)) return {};
  const own = annotationsAt(obj.metadata);
  const spec = isRecord(obj.spec) ? obj.spec : undefined;
  const tpl = spec && isRecord(spec.template) ? annotationsAt(spec.template.metadata) : {};
  return { ...tpl, ...own };
}

export interface TokenSecretRef {
  name: string;
  registrationKey: string;
  runnerKey: string;
  /** true when the user named a key explicitly (then only that key is used) */
  explicitKey?: 'registration' | 'runner';
}

/** The Secret named by the annotations, or undefined when none is named. */
export function tokenSecretRef(obj: unknown): TokenSecretRef | undefined {
  const a = steeringAnnotations(obj);
  const name = a[TOKEN_SECRET]?.trim();
  if (!name) return undefined;
  const reg = a[REGISTRATION_KEY_ANNOTATION]?.trim();
  const run = a[RUNNER_KEY_ANNOTATION]?.trim();
  const ref: TokenSecretRef = {
    name,
    registrationKey: reg || CHART_KEYS.registrationToken,
    runnerKey: run || CHART_KEYS.runnerToken,
  };
  // Naming exactly one key is how a user says which flow they want without the webhook
  // having to read the Secret.
  if (reg && !run) ref.explicitKey = 'registration';
  else if (run && !reg) ref.explicitKey = 'runner';
  return ref;
}

export function injectionDisabled(obj: unknown): boolean {
  const v = steeringAnnotations(obj)[INJECT];
  return v !== undefined && /^(false|no|off|0|disabled?)$/i.test(v.trim());
}
