/** A plain JSON object (not null, not an array): what Kubernetes objects and their maps are. */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
