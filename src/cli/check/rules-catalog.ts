import type { Finding } from '../../findings/types.js';
import { ALL_RULES, type RuleInfo } from '../../rules/registry.js';

/**
 * The rules for SARIF's tool.driver.rules (code-scanning UIs show a rule's title and default
 * level next to each result): the product's registry, plus any rule id a finding carries that
 * the registry does not list yet, so every SARIF result has its rule (ruleIndex stays valid).
 */
export function ruleCatalog(findings: readonly Finding[] = []): RuleInfo[] {
  const byId = new Map<string, RuleInfo>(ALL_RULES.map((r) => [r.id, r]));
  for (const f of findings) {
    if (!byId.has(f.ruleId))
      byId.set(f.ruleId, { id: f.ruleId, severity: f.severity, title: f.title ?? f.ruleId });
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}
