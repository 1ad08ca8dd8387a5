import type { Severity } from '../findings/types.js';
import { CHART_VALUES_RULES } from './chartvalues/rules.js';
import { CONFIG_RULES } from './config/rules.js';
import { GITLAB_RULES } from './gitlab/rules.js';
import { MUTATION_RULES } from './mutation/rules.js';
import { SECRET_RULES } from './secret/rules.js';
import { WORKLOAD_RULES } from './workload/rules.js';

/** Every rule the product can report, for docs, SARIF and the CLI's rule list. */
export interface RuleInfo {
  id: string;
  severity: Severity;
  title: string;
}

export const ALL_RULES: readonly RuleInfo[] = [
  ...CONFIG_RULES,
  ...SECRET_RULES,
  ...WORKLOAD_RULES,
  ...GITLAB_RULES,
  ...MUTATION_RULES,
  ...CHART_VALUES_RULES,
]
  .map((r) => ({ id: r.id, severity: r.severity, title: r.title }))
  .sort((a, b) => a.id.localeCompare(b.id));
