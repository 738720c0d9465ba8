import { readFile } from 'node:fs/promises';
import t from 'tap';
import { restoreCommand } from '../../src/cli/restore-command.js';
import { verifyCommand } from '../../src/cli/verify-command.js';
import type { RestoreRecord } from '../../src/evidence/restore-record.js';
import { captureApi } from '../../src/kube/capture-api.js';
import { fromResource, LABELS, toResource } from '../../src/kube/capture-resource.js';
import { loadKubeConfig } from '../../src/kube/kube-api.js';
import { newCapture } from '../../src/queue/capture-queue.js';
import { SANDBOX_LABELS } from '../../src/restore/sandbox-objects.js';
import { makeBundle } from '../helpers/make-bundle.js';
import { startRegistry } from '../helpers/start-registry.js';
import { matchesLabels, parseLabelSelector } from '../sim/label-selector.js';
import { shellCaptureRequest } from '../helpers/shell-capture.js';
import { startSimCluster } from '../sim/sim-cluster.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), env: {} }, out, err };
}
const NS = 'amber-system';

t.test('restore --image --namespace: pushed, a fenced sandbox pod created, recorded in the bundle and on the Capture; again makes a second', async (t) => {
  const b = await makeBundle();
  t.teardown(() => b.cleanup());
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  // the Capture resource the bundle was sealed from
  const kc = loadKubeConfig(sim.kubeconfigPath);
  const request = shellCaptureRequest('checkout-7d9f8b6c5-x2x9q', 'checkout');
  const sealedAt = new Date().toISOString();
  sim.addCapture({
    ...toResource({ ...newCapture(request, Date.now()), id: b.manifest.captureId }, 'cap-restore-test', 'node-a'),
    status: { phase: 'Sealed', phaseTimes: { Pending: sealedAt, Sealed: sealedAt }, attempts: 1 },
  });

  const args = [
    b.dir,
    '--data-dir',
    b.dataDir,
    '--image',
    `${registry.address}/forensics/checkout`,
    '--insecure-registry',
    '--namespace',
    'amber-sandbox',
    '--kubeconfig',
    sim.kubeconfigPath,
    '--node',
    'node-a',
  ];
  const first = capture();
  t.equal(await restoreCommand(args, first.io), 0, first.err.join('\n'));
  t.match(first.out.join('\n'), /sandbox pod amber-sandbox\/amber-restore-[a-z0-9]+-1, fenced by NetworkPolicy/);
  const second = capture();
  t.equal(await restoreCommand(args, second.io), 0, second.err.join('\n'));

  const pods = sim.createdObjects('Pod');
  const policies = sim.createdObjects('NetworkPolicy');
  t.equal(pods.length, 2, 'two sandboxes');
  t.equal(policies.length, 2);
  for (const policy of policies) {
    const match = policy.spec.podSelector.matchLabels as Record<string, string>;
    const sel = parseLabelSelector(
      Object.entries(match)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    );
    if (typeof sel === 'string') throw new Error(sel);
    const selected = pods.filter((p) => matchesLabels(sel, p.metadata.labels)).map((p) => p.metadata.name);
    t.same(selected, [policy.metadata.name], `${policy.metadata.name} selects exactly its pod`);
  }
  const pod = pods[0] as Record<string, any>;
  t.equal(pod.metadata.labels[SANDBOX_LABELS.restoreOf], b.manifest.captureId);
  t.match(pod.spec.containers[0].image, new RegExp(`^${registry.address}/forensics/checkout@sha256:[0-9a-f]{64}$`));
  t.equal(pod.spec.automountServiceAccountToken, false);
  t.equal(pod.spec.nodeName, 'node-a');

  const record = JSON.parse(await readFile(b.path('restore-2.json'), 'utf8')) as RestoreRecord;
  t.equal(record.sandbox?.namespace, 'amber-sandbox');
  t.equal(record.sandbox?.pod, pods[1]?.metadata.name, 'the second record names the second sandbox');
  t.same(
    record.custody.entries.map((e) => e.action),
    ['restore.verified', 'restore.image-written', 'restore.sandbox-created'],
  );
  const listed = await captureApi(kc, NS).list({ labelSelector: `${LABELS.id}=${b.manifest.captureId}` });
  const restores = fromResource((listed.items ?? [])[0] as never).status.restores ?? [];
  t.same(
    restores.map((r) => [r.number, r.sandbox?.pod]),
    [
      [1, pods[0]?.metadata.name],
      [2, pods[1]?.metadata.name],
    ],
    "the Capture's status lists both restores",
  );
  const v = capture();
  t.equal(await verifyCommand([b.dir, '--data-dir', b.dataDir], v.io), 0, v.out.join('\n'));
});

t.test('restore --dry-run prints the sandbox objects and creates, pushes and records nothing', async (t) => {
  const b = await makeBundle();
  t.teardown(() => b.cleanup());
  const c = capture();
  t.equal(
    await restoreCommand([b.dir, '--data-dir', b.dataDir, '--image', '127.0.0.1:1/forensics/checkout', '--namespace', 'amber-sandbox', '--dry-run'], c.io),
    0,
    c.err.join('\n'),
  );
  const list = JSON.parse(c.out.join('\n')) as { items: { kind: string; metadata: { name: string } }[] };
  t.same(
    list.items.map((i) => i.kind),
    ['NetworkPolicy', 'Pod'],
  );
  await t.rejects(readFile(b.path('restore-1.json')), 'no record for a dry run');
});
