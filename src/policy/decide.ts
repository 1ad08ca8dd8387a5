import {
  describeLocation,
  formatDenial,
  formatWarning,
  sanitizeWarning,
} from '../findings/format.js';
import type { Finding, ObjectRef, Severity } from '../findings/types.js';
import type { Mode } from './mode.js';

/**
 * Findings + mode → a verdict. Pure; the webhook turns it into an AdmissionResponse
 * (src/admission/review.ts `respond`) and the CLI reports each finding's `findingOutcome`.
 *  enforce: any deny finding denies (403, every deny finding in the message); warn findings → warnings.
 *  warn:    allowed; deny and warn findings → warnings.
 *  audit:   allowed; findings only in auditAnnotations (and the log).
 * `info` findings never reach kubectl: they are logged and shown by the CLI.
 */
export interface Verdict {
  decision: 'allow' | 'deny' | 'warn';
  /** the denial text (decision 'deny' only) */
  message?: string;
  warnings: string[];
  auditAnnotations?: Record<string, string>;
}

/** kubectl shows at most a screenful; the apiserver also caps total warning size. */
export const MAX_WARNINGS = 20;

/** What one finding does under a mode: a deny finding denies only in enforce, elsewhere it warns. */
export function findingOutcome(severity: Severity, mode: Mode): Severity {
  return severity === 'deny' && mode !== 'enforce' ? 'warn' : severity;
}

export function decide(
  object: ObjectRef,
  findings: readonly Finding[],
  mode: Mode,
  extraWarnings: readonly string[] = [],
): Verdict {
  const extra = extraWarnings.map(sanitizeWarning);
  if (mode === 'audit') {
    const shown = findings.filter((f) => f.severity !== 'info');
    if (shown.length === 0) return { decision: 'allow', warnings: [] };
    return {
      decision: 'allow',
      warnings: [],
      auditAnnotations: {
        findings: [...new Set(shown.map((f) => f.ruleId))].join(','),
        'would-deny': shown.some((f) => f.severity === 'deny') ? 'true' : 'false',
        detail: shown
          .map((f) => `${f.ruleId} ${describeLocation(f)}`)
          .join('; ')
          .slice(0, 1000),
      },
    };
  }
  const denies = findings.filter((f) => findingOutcome(f.severity, mode) === 'deny');
  // In warn mode a deny finding is shown first, as it was the more serious.
  const warns = [
    ...findings.filter((f) => f.severity === 'deny' && !denies.includes(f)),
    ...findings.filter((f) => f.severity === 'warn'),
  ];
  const warnings = [...warns.map(formatWarning), ...extra].slice(0, MAX_WARNINGS);
  if (denies.length > 0)
    return { decision: 'deny', message: formatDenial(object, denies), warnings };
  return { decision: warnings.length ? 'warn' : 'allow', warnings };
}
