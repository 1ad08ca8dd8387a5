import { redactSecrets } from '../tokens/redact.js';
import type { Finding, ObjectRef } from './types.js';

/**
 * The one rendering of a finding, used by the webhook's denial message, its warnings, the
 * logs and the CLI, so a person sees the same words wherever the rule fires. Every user-written
 * part (object names, data keys, runner names) goes through redactSecrets: a token pasted into a
 * name is masked like a token in a value.
 */

export function describeObject(o: ObjectRef): string {
  const name = o.namespace ? `${o.namespace}/${o.name ?? '?'}` : (o.name ?? '?');
  return redactSecrets(`${o.kind} ${name}`);
}

/** `key "config.toml", [[runners]] #0 "ois-cfa-runner", line 8` — only the parts that are known. */
export function describeLocation(f: Finding): string {
  const parts: string[] = [];
  if (f.dataKey !== undefined) parts.push(`key ${JSON.stringify(f.dataKey)}`);
  else if (f.field !== undefined) parts.push(f.field);
  if (f.runner)
    parts.push(
      `[[runners]] #${f.runner.index}${f.runner.name !== undefined ? ` ${JSON.stringify(f.runner.name)}` : ''}`,
    );
  if (f.line !== undefined)
    parts.push(`line ${f.line}${f.column !== undefined ? `, column ${f.column}` : ''}`);
  return redactSecrets(parts.join(', '));
}

/** Two lines: `[GRA001] <where>: <message>` and `  fix: <fix>`. */
export function formatFinding(f: Finding): string {
  const where = describeLocation(f);
  return `[${f.ruleId}] ${where ? `${where}: ` : ''}${f.message}\n  fix: ${f.fix}`;
}

/** The text of a denial: the object once, then every deny finding. */
export function formatDenial(object: ObjectRef, denies: readonly Finding[]): string {
  const n = denies.length;
  const head = `gitlab-runner-admission denied ${describeObject(object)}: ${n} problem${n === 1 ? '' : 's'}`;
  return [head, ...denies.map(formatFinding)].join('\n');
}

export const WARNING_MAX = 120;

/**
 * kubectl prints each warning on its own "Warning:" line; the apiserver truncates long ones
 * and rejects control characters, so keep them short and printable.
 * (k8s.io/apiserver/pkg/admission/plugin/webhook: warnings are limited to 120 chars by convention
 * of the AdmissionResponse docs: "Limit warnings to 120 characters if possible".)
 */
export function formatWarning(f: Finding): string {
  const where = describeLocation(f);
  return sanitizeWarning(`${f.ruleId} ${where ? `${where}: ` : ''}${f.title ?? f.message}`);
}

export function sanitizeWarning(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = redactSecrets(s).replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
  return clean.length <= WARNING_MAX ? clean : `${clean.slice(0, WARNING_MAX - 1)}…`;
}
