import type { Finding, Severity } from '../../findings/types.js';
import type { RuleDef } from '../../rules/catalog.js';
import * as configRules from '../../rules/config/rules.js';
import * as gitlabRules from '../../rules/gitlab/rules.js';
import * as secretRules from '../../rules/secret/rules.js';
import * as workloadRules from '../../rules/workload/rules.js';

/**
 * Every rule the CLI can report, for SARIF's tool.driver.rules (code-scanning UIs show the
 * title and severity of a rule next to each result). Collected from the rule modules' exports
 * so a new rule shows up without a second list to keep in sync.
 */

export interface CatalogEntry {
  id: string;
  severity: Severity;
  title: string;
}

function isRule(x: unknown): x is RuleDef<unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r.id === 'string' && /^GRA\d{3}$/.test(r.id) && typeof r.title === 'string' && typeof r.severity === 'string' && typeof r.message === 'function';
}

export function ruleCatalog(findings: readonly Finding[] = []): CatalogEntry[] {
  const byId = new Map<string, CatalogEntry>();
  for (const mod of [configRules, secretRules, workloadRules, gitlabRules] as Record<string, unknown>[]) {
    for (const v of Object.values(mod)) {
      if (isRule(v) && !byId.has(v.id)) byId.set(v.id, { id: v.id, severity: v.severity, title: v.title });
    }
  }
  // A rule from a module not listed above still gets an entry, so every SARIF result has its rule.
  for (const f of findings) {
    if (!byId.has(f.ruleId)) byId.set(f.ruleId, { id: f.ruleId, severity: f.severity, title: f.title ?? f.ruleId });
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}
