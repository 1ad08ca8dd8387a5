import type { Mode } from '../settings/settings.js';
import { allow, type AdmissionRequest } from './review.js';
import type { ReviewOutcome, ValidateDeps } from './validate.js';

/**
 * One mutating review. Placeholder until the mutation planner (src/mutation) lands: never patches.
 */
export async function mutateRequest(req: AdmissionRequest, mode: Mode, _deps: ValidateDeps, _deadline: number): Promise<ReviewOutcome> {
  return { response: allow(req.uid), decision: 'skip', mode, ruleIds: [], findings: [] };
}
