// The sim's events.k8s.io/v1 Events: validated as the real API server validates an Event created
// through that group, stored for tests, faults applied; and amber's adapter (kube/capture-events.ts)
// against it: one Event however many attempts, within the API's limits, failures classified.
import t from 'tap';
import { captureEventsApi, truncateUtf8 } from '../../src/kube/capture-events.js';
import { loadKubeConfig } from '../../src/kube/kube-api.js';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import { https } from './helpers.js';

type Obj = Record<string, any>;
let sim: SimCluster;
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a'] });
});
t.teardown(() => sim.close());
t.afterEach(() => {
  sim.faults.apiFaults.length = 0;
});

const event = (name: string, over: Obj = {}): Obj => ({
  apiVersion: 'events.k8s.io/v1',
  kind: 'Event',
  metadata: { name, namespace: 'amber-system' },
  eventTime: '2026-12-07T07:00:06.123456Z',
  reportingController: 'forensics.amber.dev/amber',
  reportingInstance: 'agent-1',
  action: 'Seal',
  reason: 'CaptureSealed',
  type: 'Normal',
  note: 'sealed',
  regarding: { apiVersion: 'forensics.amber.dev/v1alpha1', kind: 'Capture', namespace: 'amber-system', name: 'cap-1' },
  ...over,
});
const post = (body: unknown, token = sim.token, ns = 'amber-system') =>
  https(`${sim.apiUrl}/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
    method: 'POST',
    ca: sim.caCert,
    token,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

t.test('POST creates the Event (201, uid and resourceVersion), GET and the lists serve it; the same name again is 409 AlreadyExists', async (t) => {
  const res = await post(event('e-created'));
  t.equal(res.status, 201, 'created');
  t.match(res.json(), { metadata: { name: 'e-created', namespace: 'amber-system', uid: /^[0-9a-f-]{36}$/, resourceVersion: /^\d+$/ } });
  const got = await https(`${sim.apiUrl}/apis/events.k8s.io/v1/namespaces/amber-system/events/e-created`, { ca: sim.caCert, token: sim.token });
  t.equal(got.status, 200);
  const list = await https(`${sim.apiUrl}/apis/events.k8s.io/v1/events`, { ca: sim.caCert, token: sim.token });
  t.match(list.json(), { kind: 'EventList', items: [{ metadata: { name: 'e-created' } }] });
  t.equal(sim.events('amber-system').length, 1);
  const again = await post(event('e-created'));
  t.equal(again.status, 409);
  t.match(again.json(), { reason: 'AlreadyExists', message: 'events.events.k8s.io "e-created" already exists' });
});

t.test('the real validation: MicroTime with six digits, the required fields, type, limits, deprecated fields unset', async (t) => {
  const ms = await post(event('e-ms', { eventTime: '2026-12-07T07:00:06.123Z' }));
  t.equal(ms.status, 400, 'a millisecond time does not parse as RFC3339Micro');
  t.match(ms.json().message, 'cannot parse ".123Z" as ".000000"');
  const missing = await post(event('e-missing', { reportingController: undefined, action: '', reason: undefined }));
  t.equal(missing.status, 422);
  t.match(
    missing.json().message,
    /^Event\.events\.k8s\.io "e-missing" is invalid: \[reportingController: Required value, .*action: Required value, reason: Required value/,
  );
  const bad = await post(event('e-bad', { type: 'Critical', note: 'x'.repeat(1025), deprecatedCount: 3 }));
  t.equal(bad.status, 422);
  t.match(bad.json().message, 'message: Invalid value: "": can have at most 1024 characters');
  t.match(bad.json().message, 'type: Invalid value: "": has invalid value: Critical');
  t.match(bad.json().message, 'count: Invalid value: "": needs to be unset');
  const noTime = await post(event('e-notime', { eventTime: undefined }));
  t.equal(noTime.status, 422);
  t.match(noTime.json().message, 'eventTime: Required value');
  const noNs = await post(event('e-nons', { regarding: { kind: 'Capture', name: 'cap-1' } }));
  t.equal(noNs.status, 422, 'a regarding object without a namespace, outside default and kube-system');
  const elsewhere = await post(event('e-elsewhere', { metadata: { name: 'e-elsewhere', namespace: 'shop' } }));
  t.equal(elsewhere.status, 400, 'metadata.namespace must be the namespace of the URL');
  const forbidden = await post(event('e-forbidden'), sim.forbiddenToken);
  t.equal(forbidden.status, 403);
  t.match(forbidden.json().message, 'cannot create resource "events" in API group "events.k8s.io" in the namespace "amber-system"');
  t.same(
    sim.events().map((e) => e.metadata.name),
    ['e-created'],
    'nothing invalid was stored',
  );
});

t.test('faults apply to Event requests: 429 with Retry-After, 500, a cut connection', async (t) => {
  sim.faults.apiFaults.push(
    { answer: 'tooManyRequests', verb: 'create', path: '/apis/events.k8s.io/', retryAfterSeconds: 3 },
    { answer: 'internalError', verb: 'create', path: '/apis/events.k8s.io/' },
    { answer: 'reset', verb: 'create', path: '/apis/events.k8s.io/' },
  );
  const busy = await post(event('e-fault'));
  t.equal(busy.status, 429);
  t.equal(busy.headers['retry-after'], '3');
  t.equal((await post(event('e-fault'))).status, 500);
  await t.rejects(post(event('e-fault')), 'the connection is cut');
  t.equal((await post(event('e-fault'))).status, 201);
});

t.test(
  "amber's adapter: the Event regards the Capture (its uid), one however many publishes; a long note is cut to the limit; errors are classified",
  async (t) => {
    const capture = sim.addCapture({
      apiVersion: 'forensics.amber.dev/v1alpha1',
      kind: 'Capture',
      metadata: { name: 'cap-adapter-0', namespace: 'amber-system', labels: { 'forensics.amber.dev/id': '01JADAPTER' } },
      spec: { target: { namespace: 'shop', pod: 'web-1' } },
    });
    const kc = loadKubeConfig(sim.kubeconfigPath);
    const events = captureEventsApi(kc, { namespace: 'amber-system', reportingInstance: 'agent-x' });
    const e = {
      captureId: '01JADAPTER',
      key: 'sealed.events',
      type: 'Normal' as const,
      reason: 'CaptureSealed',
      action: 'Seal',
      note: 'ü'.repeat(2000),
      eventTime: new Date(),
    };
    t.same(await events.publish(e), { ok: true });
    t.same(await events.publish(e), { ok: true }, 'the second publish meets 409: the Event is already there');
    const stored = sim.events('amber-system').filter((x) => x.regarding?.name === 'cap-adapter-0');
    t.equal(stored.length, 1, 'one Event');
    t.match(stored[0], { metadata: { name: 'cap-adapter-0.sealed.events' }, regarding: { uid: capture.metadata.uid, namespace: 'amber-system' } });
    t.ok(Buffer.byteLength(String(stored[0]?.note)) <= 1024, 'the note within 1024 bytes');
    t.match(String(stored[0]?.note), /…$/);
    t.equal(truncateUtf8('abc', 3), 'abc');

    sim.faults.apiFaults.push({ answer: 'tooManyRequests', verb: 'create', path: '/apis/events.k8s.io/', retryAfterSeconds: 2 });
    t.match(await events.publish({ ...e, key: 'failed.events' }), { ok: false, retry: true, retryAfterMs: 2000, reason: /429/ });
    t.match(await events.publish({ ...e, captureId: '01JNONE' }), { ok: false, retry: false, reason: /no Capture resource/ });
    const kcForbidden = loadKubeConfig(sim.kubeconfigPath);
    const user = kcForbidden.getCurrentUser() as { token?: string };
    user.token = sim.forbiddenToken;
    const denied = await captureEventsApi(kcForbidden, { namespace: 'amber-system', reportingInstance: 'agent-x' }).publish(e);
    t.match(denied, { ok: false, retry: false, reason: /403.*ServiceAccount needs create on events/ });
  },
);
