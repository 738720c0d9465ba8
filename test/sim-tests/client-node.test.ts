/** @kubernetes/client-node (v2), configured from the sim's kubeconfig, reads a pod and a node. */
import t from 'tap';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';

let sim: SimCluster;
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a', 'node-b'] });
  sim.addPod({
    namespace: 'shop',
    name: 'web-7d4b9c8f6d-x2kzq',
    node: 'node-b',
    containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.4.2' }],
    env: [{ container: 'app', name: 'DB_PASSWORD', secretKeyRef: { name: 'db', key: 'password' } }],
  });
  sim.setLogs('shop', 'web-7d4b9c8f6d-x2kzq', 'app', ['a', 'b', 'c']);
});
t.teardown(() => sim.close());

function api(): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(sim.kubeconfigPath);
  return kc.makeApiClient(CoreV1Api);
}

t.test('readNamespacedPod: typed pod with runtime ids, node name, secret env reference', async (t) => {
  const pod = await api().readNamespacedPod({ name: 'web-7d4b9c8f6d-x2kzq', namespace: 'shop' });
  t.equal(pod.metadata?.name, 'web-7d4b9c8f6d-x2kzq');
  t.equal(pod.spec?.nodeName, 'node-b');
  t.match(pod.status?.containerStatuses?.[0]?.containerID, /^containerd:\/\/[0-9a-f]{64}$/);
  t.equal(pod.spec?.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name, 'db');
  t.ok(pod.metadata?.creationTimestamp instanceof Date, 'client-node parsed the timestamp');
  t.ok(pod.status?.containerStatuses?.[0]?.state?.running?.startedAt instanceof Date);
});

t.test('readNode: address and kubelet port', async (t) => {
  const node = await api().readNode({ name: 'node-b' });
  t.equal(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, '127.0.0.1');
  t.equal(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, sim.kubeletPort('node-b'));
});

t.test('lists and logs through client-node', async (t) => {
  const list = await api().listNamespacedPod({ namespace: 'shop' });
  t.same(
    list.items.map((p) => p.metadata?.name),
    ['web-7d4b9c8f6d-x2kzq'],
  );
  const all = await api().listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-b' });
  t.equal(all.items.length, 1);
  const log = await api().readNamespacedPodLog({ name: 'web-7d4b9c8f6d-x2kzq', namespace: 'shop', container: 'app', tailLines: 2 });
  t.equal(log, 'b\nc\n');
});

t.test('errors arrive as ApiException with the Status body', async (t) => {
  const err = await api()
    .readNamespacedPod({ name: 'gone', namespace: 'shop' })
    .then(
      () => undefined,
      (e: unknown) => e as { code?: number; body?: string },
    );
  t.equal(err?.code, 404);
  t.match(String(err?.body), /"reason":"NotFound"/);
  sim.faults.rejectToken = true;
  t.teardown(() => {
    sim.faults.rejectToken = false;
  });
  const denied = await api()
    .readNode({ name: 'node-a' })
    .then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
  t.equal(denied?.code, 401);
});
