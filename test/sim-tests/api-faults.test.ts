/**
 * The simulated API server failing as a real one does (sim.faults.apiFaults): 429 with
 * Retry-After from storage initialisation and from priority and fairness, 503 while shutting
 * down, 500, cut connections, and watches cut in the middle — the raw answers, and what
 * @kubernetes/client-node 2.0.1 makes of them.
 */
import t from 'tap';
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import { https, sleep } from './helpers.js';

type Obj = Record<string, any>;
const G = { group: 'forensics.amber.dev', version: 'v1alpha1', plural: 'captures' } as const;
const CAPTURES = `/apis/${G.group}/${G.version}/namespaces/amber-system/captures`;

let sim: SimCluster;
let kc: KubeConfig;
let crd: CustomObjectsApi;
let core: CoreV1Api;
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a'] });
  sim.addPod({ namespace: 'shop', name: 'web-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  kc = new KubeConfig();
  kc.loadFromFile(sim.kubeconfigPath);
  crd = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
});
t.teardown(() => sim.close());
t.afterEach(() => {
  sim.faults.apiFaults.length = 0;
});

const raw = (path: string, token: string | undefined = sim.token) => https(`${sim.apiUrl}${path}`, { ca: sim.caCert, token });
const listCaptures = () => crd.listNamespacedCustomObject({ ...G, namespace: 'amber-system' }) as Promise<Obj>;
const capture = (name: string) => ({ apiVersion: `${G.group}/${G.version}`, kind: 'Capture', metadata: { name }, spec: { target: { node: 'node-a' } } });

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

t.test('a Capture list while the storage initialises: 429, Retry-After and the cacher’s Status; then the list answers', async (t) => {
  sim.faults.apiFaults.push({ answer: 'storageInitializing', verb: 'list', path: `/apis/${G.group}/`, times: 2, retryAfterSeconds: 2 });
  const r = await raw(CAPTURES);
  t.equal(r.status, 429);
  t.equal(r.headers['retry-after'], '2');
  t.equal(r.headers['content-type'], 'application/json');
  t.equal(
    r.text,
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"storage is (re)initializing","reason":"TooManyRequests","details":{"retryAfterSeconds":2},"code":429}\n',
  );
  const e = await rejection(listCaptures());
  t.ok(e instanceof ApiException, 'client-node throws an ApiException');
  t.equal(e.code, 429);
  t.equal(JSON.parse(e.body).message, 'storage is (re)initializing', 'with the Status as text');
  t.equal(e.headers['retry-after'], '2', 'and the headers');
  t.match(e.message, /Headers: /, 'its message carries the whole body and headers (what amber must not log)');
  t.same((await listCaptures()).items, [], 'the third list is answered');
  t.equal(sim.faults.apiFaults[0]?.times, 0);
  t.equal(sim.faults.apiFaults[0]?.answeredAt?.length, 2, 'the sim noted when each refused request came');
});

t.test('priority and fairness rejects with net/http’s text, not a Status', async (t) => {
  sim.faults.apiFaults.push({ answer: 'tooManyRequests', times: 2, retryAfterSeconds: 4 });
  const r = await raw('/api/v1/namespaces/shop/pods/web-1');
  t.equal(r.status, 429);
  t.equal(r.text, 'Too many requests, please try again later.\n');
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.headers['x-content-type-options'], 'nosniff');
  t.equal(r.headers['retry-after'], '4');
  t.ok(r.headers['x-kubernetes-pf-flowschema-uid'] && r.headers['x-kubernetes-pf-prioritylevel-uid'], 'names the flow schema and priority level by uid');
  const e = await rejection(core.readNamespacedPod({ namespace: 'shop', name: 'web-1' }));
  t.equal(e.code, 429);
  t.equal(e.body, 'Too many requests, please try again later.\n', 'client-node hands the text over as it came');
  t.equal((await core.readNamespacedPod({ namespace: 'shop', name: 'web-1' })).metadata?.name, 'web-1');
});

t.test('faults apply where the real chain puts them: 401 and 403 come first, and only to the verbs and paths named', async (t) => {
  sim.faults.apiFaults.push({ answer: 'tooManyRequests', verb: 'watch', times: 1 }, { answer: 'storageInitializing', path: CAPTURES, verb: 'list', times: 1 });
  t.equal((await raw(CAPTURES, 'not-a-token')).status, 401, 'authentication runs before priority and fairness');
  t.equal((await raw(CAPTURES, sim.forbiddenToken)).status, 403, 'authorization runs before storage');
  t.equal((await raw('/api/v1/namespaces/shop/pods')).status, 200, 'a pod list is not a Capture list');
  t.equal((await raw(`${CAPTURES}/x`)).status, 404, 'a get is not a list');
  t.same(
    sim.faults.apiFaults.map((f) => f.times),
    [1, 1],
    'nothing consumed yet',
  );
  t.equal((await raw(CAPTURES)).status, 429);
  const w = await raw(`${CAPTURES}?watch=true&timeoutSeconds=1`);
  t.equal(w.status, 429, 'the watch gets its own fault');
  t.equal(w.headers['content-type'], 'text/plain; charset=utf-8');
});

