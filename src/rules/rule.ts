import type { Finding, FindingLocation, Severity } from '../findings/types.js';
import { redactSecrets } from '../tokens/redact.js';

/**
 * A rule: stable id, default severity, and the one message/fix template used by the
 * webhook and the CLI alike. Rule ids never change meaning; retired ids are not reused.
 * Id ranges: GRA0xx runner config (TOML), GRA1xx Secrets, GRA2xx workloads,
 * GRA3xx online GitLab verification, GRA4xx mutation, GRA5xx gitlab-runner chart values
 * (values files, HelmRelease, Argo CD Application).
 */
export interface RuleDef<P = Record<string, never>> {
  id: string;
  severity: Severity;
  title: string;
  message: (p: P) => string;
  fix: (p: P) => string;
}

export function defineRule<P = Record<string, never>>(def: RuleDef<P>): RuleDef<P> {
  return def;
}

/** Where a finding points. */
export type Location = FindingLocation;

const LOCATION_KEYS = ['field', 'dataKey', 'runner', 'line', 'column', 'token'] as const;

/**
 * Parameters carry user text (key names, reasons naming keys, runner names): token-shaped
 * substrings are masked here once, for the webhook, its logs and audit annotations, and the CLI.
 * Only the parameters: the rule's own words are not user text.
 */
function redactParams<P>(params: P): P {
  if (params === null || typeof params !== 'object') return params;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params))
    out[k] = typeof v === 'string' ? redactSecrets(v) : v;
  return out as P;
}

export function makeFinding<P>(
  rule: RuleDef<P>,
  params: P,
  at: Location,
  severity: Severity = rule.severity,
): Finding {
  const p = redactParams(params);
  const f: Finding = {
    ruleId: rule.id,
    severity,
    title: rule.title,
    object: at.object,
    message: rule.message(p),
    fix: rule.fix(p),
  };
  // Copy only the parts that are known, so findings compare and serialize without `undefined` keys.
  for (const k of LOCATION_KEYS)
    if (at[k] !== undefined) (f as unknown as Record<string, unknown>)[k] = at[k];
  return f;
}
