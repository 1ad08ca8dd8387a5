import { KubeConfig } from '@kubernetes/client-node';

/**
 * The one place that decides how the process reaches the Kubernetes API: the pod's service
 * account when running in a cluster, else $KUBECONFIG / ~/.kube/config (loadFromDefault
 * does both, in that order of precedence: KUBECONFIG, in-cluster, ~/.kube/config).
 */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
