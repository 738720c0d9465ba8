import t from 'tap';
import {
  parseNodeSelector,
  parseToleration,
  SANDBOX_LABELS,
  sandboxName,
  sandboxObjects as build,
  type SandboxInput,
} from '../../src/restore/sandbox-objects.js';
import { thrown } from '../helpers/amber-errors.js';
import { matchesLabels, parseLabelSelector } from '../sim/label-selector.js';

// the objects as JSON, read freely
const sandboxObjects = (i: SandboxInput) => build(i) as unknown as { pod: Record<string, any>; networkPolicy: Record<string, any>; name: string };
const DIGEST = `sha256:${'a'.repeat(64)}`;
const input = (n: number, over: Partial<SandboxInput> = {}): SandboxInput => ({
  captureId: '01m8gshv8058gsqr1y53s4v8ks',
  restoreNumber: n,
  image: `127.0.0.1:5000/forensics/checkout@${DIGEST}`,
  container: 'checkout',
  namespace: 'amber-sandbox',
  original: { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', uid: 'uid-1' },
  bundleUri: 's3://evidence/c/01m8gshv8058gsqr1y53s4v8ks',
  manifestSha256: 'b'.repeat(64),
  restoredBy: 'analyst@ws',
  at: '2026-12-07T08:00:00.000Z',
  ...over,
});

/** A NetworkPolicy's podSelector.matchLabels as a label selector, evaluated as the API server would. */
function selects(policy: Record<string, any>, labels: Record<string, string>): boolean {
  const match = policy['spec'].podSelector.matchLabels as Record<string, string>;
  const sel = parseLabelSelector(
    Object.entries(match)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  );
  if (typeof sel === 'string') throw new Error(sel);
  return matchesLabels(sel, labels);
}

t.test('the NetworkPolicy selects exactly the restored pod: not a second restore, not the original, not a neighbour', async (t) => {
  const first = sandboxObjects(input(1));
  const second = sandboxObjects(input(2));
  const pods = {
    restored: first.pod['metadata'].labels as Record<string, string>,
    secondRestore: second.pod['metadata'].labels as Record<string, string>,
    original: { app: 'checkout', 'pod-template-hash': '7d9f8b6c5' },
    neighbour: { [SANDBOX_LABELS.managedBy]: 'amber', [SANDBOX_LABELS.restoreOf]: '01m8gshv8058gsqr1y53s4v8ks' },
  };
  t.same(
    Object.entries(pods)
      .filter(([, labels]) => selects(first.networkPolicy, labels))
      .map(([name]) => name),
    ['restored'],
  );
  t.same(first.networkPolicy['spec'].policyTypes, ['Ingress', 'Egress']);
  t.notOk('ingress' in first.networkPolicy['spec'] || 'egress' in first.networkPolicy['spec'], 'no rule: nothing in, nothing out');
  t.not(first.name, second.name, 'a second restore is a second sandbox');
  t.match(second.name, /-2$/, 'its name says which restore');
});

t.test('the pod runs the image by digest, without a token, host namespaces or the original labels, and names the capture', async (t) => {
  const { pod } = sandboxObjects(
    input(1, {
      node: 'forensic-1',
      runtimeClass: 'gvisor',
      tolerations: [parseToleration('forensics=true:NoSchedule')],
      nodeSelector: parseNodeSelector(['pool=forensics']),
    }),
  );
  const spec = pod['spec'] as Record<string, any>;
  t.same(spec['containers'], [{ name: 'checkout', image: `127.0.0.1:5000/forensics/checkout@${DIGEST}`, imagePullPolicy: 'IfNotPresent' }]);
  t.equal(spec['automountServiceAccountToken'], false);
  t.equal(spec['enableServiceLinks'], false);
  t.same([spec['hostNetwork'], spec['hostPID'], spec['hostIPC']], [false, false, false]);
  t.equal(spec['restartPolicy'], 'Never');
  t.equal(spec['nodeName'], 'forensic-1');
  t.equal(spec['runtimeClassName'], 'gvisor');
  t.same(spec['tolerations'], [{ key: 'forensics', operator: 'Equal', value: 'true', effect: 'NoSchedule' }]);
  t.same(spec['nodeSelector'], { pool: 'forensics' });
  const meta = pod['metadata'] as { labels: Record<string, string>; annotations: Record<string, string>; namespace: string };
  t.equal(meta.namespace, 'amber-sandbox');
  t.notOk('app' in meta.labels, "none of the original's labels");
  t.equal(meta.annotations['forensics.amber.dev/original'], 'shop/checkout-7d9f8b6c5-x2x9q (uid uid-1)');
  t.equal(meta.annotations['forensics.amber.dev/bundle'], 's3://evidence/c/01m8gshv8058gsqr1y53s4v8ks');
});

t.test("refused: the original's namespace, an image by tag; names stay valid however long the id", async (t) => {
  t.match(thrown(() => sandboxObjects(input(1, { namespace: 'shop' }))).details['problem'], /the original pod's namespace, beside it/);
  t.equal(sandboxObjects(input(1, { namespace: 'shop', allowSameNamespace: true })).pod['metadata'].namespace, 'shop');
  t.match(thrown(() => sandboxObjects(input(1, { image: '127.0.0.1:5000/forensics/checkout:latest' }))).details['problem'], /by digest/);
  const long = sandboxName('x'.repeat(80), 123);
  t.ok(long.length <= 63 && long.endsWith('-123') && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
});

t.test('tolerations and node selectors are read as kubectl writes taints, with precise errors', async (t) => {
  t.same(parseToleration('dedicated:NoExecute'), { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' });
  t.same(parseToleration('dedicated:Exists'), { key: 'dedicated', operator: 'Exists' });
  t.same(parseToleration('team=sec'), { key: 'team', operator: 'Equal', value: 'sec' });
  t.match(thrown(() => parseToleration('a=b:Sometimes')).details['problem'], /key=value:Effect/);
  t.match(thrown(() => parseNodeSelector(['pool'])).details['problem'], /key=value/);
});

t.test("the original's bind mounts get empty read-only stand-ins (CRI-O checks each exists); the runtime's own are left to it", async (t) => {
  const { pod } = sandboxObjects(
    input(1, { bindMounts: ['/etc/hosts', '/etc/resolv.conf', '/dev/shm', '/var/run/secrets/kubernetes.io/serviceaccount', '/data', '/data'] }),
  );
  t.same(pod['spec'].volumes, [
    { name: 'restore-mount-0', emptyDir: { sizeLimit: '1Mi' } },
    { name: 'restore-mount-1', emptyDir: { sizeLimit: '1Mi' } },
  ]);
  t.same(pod['spec'].containers[0].volumeMounts, [
    { name: 'restore-mount-0', mountPath: '/data', readOnly: true },
    { name: 'restore-mount-1', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
  ]);
  t.equal(pod['spec'].automountServiceAccountToken, false, 'the token path is there, the token is not');
  t.notOk('volumes' in sandboxObjects(input(1, { bindMounts: ['/etc/hosts', '/etc/resolv.conf'] })).pod['spec']);
  t.match(thrown(() => sandboxObjects(input(1, { bindMounts: ['data'] }))).details['problem'], /is not an absolute path/);
});