t.test('500 with the raw storage error; 503 while shutting down, before authentication', async (t) => {
  sim.faults.apiFaults.push({ answer: 'internalError' });
  const internal = await raw(CAPTURES);
  t.equal(internal.status, 500);
  t.same(
    internal.json(),
    { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'etcdserver: request timed out', code: 500 },
    'reason "" is left out',
  );
  sim.faults.apiFaults.push({ answer: 'shuttingDown' });
  const down = await raw(CAPTURES, 'not-a-token');
  t.equal(down.status, 503);
  t.equal(down.headers['retry-after'], '1');
  t.same(down.json(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'apiserver is shutting down',
    reason: 'ServiceUnavailable',
    code: 503,
  });
  t.notOk(down.headers['x-kubernetes-pf-flowschema-uid'], 'priority and fairness never saw it');
  sim.faults.apiFaults.push({ answer: 'shuttingDown' });
  const e = await rejection(listCaptures());
  t.equal(e.code, 503);
  t.equal(JSON.parse(e.body).message, 'apiserver is shutting down');
});

t.test('a connection cut before any answer, or after a 200’s headers, is an error without a status', async (t) => {
  sim.faults.apiFaults.push({ answer: 'reset', path: CAPTURES }, { answer: 'resetAfterHeaders', path: CAPTURES });
  for (const what of ['reset', 'resetAfterHeaders']) {
    const e = await rejection(listCaptures());
    t.notOk(e instanceof ApiException, `${what}: not an ApiException`);
    t.equal(e.code, undefined, `${what}: no HTTP status`);
    t.type(e.message, 'string');
  }
  t.same((await listCaptures()).items, [], 'the next request is answered');
});

/** client-node's Watch, collecting `TYPE name` and how it ended. */
async function watch(params: Record<string, string>): Promise<{ events: string[]; ended: Promise<unknown> }> {
  const events: string[] = [];
  let done!: (err: unknown) => void;
  const ended = new Promise((r) => {
    done = r;
  });
  await new Watch(kc).watch(
    CAPTURES,
    params,
    (type, o: Obj) => events.push(`${type} ${o.metadata?.name ?? ''}`),
    (err) => done(err ?? 'clean'),
  );
  return { events, ended };
}

t.test('a watch refused at start ends with the status; one cut mid-stream ends as it was cut', async (t) => {
  await crd.createNamespacedCustomObject({ ...G, namespace: 'amber-system', body: capture('w-1') });
  await crd.createNamespacedCustomObject({ ...G, namespace: 'amber-system', body: capture('w-2') });

  sim.faults.apiFaults.push({ answer: 'storageInitializing', verb: 'watch' });
  const refused = await watch({});
  t.match(await refused.ended, { statusCode: 429 }, 'done(err) with the status (client-node drops the body and Retry-After)');

  sim.faults.apiFaults.push({ answer: 'cutWatch', cut: 'reset', afterEvents: 1 });
  const reset = await watch({});
  const resetErr = await reset.ended;
  t.same(reset.events, ['ADDED w-1'], 'one event, then the connection is gone');
  t.not(resetErr, 'clean', 'a reset ends the watch with an error');

  sim.faults.apiFaults.push({ answer: 'cutWatch', cut: 'close', afterEvents: 2 });
  const closed = await watch({});
  t.equal(await closed.ended, 'clean', 'a closed body ends the watch without one');
  t.same(closed.events, ['ADDED w-1', 'ADDED w-2']);

  sim.faults.apiFaults.push({ answer: 'cutWatch', cut: 'truncate', afterEvents: 1 });
  const truncated = await watch({});
  t.not(await truncated.ended, 'clean');
  t.same(truncated.events, ['ADDED w-1'], 'the half-written event is not delivered');

  const rv = String(((await listCaptures()).metadata as Obj).resourceVersion);
  sim.faults.apiFaults.push({ answer: 'cutWatch', cut: 'reset', afterMs: 150 });
  const later = await watch({ resourceVersion: rv });
  await sleep(20);
  await crd.createNamespacedCustomObject({ ...G, namespace: 'amber-system', body: capture('w-3') });
  t.not(await later.ended, 'clean', 'cut after a while, mid-watch');
  t.same(later.events, ['ADDED w-3'], 'live events reached the client before the cut');
  t.equal(sim.openWatches(), 0, 'no stream is left open');
});
