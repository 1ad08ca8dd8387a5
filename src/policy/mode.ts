/** How findings turn into an answer (docs/modes.md). */
export type Mode = 'enforce' | 'warn' | 'audit';

export const MODES: readonly Mode[] = ['enforce', 'warn', 'audit'];

export function isMode(x: unknown): x is Mode {
  return typeof x === 'string' && (MODES as readonly string[]).includes(x);
}

/**
 * Which mode applies to one object. Precedence (docs/modes.md):
 *  1. the webhook path's mode (`/validate/<mode>`), chosen by the chart through namespaceSelectors on
 *     a namespace label only cluster admins can set; `/validate` means the process default (GRA_MODE);
 *  2. the object's annotation `gitlab-runner-admission/mode` may make it STRICTER, never looser,
 *     so a user cannot annotate their way past a denial.
 */
export const MODE_ANNOTATION = 'gitlab-runner-admission/mode';

const STRICTNESS: Record<Mode, number> = { audit: 0, warn: 1, enforce: 2 };

export function stricter(a: Mode, b: Mode): Mode {
  return STRICTNESS[a] >= STRICTNESS[b] ? a : b;
}

export function objectModeAnnotation(obj: unknown): Mode | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const md = (obj as { metadata?: { annotations?: unknown } }).metadata;
  const ann =
    md && typeof md.annotations === 'object' && md.annotations !== null
      ? (md.annotations as Record<string, unknown>)
      : undefined;
  const v = ann ? ann[MODE_ANNOTATION] : undefined;
  return isMode(v) ? v : undefined;
}

export function effectiveMode(pathMode: Mode, obj: unknown): Mode {
  const fromObject = objectModeAnnotation(obj);
  return fromObject ? stricter(pathMode, fromObject) : pathMode;
}
