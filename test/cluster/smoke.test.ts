import t from 'tap';
import { CoreV1Api } from '@kubernetes/client-node';
import { SKIP_CLUSTER, startCluster } from '../helpers/cluster.js';

t.test(
  'the launcher starts a real kube-apiserver that serves the admin',
  { skip: SKIP_CLUSTER },
  async (t) => {
    const cluster = await startCluster({ name: 'smoke' });
    t.teardown(() => cluster.stop());
    t.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const ns = await core.readNamespace({ name: 'default' });
    t.equal(ns.metadata?.name, 'default');
    // A Service gets a ClusterIP from the loopback range, so the apiserver only ever dials loopback.
    const svc = await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'smoke' }, spec: { ports: [{ port: 443 }] } },
    });
    t.match(svc.spec?.clusterIP, /^127\.200\.\d+\.\d+$/);
  },
);
