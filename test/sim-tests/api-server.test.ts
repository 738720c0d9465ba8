import t from 'tap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Node } from 'kubernetes-models/v1/Node';
import { startSimCluster, FORBIDDEN_USER, type SimCluster } from '../sim/sim-cluster.js';
import { podObject, type PodRecord } from '../sim/k8s-objects.js';
import { https } from './helpers.js';

type Obj = Record<string, any>;

let sim: SimCluster;
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a', 'node-b'] });
  sim.addPod({
    namespace: 'shop',
    name: 'web-7d4b9c8f6d-x2kzq',
    node: 'node-a',
    containers: [
      { name: 'app', image: 'ghcr.io/acme/app:1.4.2' },
      { name: 'metrics', image: 'quay.io/prom/statsd-exporter:v0.26.0', running: false },
    ],
    env: [
      { container: 'app', name: 'APP_ENV', value: 'production' },
      { container: 'app', name: 'DB_PASSWORD', secretKeyRef: { name: 'db', key: 'password' } },
    ],
  });
  sim.addPod({ namespace: 'shop', name: 'worker', node: 'node-b', containers: [{ name: 'worker', image: 'ghcr.io/acme/worker@sha256:' + 'ab'.repeat(32) }] });
  sim.setLogs('shop', 'web-7d4b9c8f6d-x2kzq', 'app', ['starting', 'listening on :8080', 'GET /healthz 200']);
});
t.teardown(() => sim.close());

const get = (path: string, token: string | null = sim.token) => https(`${sim.apiUrl}${path}`, { ca: sim.caCert, token: token ?? undefined });

t.test('a pod, as the API serves it', async (t) => {
  const r = await get('/api/v1/namespaces/shop/pods/web-7d4b9c8f6d-x2kzq');
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'application/json');
  const pod = r.json<Obj>();
  t.doesNotThrow(() => new Pod(pod as never).validate(), 'validates against the Kubernetes schema');
  t.equal(pod.kind, 'Pod');
  t.match(pod.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'uid is a v4 UUID');
  t.match(pod.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.same(pod.metadata.labels, { app: 'web', 'pod-template-hash': '7d4b9c8f6d' });
  t.equal(pod.metadata.ownerReferences[0].kind, 'ReplicaSet');
  t.equal(pod.spec.nodeName, 'node-a');
  t.equal(pod.spec.serviceAccountName, 'default');
  t.same(pod.spec.containers[0].env, [
    { name: 'APP_ENV', value: 'production' },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
  ]);
  t.equal(pod.status.phase, 'Running');
  t.equal(pod.status.hostIP, '127.0.0.1');
  t.match(pod.status.podIP, /^10\.244\.1\.\d+$/);
  const [app, metrics] = pod.status.containerStatuses as Obj[];
  t.match(app?.containerID, /^containerd:\/\/[0-9a-f]{64}$/);
  t.match(app?.imageID, /^ghcr\.io\/acme\/app@sha256:[0-9a-f]{64}$/);
  t.equal(app?.ready, true);
  t.ok(app?.state.running.startedAt);
  t.equal(metrics?.ready, false);
  t.equal(metrics?.state.waiting.reason, 'CrashLoopBackOff');
  t.equal(metrics?.lastState.terminated.exitCode, 1);
  t.equal(pod.status.conditions.find((c: Obj) => c.type === 'Ready').status, 'False');
});

