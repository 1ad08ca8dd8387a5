import type { Finding, ObjectRef, Severity } from '../findings/types.js';

/**
 * A rule: stable id, default severity, and the one message/fix template used by the
 * webhook and the CLI alike. Rule ids never change meaning; retired ids are not reused.
 * Id ranges: GRA0xx runner config (TOML), GRA1xx Secrets, GRA2xx workloads,
 * GRA3xx online GitLab verification, GRA4xx mutation.
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
export interface Location {
  object: ObjectRef;
  field?: string;
  dataKey?: string;
  runner?: { index: number; name?: string };
  line?: number;
  column?: number;
  /** must already be redacted (see src/tokens) */
  token?: string;
}

export function makeFinding<P>(rule: RuleDef<P>, params: P, at: Location, severity: Severity = rule.severity): Finding {
  const f: Finding = { ruleId: rule.id, severity, title: rule.title, object: at.object, message: rule.message(params), fix: rule.fix(params) };
  if (at.field !== undefined) f.field = at.field;
  if (at.dataKey !== undefined) f.dataKey = at.dataKey;
  if (at.runner !== undefined) f.runner = at.runner;
  if (at.line !== undefined) f.line = at.line;
  if (at.column !== undefined) f.column = at.column;
  if (at.token !== undefined) f.token = at.token;
  return f;
}
