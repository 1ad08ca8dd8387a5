import { describeLocation, formatDenial, formatWarning, sanitizeWarning } from '../findings/format.js';
import type { Finding, ObjectRef } from '../findings/types.js';
import type { AdmissionResponse } from '../admission/review.js';
import { allow, deny } from '../admission/review.js';
import type { Mode } from '../policy/mode.js';

/**
 * Findings + mode → the AdmissionResponse. Pure.
 *  enforce: any deny finding denies (403, every deny finding in the message); warn findings → warnings.
 *  warn:    allowed; deny and warn findings → warnings.
 *  audit:   allowed; findings only in auditAnnotations (and the log).
 * `info` findings never reach kubectl: they are logged and shown by the CLI.
 */
export interface Decision {
  response: AdmissionResponse;
  decision: 'allow' | 'deny' | 'warn';
}

/** kubectl shows at most a screenful; the apiserver also caps total warning size. */
export const MAX_WARNINGS = 20;

export function decide(uid: string, object: ObjectRef, findings: readonly Finding[], mode: Mode, extraWarnings: readonly string[] = []): Decision {
  const denies = findings.filter((f) => f.severity === 'deny');
  const warns = findings.filter((f) => f.severity === 'warn');
  const warningText = (list: readonly Finding[]): string[] => list.map(formatWarning);
  const extra = extraWarnings.map(sanitizeWarning);

  if (mode === 'audit') {
    const res = allow(uid);
    const shown = findings.filter((f) => f.severity !== 'info');
    if (shown.length > 0) {
      res.auditAnnotations = {
        findings: [...new Set(shown.map((f) => f.ruleId))].join(','),
        'would-deny': denies.length > 0 ? 'true' : 'false',
        detail: shown.map((f) => `${f.ruleId} ${describeLocation(f)}`).join('; ').slice(0, 1000),
      };
    }
    return { response: res, decision: 'allow' };
  }
  if (mode === 'enforce' && denies.length > 0) {
    const warnings = [...warningText(warns), ...extra].slice(0, MAX_WARNINGS);
    return { response: deny(uid, formatDenial(object, denies), warnings.length ? { warnings } : {}), decision: 'deny' };
  }
  const warnings = [...warningText(mode === 'warn' ? [...denies, ...warns] : warns), ...extra].slice(0, MAX_WARNINGS);
  return { response: allow(uid, warnings.length ? { warnings } : {}), decision: warnings.length ? 'warn' : 'allow' };
}
