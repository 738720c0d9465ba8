/**
 * The Capture custom resource through the real @kubernetes/client-node 2.0.1 CustomObjectsApi:
 * create / get / list / replace / patch, the status subresource, optimistic concurrency, delete,
 * authorisation and discovery. Raw HTTPS only where the exact bytes of an answer matter.
 */
import t from 'tap';
import { ApiException, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { startSimCluster, FORBIDDEN_USER, SA_NAMESPACE, type SimCluster } from '../sim/sim-cluster.js';
import { https } from './helpers.js';

type Obj = Record<string, any>;
const G = { group: 'forensics.amber.dev', version: 'v1alpha1', plural: 'captures' } as const;
const NS = SA_NAMESPACE;
const BASE = `/apis/${G.group}/${G.version}`;

let sim: SimCluster;
t.before(async () => {
  sim = await startSimCluster();
});
t.teardown(() => sim.close());

function api(token?: string): CustomObjectsApi {
  const kc = new KubeConfig();
  kc.loadFromFile(sim.kubeconfigPath);
  if (token !== undefined) {
    const user = kc.getCurrentUser();
    if (user) Object.assign(user, { token });
  }
  return kc.makeApiClient(CustomObjectsApi);
}

function capture(name: string, labels: Record<string, string> = {}, extra: Obj = {}): Obj {
  return {
    apiVersion: `${G.group}/${G.version}`,
    kind: 'Capture',
    metadata: { name, labels },
    spec: { target: { namespace: 'shop', pod: 'web-7d4b9c8f6d-x2kzq', container: 'app', node: 'node-a' } },
    ...extra,
  };
}

/** The ApiException a call fails with: code and the parsed Status body. */
async function failure(p: Promise<unknown>): Promise<{ code: number; status: Obj }> {
  try {
    await p;
  } catch (err) {
    // the generated client keeps the body as text, except on 401 where it drops it (body undefined)
    if (err instanceof ApiException) return { code: err.code, status: err.body === undefined ? {} : (JSON.parse(String(err.body)) as Obj) };
    throw err;
  }
  throw new Error('expected the call to fail');
}

const raw = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, token: string | null = sim.token) =>
  https(`${sim.apiUrl}${path}`, {
    method,
    ca: sim.caCert,
    token: token ?? undefined,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

t.test('create answers 201 with the stored object, drops status, and 409 AlreadyExists for the same name', async (t) => {
  const res = await api().createNamespacedCustomObjectWithHttpInfo({
    ...G,
    namespace: NS,
    body: capture('cap-a', { tier: 'x' }, { status: { phase: 'Sealed' } }),
  });
  t.equal(res.httpStatusCode, 201);
  const o = res.data as Obj;
  t.match(o.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.match(o.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.match(o.metadata.resourceVersion, /^\d+$/);
  t.equal(o.metadata.generation, 1);
  t.equal(o.metadata.namespace, NS);
  t.equal(o.status, undefined, 'create cannot set status (status subresource)');
  t.same(Object.keys(o), ['apiVersion', 'kind', 'metadata', 'spec'], 'keys sorted, as Go marshals an unstructured object');
  t.same(
    sim.captures(NS).map((c) => c.metadata.name),
    ['cap-a'],
  );

  const again = await failure(api().createNamespacedCustomObject({ ...G, namespace: NS, body: capture('cap-a') }));
  t.equal(again.code, 409);
  const r = await raw('POST', `${BASE}/namespaces/${NS}/captures`, capture('cap-a'));
  t.equal(r.status, 409);
  t.equal(
    r.text,
    `${JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'captures.forensics.amber.dev "cap-a" already exists',
      reason: 'AlreadyExists',
      details: { name: 'cap-a', group: 'forensics.amber.dev', kind: 'captures' },
      code: 409,
    })}\n`,
    'the exact Status bytes',
  );
});

t.test('generateName, invalid names, wrong apiVersion / kind / namespace', async (t) => {
  const gen = (await api().createNamespacedCustomObject({ ...G, namespace: NS, body: { ...capture(''), metadata: { generateName: 'cap-gen-' } } })) as Obj;
  t.match(gen.metadata.name, /^cap-gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);

  const bad = await failure(api().createNamespacedCustomObject({ ...G, namespace: NS, body: capture('Bad_Name') }));
  t.equal(bad.code, 422);
  t.equal(bad.status.reason, 'Invalid');
  t.match(
    bad.status.message,
    /^Capture\.forensics\.amber\.dev "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of/,
  );
  t.same(bad.status.details.causes[0], { reason: 'FieldValueInvalid', message: bad.status.details.causes[0].message, field: 'metadata.name' });

  const label = await failure(api().createNamespacedCustomObject({ ...G, namespace: NS, body: capture('cap-label', { 'bad key': 'v' }) }));
  t.equal(label.code, 422);
  t.match(label.status.message, /metadata\.labels: Invalid value: "bad key": name part must consist of alphanumeric characters/);

  const big = await failure(
    api().createNamespacedCustomObject({
      ...G,
      namespace: NS,
      body: { ...capture('cap-big'), metadata: { name: 'cap-big', annotations: { a: 'x'.repeat(300_000) } } },
    }),
  );
  t.equal(big.code, 422);
  t.match(big.status.message, /metadata\.annotations: Too long: may not be more than 262144 bytes/);

  const typed = await failure(
    api().createNamespacedCustomObject({ ...G, namespace: NS, body: { ...capture('cap-t'), metadata: { name: 'cap-t', labels: { n: 1 } } } }),
  );
  t.equal(typed.code, 400, 'a wrongly typed metadata field fails decoding');
  t.match(typed.status.message, /^Capture in version "v1alpha1" cannot be handled as a Capture: /);

  const version = await failure(
    api().createNamespacedCustomObject({ ...G, namespace: NS, body: { ...capture('cap-v'), apiVersion: 'forensics.amber.dev/v1' } }),
  );
  t.equal(version.code, 400);
  t.equal(
    version.status.message,
    'the API version in the data (forensics.amber.dev/v1) does not match the expected API version (forensics.amber.dev/v1alpha1)',
  );

  const kind = await failure(api().createNamespacedCustomObject({ ...G, namespace: NS, body: { ...capture('cap-k'), kind: 'Evidence' } }));
  t.equal(kind.code, 422, 'the real server answers a wrong kind with 422 from the custom resource validator');
  t.equal(kind.status.message, 'Evidence.forensics.amber.dev "cap-k" is invalid: kind: Invalid value: "Evidence": must be Capture');

  const ns = await failure(
    api().createNamespacedCustomObject({ ...G, namespace: NS, body: { ...capture('cap-ns'), metadata: { name: 'cap-ns', namespace: 'other' } } }),
  );
  t.equal(ns.code, 400);
  t.equal(ns.status.message, 'the namespace of the provided object does not match the namespace sent on the request');
  t.equal(sim.captures().filter((c) => /^cap-(label|big|v|k|ns)$/.test(c.metadata.name)).length, 0, 'nothing stored');
});

t.test('get: the object, or 404 NotFound', async (t) => {
  const o = (await api().getNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-a' })) as Obj;
  t.equal(o.metadata.name, 'cap-a');
  const gone = await failure(api().getNamespacedCustomObject({ ...G, namespace: NS, name: 'nope' }));
  t.equal(gone.code, 404);
  t.same(gone.status, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'captures.forensics.amber.dev "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', group: 'forensics.amber.dev', kind: 'captures' },
    code: 404,
  });
});

t.test('list: namespaced and cluster-wide, equality and set-based label selectors', async (t) => {
  const ns = 'sel';
  for (const [name, labels] of [
    ['s1', { node: 'a', tier: 'gold' }],
    ['s2', { node: 'b', tier: 'silver' }],
    ['s3', { node: 'c' }],
  ] as const) {
    await api().createNamespacedCustomObject({ ...G, namespace: ns, body: capture(name, labels) });
  }
  const names = async (labelSelector?: string) =>
    ((await api().listNamespacedCustomObject({ ...G, namespace: ns, ...(labelSelector !== undefined ? { labelSelector } : {}) })) as Obj).items.map(
      (i: Obj) => i.metadata.name,
    );
  const list = (await api().listNamespacedCustomObject({ ...G, namespace: ns, limit: 1 })) as Obj;
  t.equal(list.kind, 'CaptureList');
  t.equal(list.apiVersion, 'forensics.amber.dev/v1alpha1');
  t.match(list.metadata.resourceVersion, /^\d+$/);
  t.equal(list.items[0].kind, 'Capture', 'custom resource list items keep kind and apiVersion');
  t.equal(list.items.length, 3, 'limit may be ignored: everything, no continue token');
  t.same(await names('node=a'), ['s1']);
  t.same(await names('node==b'), ['s2']);
  t.same(await names('node!=a'), ['s2', 's3']);
  t.same(await names('node in (a,c)'), ['s1', 's3']);
  t.same(await names('tier notin (gold)'), ['s2', 's3'], 'notin also matches objects without the label');
  t.same(await names('tier'), ['s1', 's2']);
  t.same(await names('!tier'), ['s3']);
  t.same(await names('tier,node notin (b)'), ['s1']);
  const all = (await api().listClusterCustomObject({ ...G, labelSelector: 'node' })) as Obj;
  t.same(
    all.items.map((i: Obj) => `${i.metadata.namespace}/${i.metadata.name}`),
    ['sel/s1', 'sel/s2', 'sel/s3'],
  );
  const bad = await failure(api().listNamespacedCustomObject({ ...G, namespace: ns, labelSelector: 'node in a' }));
  t.equal(bad.code, 400);
  const field = await failure(api().listNamespacedCustomObject({ ...G, namespace: ns, fieldSelector: 'spec.target.node=node-a' }));
  t.equal(field.code, 400, 'custom resources select only on metadata.name / metadata.namespace');
  t.same(
    ((await api().listNamespacedCustomObject({ ...G, namespace: ns, fieldSelector: 'metadata.name=s2' })) as Obj).items.map((i: Obj) => i.metadata.name),
    ['s2'],
  );
});

t.test('status subresource: PUT/PATCH /status change only status; PUT on the object ignores status', async (t) => {
  const created = (await api().createNamespacedCustomObject({ ...G, namespace: NS, body: capture('cap-st', { node: 'node-a' }) })) as Obj;
  const rv0 = Number(created.metadata.resourceVersion);

  const st = (await api().replaceNamespacedCustomObjectStatus({
    ...G,
    namespace: NS,
    name: 'cap-st',
    body: {
      ...created,
      metadata: { ...created.metadata, labels: { node: 'changed' } },
      spec: { target: { node: 'elsewhere' } },
      status: { phase: 'Checkpointing', attempts: 1 },
    },
  })) as Obj;
  t.same(st.status, { phase: 'Checkpointing', attempts: 1 });
  t.same(st.spec, created.spec, 'spec in a status update is ignored');
  t.same(st.metadata.labels, { node: 'node-a' }, 'so are labels');
  t.equal(st.metadata.generation, 1, 'a status write does not bump generation');
  t.ok(Number(st.metadata.resourceVersion) > rv0, 'every write bumps resourceVersion');

  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const patched = (await api().patchNamespacedCustomObjectStatus(
    { ...G, namespace: NS, name: 'cap-st', body: { status: { phase: 'Uploading' }, spec: { x: 1 } } },
    merge,
  )) as Obj;
  t.same(patched.status, { phase: 'Uploading', attempts: 1 }, 'merge patch merges into status');
  t.same(patched.spec, created.spec);

  // the client's default patch Content-Type is application/json-patch+json
  const jp = (await api().patchNamespacedCustomObjectStatus({
    ...G,
    namespace: NS,
    name: 'cap-st',
    body: [
      { op: 'test', path: '/status/phase', value: 'Uploading' },
      { op: 'replace', path: '/status/phase', value: 'Sealed' },
      { op: 'add', path: '/status/size', value: 42 },
    ],
  })) as Obj;
  t.same(jp.status, { phase: 'Sealed', attempts: 1, size: 42 });
  const failedTest = await failure(
    api().patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'cap-st', body: [{ op: 'test', path: '/status/phase', value: 'Pending' }] }),
  );
  t.equal(failedTest.code, 422);
  t.equal(failedTest.status.message, 'the server rejected our request due to an error in our request');
  const strategic = await failure(
    api().patchNamespacedCustomObjectStatus(
      { ...G, namespace: NS, name: 'cap-st', body: { status: {} } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    ),
  );
  t.equal(strategic.code, 415, 'no strategic merge patch for custom resources');

  const labelsOnly = (await api().replaceNamespacedCustomObject({
    ...G,
    namespace: NS,
    name: 'cap-st',
    body: {
      ...jp,
      metadata: { ...jp.metadata, labels: { node: 'node-b' } },
      status: { phase: 'Failed' },
    },
  })) as Obj;
  t.same(labelsOnly.metadata.labels, { node: 'node-b' });
  t.same(labelsOnly.status, jp.status, 'status in an update of the object is ignored');
  t.equal(labelsOnly.metadata.generation, 1, 'metadata changes do not bump generation');
  const specChange = (await api().replaceNamespacedCustomObject({
    ...G,
    namespace: NS,
    name: 'cap-st',
    body: { ...labelsOnly, spec: { target: { node: 'node-b' } } },
  })) as Obj;
  t.equal(specChange.metadata.generation, 2, 'spec changes bump generation');
  const noop = (await api().replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-st', body: specChange })) as Obj;
  t.equal(noop.metadata.resourceVersion, specChange.metadata.resourceVersion, 'an update that changes nothing writes nothing');
  const specPatch = (await api().patchNamespacedCustomObject(
    { ...G, namespace: NS, name: 'cap-st', body: { spec: { evidence: { logs: true } } } },
    merge,
  )) as Obj;
  t.equal(specPatch.metadata.generation, 3);
  t.same(specPatch.status, jp.status);
});

t.test('optimistic concurrency: a stale resourceVersion is 409 Conflict; none at all is 422', async (t) => {
  const o = (await api().createNamespacedCustomObject({ ...G, namespace: NS, body: capture('cap-occ') })) as Obj;
  const winner = (await api().replaceNamespacedCustomObjectStatus({
    ...G,
    namespace: NS,
    name: 'cap-occ',
    body: { ...o, status: { phase: 'Checkpointing' } },
  })) as Obj;
  t.not(winner.metadata.resourceVersion, o.metadata.resourceVersion);
  const loser = await failure(api().replaceNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'cap-occ', body: { ...o, status: { phase: 'Failed' } } }));
  t.equal(loser.code, 409);
  t.same(loser.status, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message:
      'Operation cannot be fulfilled on captures.forensics.amber.dev "cap-occ": the object has been modified; please apply your changes to the latest version and try again',
    reason: 'Conflict',
    details: { name: 'cap-occ', group: 'forensics.amber.dev', kind: 'captures' },
    code: 409,
  });
  const stalePut = await failure(api().replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-occ', body: { ...o, spec: { changed: true } } }));
  t.equal(stalePut.code, 409);
  const stalePatch = await failure(
    api().patchNamespacedCustomObjectStatus(
      { ...G, namespace: NS, name: 'cap-occ', body: { metadata: { resourceVersion: o.metadata.resourceVersion }, status: { phase: 'Failed' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ),
  );
  t.equal(stalePatch.code, 409, 'a patch that names a resourceVersion is conditional on it');
  const { resourceVersion: _rv, ...noRv } = winner.metadata;
  const unconditional = await failure(api().replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-occ', body: { ...winner, metadata: noRv } }));
  t.equal(unconditional.code, 422, 'custom resources do not allow unconditional updates');
  t.equal(
    unconditional.status.message,
    'captures.forensics.amber.dev "cap-occ" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
  );
  const missing = await failure(
    api().replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'nope', body: { ...capture('nope'), metadata: { name: 'nope', resourceVersion: '1' } } }),
  );
  t.equal(missing.code, 404, 'no create on update');
  t.equal((sim.captures(NS).find((c) => c.metadata.name === 'cap-occ') as Obj).status.phase, 'Checkpointing', 'the loser changed nothing');
});

t.test('delete answers a Success Status; a finalizer turns it into a deletionTimestamp', async (t) => {
  const o = (await api().createNamespacedCustomObject({ ...G, namespace: NS, body: capture('cap-del') })) as Obj;
  const pre = await failure(api().deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-del', body: { preconditions: { resourceVersion: '1' } } }));
  t.equal(pre.code, 409);
  const res = (await api().deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-del' })) as Obj;
  t.same(res, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name: 'cap-del', group: 'forensics.amber.dev', kind: 'captures', uid: o.metadata.uid },
  });
  t.equal((await failure(api().getNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-del' }))).code, 404);
  t.equal((await failure(api().deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-del' }))).code, 404);

  const fin = (await api().createNamespacedCustomObject({
    ...G,
    namespace: NS,
    body: { ...capture('cap-fin'), metadata: { name: 'cap-fin', finalizers: ['forensics.amber.dev/sealed'] } },
  })) as Obj;
  const pending = (await api().deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-fin' })) as Obj;
  t.match(pending.metadata.deletionTimestamp, /Z$/, 'the object, marked for deletion');
  t.ok(
    sim.captures(NS).some((c) => c.metadata.name === 'cap-fin'),
    'still there',
  );
  await api().replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-fin', body: { ...pending, metadata: { ...pending.metadata, finalizers: [] } } });
  t.notOk(
    sim.captures(NS).some((c) => c.metadata.name === 'cap-fin'),
    'gone once the last finalizer is removed',
  );
  t.ok(fin);
});

t.test('the forbidden token gets 403 for every verb, worded as the real authorizer words it', async (t) => {
  const deny = api(sim.forbiddenToken);
  const create = await failure(deny.createNamespacedCustomObject({ ...G, namespace: NS, body: capture('cap-x') }));
  t.equal(create.code, 403);
  t.same(create.status, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `captures.forensics.amber.dev is forbidden: User "${FORBIDDEN_USER}" cannot create resource "captures" in API group "forensics.amber.dev" in the namespace "${NS}"`,
    reason: 'Forbidden',
    details: { group: 'forensics.amber.dev', kind: 'captures' },
    code: 403,
  });
  t.equal(
    (await failure(deny.getNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-a' }))).status.message,
    `captures.forensics.amber.dev "cap-a" is forbidden: User "${FORBIDDEN_USER}" cannot get resource "captures" in API group "forensics.amber.dev" in the namespace "${NS}"`,
  );
  t.match(
    (await failure(deny.listClusterCustomObject({ ...G }))).status.message,
    /cannot list resource "captures" in API group "forensics.amber\.dev" at the cluster scope$/,
  );
  t.match(
    (await failure(deny.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'cap-a', body: [] }))).status.message,
    /cannot patch resource "captures\/status"/,
  );
  t.equal((await raw('GET', `${BASE}/namespaces/${NS}/captures?watch=1`, undefined, {}, sim.forbiddenToken)).status, 403);
  t.equal((await raw('GET', `${BASE}/namespaces/${NS}/captures`, undefined, {}, null)).status, 403, 'anonymous');
  sim.faults.rejectToken = true;
  t.teardown(() => {
    sim.faults.rejectToken = false;
  });
  const unauthorized = await failure(api().getNamespacedCustomObject({ ...G, namespace: NS, name: 'cap-a' }));
  t.equal(unauthorized.code, 401);
  t.same(unauthorized.status, {}, 'client-node drops the body of a 401');
});

t.test('discovery: the group and its APIResourceList', async (t) => {
  const r = await raw('GET', BASE, undefined, {}, sim.forbiddenToken);
  t.equal(r.status, 200, 'discovery is open to every authenticated user');
  const doc = r.json<Obj>();
  t.equal(doc.kind, 'APIResourceList');
  t.equal(doc.groupVersion, 'forensics.amber.dev/v1alpha1');
  t.same(
    doc.resources.map((x: Obj) => [x.name, x.namespaced, x.kind, x.verbs]),
    [
      ['captures', true, 'Capture', ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch']],
      ['captures/status', true, 'Capture', ['get', 'patch', 'update']],
    ],
  );
  t.equal((await raw('GET', `/apis/${G.group}`)).json<Obj>().preferredVersion.version, 'v1alpha1');
  t.equal((await raw('GET', BASE, undefined, {}, null)).status, 403, 'not for anonymous');
  t.equal((await raw('GET', `/apis/${G.group}/v1/namespaces/x/captures`)).status, 404);
  t.equal((await raw('POST', `${BASE}/captures`, capture('x'))).status, 405, 'no create on the cluster-wide path');
});

t.test('SimCluster seeding: addCapture keeps status and fires the same checks; deleteCapture', async (t) => {
  const seeded = sim.addCapture({ ...capture('cap-seed'), metadata: { name: 'cap-seed', namespace: 'seed' }, status: { phase: 'Uploading' } });
  t.equal(seeded.status.phase, 'Uploading');
  t.equal(seeded.metadata.generation, 1);
  t.throws(() => sim.addCapture({ ...capture('cap-seed'), metadata: { name: 'cap-seed', namespace: 'seed' } }), /already exists/);
  t.throws(() => sim.addCapture(capture('Nope')), /is invalid/);
  const viaApi = (await api().getNamespacedCustomObject({ ...G, namespace: 'seed', name: 'cap-seed' })) as Obj;
  t.same(viaApi, seeded);
  sim.deleteCapture('seed', 'cap-seed');
  t.same(sim.captures('seed'), []);
});