t.test('containerID prefix and runtime version follow the archive layout', async (t) => {
  sim.archive.layout = 'crio';
  t.teardown(() => {
    sim.archive.layout = 'containerd';
  });
  const pod = (await get('/api/v1/namespaces/shop/pods/worker')).json<Obj>();
  t.match(pod.status.containerStatuses[0].containerID, /^cri-o:\/\/[0-9a-f]{64}$/);
  t.equal(pod.status.containerStatuses[0].imageID, 'ghcr.io/acme/worker@sha256:' + 'ab'.repeat(32), 'a digest in the image is kept');
  const node = (await get('/api/v1/nodes/node-b')).json<Obj>();
  t.match(node.status.nodeInfo.containerRuntimeVersion, /^cri-o:\/\//);
});

t.test('pod lists, with the selectors an agent uses', async (t) => {
  const ns = (await get('/api/v1/namespaces/shop/pods')).json<Obj>();
  t.equal(ns.kind, 'PodList');
  t.same(
    ns.items.map((p: Obj) => p.metadata.name),
    ['web-7d4b9c8f6d-x2kzq', 'worker'],
  );
  t.notOk(ns.items[0].kind, 'list items carry no kind, as from the real API server');
  const onB = (await get('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b')).json<Obj>();
  t.same(
    onB.items.map((p: Obj) => p.metadata.name),
    ['worker'],
  );
  const byLabel = (await get('/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb')).json<Obj>();
  t.same(
    byLabel.items.map((p: Obj) => p.metadata.name),
    ['web-7d4b9c8f6d-x2kzq'],
  );
  t.equal((await get('/api/v1/namespaces/other/pods')).json<Obj>().items.length, 0);
  const bad = await get('/api/v1/pods?fieldSelector=spec.bogus%3Dx');
  t.equal(bad.status, 400);
  t.equal(bad.json<Obj>().message, 'field label not supported: spec.bogus');
});

t.test('a node: addresses and the kubelet port', async (t) => {
  const r = await get('/api/v1/nodes/node-b');
  t.equal(r.status, 200);
  const node = r.json<Obj>();
  t.doesNotThrow(() => new Node(node as never).validate());
  t.same(node.status.addresses, [
    { type: 'InternalIP', address: '127.0.0.1' },
    { type: 'Hostname', address: 'node-b' },
  ]);
  t.equal(node.status.daemonEndpoints.kubeletEndpoint.Port, sim.kubeletPort('node-b'));
  t.not(sim.kubeletPort('node-a'), sim.kubeletPort('node-b'), 'each kubelet has its own listener');
  t.equal(node.status.nodeInfo.kubeletVersion, 'v1.31.4');
  const list = (await get('/api/v1/nodes')).json<Obj>();
  t.same(
    list.items.map((n: Obj) => n.metadata.name),
    ['node-a', 'node-b'],
  );
});

t.test('pod logs', async (t) => {
  const base = '/api/v1/namespaces/shop/pods/web-7d4b9c8f6d-x2kzq/log';
  const all = await get(`${base}?container=app`);
  t.equal(all.status, 200);
  t.equal(all.headers['content-type'], 'text/plain');
  t.equal(all.text, 'starting\nlistening on :8080\nGET /healthz 200\n');
  t.equal((await get(`${base}?container=app&tailLines=2`)).text, 'listening on :8080\nGET /healthz 200\n');
  t.equal((await get(`${base}?container=metrics`)).text, '', 'no lines set: empty');
  const ambiguous = await get(base);
  t.equal(ambiguous.status, 400);
  t.equal(ambiguous.json<Obj>().message, 'a container name must be specified for pod web-7d4b9c8f6d-x2kzq, choose one of: [app metrics]');
  const wrong = await get(`${base}?container=nope`);
  t.equal(wrong.status, 400);
  t.same(wrong.json<Obj>(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'container nope is not valid for pod web-7d4b9c8f6d-x2kzq',
    reason: 'BadRequest',
    code: 400,
  });
  t.equal((await get('/api/v1/namespaces/shop/pods/worker/log')).status, 200, 'one container: no name needed');
});

t.test('401: unknown token, and every token under rejectToken', async (t) => {
  const expected = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
  const r = await get('/api/v1/namespaces/shop/pods/worker', 'not-a-token');
  t.equal(r.status, 401);
  t.same(r.json(), expected);
  t.equal(r.text.endsWith('}\n'), true, 'the JSON encoder ends with a newline');
  sim.faults.rejectToken = true;
  t.teardown(() => {
    sim.faults.rejectToken = false;
  });
  const r2 = await get('/api/v1/namespaces/shop/pods/worker');
  t.equal(r2.status, 401);
  t.same(r2.json(), expected);
  t.equal((await get('/api/v1/nope', 'x')).status, 401, 'authentication comes before routing');
});

t.test('403: the real forbidden messages', async (t) => {
  const pod = await get('/api/v1/namespaces/shop/pods/worker', sim.forbiddenToken);
  t.equal(pod.status, 403);
  t.same(pod.json(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `pods "worker" is forbidden: User "${FORBIDDEN_USER}" cannot get resource "pods" in API group "" in the namespace "shop"`,
    reason: 'Forbidden',
    details: { name: 'worker', kind: 'pods' },
    code: 403,
  });
  const missing = await get('/api/v1/namespaces/shop/pods/does-not-exist', sim.forbiddenToken);
  t.equal(missing.status, 403, 'authorization comes before existence: no probing');
  const list = await get('/api/v1/pods', sim.forbiddenToken);
  t.equal(list.json<Obj>().message, `pods is forbidden: User "${FORBIDDEN_USER}" cannot list resource "pods" in API group "" at the cluster scope`);
  t.same(list.json<Obj>().details, { kind: 'pods' });
  const log = await get('/api/v1/namespaces/shop/pods/worker/log', sim.forbiddenToken);
  t.match(log.json<Obj>().message, /^pods "worker" is forbidden: User ".*" cannot get resource "pods\/log" in API group "" in the namespace "shop"$/);
  const node = await get('/api/v1/nodes/node-a', sim.forbiddenToken);
  t.equal(node.json<Obj>().message, `nodes "node-a" is forbidden: User "${FORBIDDEN_USER}" cannot get resource "nodes" in API group "" at the cluster scope`);
  const anon = await get('/api/v1/namespaces/shop/pods/worker', null);
  t.equal(anon.status, 403, 'no token: system:anonymous, which may do nothing');
  t.match(anon.json<Obj>().message, /User "system:anonymous" cannot get resource "pods"/);
});

t.test('404s', async (t) => {
  const pod = await get('/api/v1/namespaces/shop/pods/gone');
  t.equal(pod.status, 404);
  t.same(pod.json(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "gone" not found',
    reason: 'NotFound',
    details: { name: 'gone', kind: 'pods' },
    code: 404,
  });
  const node = await get('/api/v1/nodes/node-z');
  t.same(node.json<Obj>().details, { name: 'node-z', kind: 'nodes' });
  t.equal((await get('/api/v1/namespaces/%E0%A4%A/pods')).status, 404, 'a malformed escape: no route, no crash');
  const route = await get('/api/v1/namespaces/shop/widgets');
  t.equal(route.json<Obj>().message, 'the server could not find the requested resource');
  const post = await https(`${sim.apiUrl}/api/v1/namespaces/shop/pods/worker`, { ca: sim.caCert, token: sim.token, method: 'DELETE' });
  t.equal(post.status, 405);
});

t.test('deletePod: the pod is gone from the API', async (t) => {
  sim.addPod({ namespace: 'shop', name: 'short-lived', node: 'node-a', containers: [{ name: 'c', image: 'alpine:3.20' }] });
  t.equal((await get('/api/v1/namespaces/shop/pods/short-lived')).status, 200);
  sim.deletePod('shop', 'short-lived');
  t.equal((await get('/api/v1/namespaces/shop/pods/short-lived')).status, 404);
  t.throws(() => sim.addPod({ namespace: 'shop', name: 'x', node: 'node-q', containers: [{ name: 'c', image: 'i' }] }), /unknown node node-q/);
  t.throws(() => sim.addPod({ namespace: 'shop', name: 'worker', node: 'node-a', containers: [{ name: 'c', image: 'i' }] }), /already exists/);
});

t.test('apiDown: the listener answers nothing', async (t) => {
  sim.faults.apiDown = true;
  t.teardown(() => {
    sim.faults.apiDown = false;
  });
  await t.rejects(get('/api/v1/namespaces/shop/pods/worker'), /socket hang up|ECONNRESET|disconnected/);
  sim.faults.apiDown = false;
  t.equal((await get('/api/v1/namespaces/shop/pods/worker')).status, 200, 'and comes back');
});

t.test('a served object that fails validation throws loudly', async (t) => {
  t.throws(() => sim.addPod({ namespace: 'shop', name: 'empty', node: 'node-a', containers: [] }), /at least one container/);
  const rec: PodRecord = {
    spec: { namespace: 'shop', name: 'odd', node: 'node-a', containers: [{ name: 42 as unknown as string, image: 'alpine:3.20' }] },
    uid: '0f8fad5b-d9cb-469f-a165-70867728950e',
    createdAt: Date.now(),
    resourceVersion: '1',
    podIP: '10.244.1.9',
    sandboxId: 'a'.repeat(64),
    containerIds: new Map([['c', 'b'.repeat(64)]]),
    hostPids: new Map([['c', 4242]]),
  };
  t.throws(() => podObject(rec, 'containerd'), /fails kubernetes-models validation: .*name must be string/);
});
