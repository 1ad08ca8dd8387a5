/** An AdmissionReview v1 request around an object, as the apiserver sends it (for the load scripts). */
export function wrap(
  object,
  kind,
  group = '',
  { uid = '6b1f3c4e-bench-4d7a-9e2b-000000000001', username = 'bench' } = {},
) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group, version: 'v1', kind },
      resource: { group, version: 'v1', resource: kind.toLowerCase() + 's' },
      name: object.metadata.name,
      namespace: object.metadata.namespace,
      operation: 'CREATE',
      userInfo: { username },
      object,
      oldObject: null,
      dryRun: false,
    },
  };
}
