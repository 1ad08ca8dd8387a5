import type { ObjectRef } from './types.js';
import { isRecord } from '../util/is-record.js';

/**
 * The object a finding is about, from its metadata. The AdmissionReview's own namespace and name
 * fill the gaps: on CREATE with `generateName`, or a namespaced object sent without one.
 */
export function refOf(
  obj: unknown,
  kind: string,
  fallback: { namespace?: string; name?: string } = {},
): ObjectRef {
  const md = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata : {};
  const ref: ObjectRef = { kind };
  const ns = typeof md.namespace === 'string' && md.namespace ? md.namespace : fallback.namespace;
  if (ns) ref.namespace = ns;
  if (typeof md.name === 'string' && md.name) ref.name = md.name;
  else if (typeof md.generateName === 'string' && md.generateName)
    ref.name = fallback.name || `${md.generateName}*`;
  else if (fallback.name) ref.name = fallback.name;
  return ref;
}
