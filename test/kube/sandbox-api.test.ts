import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadKubeConfig } from '../../src/kube/kube-api.js';
import { sandboxApi } from '../../src/kube/sandbox-api.js';
import { sandboxObjects } from '../../src/restore/sandbox-objects.js';
import { rejected } from '../helpers/amber-errors.js';
import { startSimCluster } from '../sim/sim-cluster.js';

const objects = (n: number, over: { container?: string } = {}) =>
  sandboxObjects({
    captureId: 'c-1',
    restoreNumber: n,
    image: `reg.example/forensics/app@sha256:${'a'.repeat(64)}`,
    container: over.container ?? 'app',
    namespace: 'amber-sandbox',
    original: { namespace: 'shop', pod: 'web-1' },
    bundleUri: 'file:///b',
    manifestSha256: 'b'.repeat(64),
    restoredBy: 'analyst@ws',
    at: '2026-12-07T08:00:00.000Z',
  });

t.test('the NetworkPolicy is created before the pod; a taken name is reported, not overwritten', async (t) => {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  const api = sandboxApi(loadKubeConfig(sim.kubeconfigPath), 10);
  t.equal(await api.create('amber-sandbox', objects(1)), 'created');
  t.same(
    [...sim.createdObjects('NetworkPolicy'), ...sim.createdObjects('Pod')]
      .map((o) => [o.kind, o.metadata.resourceVersion])
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map((x) => x[0]),
    ['NetworkPolicy', 'Pod'],
    'the fence first',
  );
  t.equal(await api.create('amber-sandbox', objects(1)), 'exists');
  t.equal(sim.createdObjects('Pod').length, 1);
  t.same(await api.podNames('amber-sandbox', 'forensics.amber.dev/restore-of=c-1'), ['amber-restore-c-1-1']);
});

t.test('a 429 with Retry-After is waited out; an invalid pod is refused with the server’s words; a forbidden caller is KUBE_FORBIDDEN', async (t) => {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  sim.faults.apiFaults.push({ answer: 'tooManyRequests', times: 1, verb: 'create', path: '/apis/networking.k8s.io/', retryAfterSeconds: 1 });
  const api = sandboxApi(loadKubeConfig(sim.kubeconfigPath), 10);
  const started = Date.now();
  t.equal(await api.create('amber-sandbox', objects(1)), 'created');
  t.ok(Date.now() - started >= 900, 'Retry-After was honoured');
  const bad = await rejected(api.create('amber-sandbox', objects(2, { container: 'Bad_Name' })));
  t.equal(bad.code, 'RESTORE_REFUSED');
  t.match(String(bad.details['problem']), /spec\.containers\[0\]\.name: Invalid value: "Bad_Name"/);

  const kubeconfig = join(sim.root, 'forbidden-kubeconfig');
  const kc = loadKubeConfig(sim.kubeconfigPath);
  kc.users[0] = { ...kc.users[0], name: kc.users[0]?.name ?? 'u', token: sim.forbiddenToken } as never;
  await writeFile(kubeconfig, kc.exportConfig());
  const forbidden = await rejected(sandboxApi(loadKubeConfig(kubeconfig), 10).create('amber-sandbox', objects(3)));
  t.equal(forbidden.code, 'KUBE_FORBIDDEN');
});
