export type Severity = 'deny' | 'warn' | 'info';

/** Which Kubernetes object (or file, in the CLI) a finding is about. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name?: string;
  /** CLI only: file the object came from */
  file?: string;
}

/** Where a finding points; every field but `object` is optional. */
export interface FindingLocation {
  object: ObjectRef;
  /** where inside the object: `data[config.toml]`, `spec.template.spec.containers[0].env[2]` */
  field?: string;
  /** ConfigMap/Secret data key */
  dataKey?: string;
  runner?: { index: number; name?: string };
  /** 1-based line (and column) inside the data value (TOML), when known */
  line?: number;
  column?: number;
  /** already redacted, never a whole token (see src/tokens) */
  token?: string;
}

/**
 * One problem found. Built only through `makeFinding` in src/rules/rule.ts so the
 * message and the fix always come from the rule's single template.
 */
export interface Finding extends FindingLocation {
  ruleId: string;
  severity: Severity;
  /** the rule's short title, for 120-char warnings */
  title?: string;
  /** what is wrong, one sentence */
  message: string;
  /** how to fix it, one sentence */
  fix: string;
}
