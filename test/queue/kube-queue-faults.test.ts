/**
 * The Capture-resource queue against an API server that fails as real ones do (the sim's
 * apiFaults): 429 with Retry-After, 5xx, cut connections, at start and in the watch.
 */
import t from 'tap';
import { planCapture } from '../../src/core/decision.js';
import { isAmberError } from '../../src/core/amber-error.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { retryDelayMs } from '../../src/kube/api-failure.js';
import { LogSink } from '../helpers/log-sink.js';
import { startSimCluster } from '../sim/sim-cluster.js';

const NS = 'amber-system';
const CAPTURES = `/apis/forensics.amber.dev/v1alpha1/namespaces/${NS}/captures`;
const FAST = { baseMs: 50, maxMs: 400 };

function request(pod: string) {
  return planCapture({
    policy: 'interactive-shell',
    signal: {
      source: 'falco',
      rule: 'Terminal shell in container',
      priority: 'Notice',
      time: new Date().toISOString(),
      tags: [],
      fields: {},
      target: { namespace: 'shop', pod, container: 'app' },
      raw: {},
    },
    containers: 'target',
    cooldownMs: 60_000,
    timeoutSeconds: 120,
    include: ['podSpec'],
    evidence: { retentionDays: 1, lock: 'none' },
  });
}

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  const logs = new LogSink();
  const log = createLogger('debug', logs);
  const queues: KubeQueue[] = [];
  t.teardown(() => Promise.all(queues.map((q) => q.close())));
  const kc = () => loadKubeConfig(sim.kubeconfigPath);
  const responder = () => {
    const k = kc();
    const api = kubeApi(k);
    const q = KubeQueue.forResponder({ kc: k, namespace: NS, log, backoff: FAST, place: (target) => placeTarget(api, target) });
    queues.push(q);
    return q;
  };
  const agent = () => {
    const q = KubeQueue.forAgent({ kc: kc(), namespace: NS, node: 'node-a', log, backoff: FAST, rewatchMs: 20 });
    queues.push(q);
    return q;
  };
  for (const name of ['p-1', 'p-2', 'p-3', 'p-4'])
    sim.addPod({ namespace: 'shop', name, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  return { sim, logs, responder, agent };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('backoff: doubles from the base up to the cap, with jitter, and never under the server’s Retry-After', async (t) => {
  const b = { baseMs: 1000, maxMs: 30_000 };
  t.same(
    [1, 2, 3, 4].map((n) => retryDelayMs(n, b, undefined, () => 1)),
    [1000, 2000, 4000, 8000],
  );
  t.same(
    [1, 2, 3].map((n) => retryDelayMs(n, b, undefined, () => 0)),
    [500, 1000, 2000],
    'half of each step is random',
  );
  t.equal(
    retryDelayMs(10, b, undefined, () => 1),
    30_000,
    'capped',
  );
  t.equal(
    retryDelayMs(1, b, 5, () => 0),
    5000,
    'a longer Retry-After wins',
  );
  t.equal(
    retryDelayMs(6, b, 1, () => 1),
    30_000,
    'a shorter one does not shorten the backoff',
  );
  t.equal(
    retryDelayMs(1, b, 3600, () => 0),
    60_000,
    'a Retry-After of an hour is capped at a minute',
  );
});

t.test(
  'an agent started while the API answers 429, then 500, then cuts the connection keeps listing until it answers, and then takes the Captures',
  async (t) => {
    const { sim, logs, responder, agent } = await setUp(t);
    const created = await responder().enqueue(request('p-1'));
    sim.faults.apiFaults.push(
      { answer: 'storageInitializing', verb: 'list', path: CAPTURES, times: 2, retryAfterSeconds: 1 },
      { answer: 'internalError', verb: 'list', path: CAPTURES, times: 1 },
      { answer: 'reset', path: CAPTURES, times: 1 },
    );
    const q = agent();
    const seen: string[] = [];
    q.watch((c) => seen.push(c.id));
    q.start();
    t.same(await q.list(), [], 'list() does not fail while the first list does');
    t.notOk(q.isReady(), 'not ready before the first list');
    await until('a failure noted', () => (q.unready() ?? '').includes('429'));
    t.match(q.unready(), /^waiting for the first list of Captures to succeed \(last answer: list: 429 storage is \(re\)initializing \(retry after 1 s\)\)$/);
    await until('the Capture is taken', () => seen.length === 1);
    t.same(seen, [created.capture.id]);
    t.ok(q.isReady(), 'ready once a list succeeded');
    t.equal(q.unready(), undefined);
    const [a, b] = sim.faults.apiFaults[0]?.answeredAt ?? [];
    t.ok((b ?? 0) - (a ?? 0) >= 990, `Retry-After: 1 is honoured (${(b ?? 0) - (a ?? 0)} ms between the two 429s)`);

    const failures = logs.find('Capture list failed; retrying');
    t.equal(failures.length, 4, 'one log line per failed list');
    t.match(
      failures.map((l) => [l['status'], l['attempt']]),
      [
        [429, 1],
        [429, 2],
        [500, 3],
        [undefined, 4],
      ],
    );
    t.match(failures[0], { level: 40, what: 'list', problem: 'storage is (re)initializing', retryAfterSeconds: 1, retryInMs: Number });
    t.ok((failures[0]?.['retryInMs'] as number) >= 1000, 'the wait announced honours Retry-After');
    t.match(failures[2], { problem: 'etcdserver: request timed out' });
    t.match(failures[3], { problem: 'fetch failed: other side closed (UND_ERR_SOCKET)' });
    t.notMatch(logs.text(), /Headers:|HTTP-Code|audit-id|"kind":"Status"|\\"kind\\"/i, 'no HTTP body or header in any line');

    await responder().enqueue(request('p-2'));
    await until('a Capture made later comes through the watch', () => seen.length === 2);
    t.equal((await q.list()).length, 2, 'list() answers from what list + watch saw');
  },
);

t.test(
  'a watch cut mid-stream — reset, a half-written event, a body closed at once, a refused re-watch — is opened again from where it was; no Capture is lost or doubled',
  async (t) => {
    const { sim, logs, responder, agent } = await setUp(t);
    const r = responder();
    const q = agent();
    const seen: string[] = [];
    q.watch((c) => seen.push(c.spec.target.pod));
    await until('watching', () => sim.openWatches() === 1);
    await r.enqueue(request('p-1'));
    await until('p-1', () => seen.length === 1);

    // the open stream is reset; the next one is refused (429 from priority and fairness), then one
    // closes at once, then one writes half of p-2's event and is cut
    sim.faults.apiFaults.push(
      { answer: 'tooManyRequests', verb: 'watch', times: 1 },
      { answer: 'cutWatch', cut: 'close', afterEvents: 0, times: 1 },
      { answer: 'cutWatch', cut: 'truncate', afterEvents: 0, times: 1 },
    );
    sim.endWatches('reset');
    await until('three faults used', () => sim.faults.apiFaults.slice(0, 2).every((f) => f.times === 0));
    await r.enqueue(request('p-2'));
    await r.enqueue(request('p-3'));
    await until('p-2 and p-3', () => seen.length === 3);
    t.same(seen, ['p-1', 'p-2', 'p-3'], 'each Capture once, in order');
    t.equal(sim.faults.apiFaults[2]?.times, 0, 'the truncating stream was served');
    const lines = logs.find('Capture watch failed; watching again');
    t.ok(lines.length >= 4, `one line per failed watch (${lines.length})`);
    t.match(
      lines.map((l) => l['problem']),
      [/terminated: other side closed/, 'Too Many Requests', /ended at once/, /terminated: other side closed/],
    );
    t.match(
      lines.map((l) => l['attempt']),
      [1, 2, 3, 4],
      'the backoff grows while failures come in a row',
    );
    t.equal(logs.find('Capture list failed; retrying').length, 0, 'no relist was needed');
    t.ok(q.isReady());
  },
);

t.test(
  'a responder is not ready until its first list succeeds; while the API answers 429 the intake gets QUEUE_UNAVAILABLE (503), never a capture failed for it',
  async (t) => {
    const { sim, logs, responder } = await setUp(t);
    sim.faults.apiFaults.push({ answer: 'storageInitializing', verb: 'list', path: CAPTURES, times: 2 });
    const q = responder();
    q.start();
    t.notOk(q.isReady());
    await until('ready', () => q.isReady(), 5000);
    t.equal(logs.find('Capture list failed; retrying').length, 2);

    sim.faults.apiFaults.push({ answer: 'tooManyRequests', times: 1 });
    const busy = await q.enqueue(request('p-1')).catch((e: unknown) => e);
    t.ok(isAmberError(busy, 'QUEUE_UNAVAILABLE'), 'a list refused with 429 → QUEUE_UNAVAILABLE');
    t.match((busy as Error).message, /status=429 message=Too many requests, please try again later\. retryAfterSeconds=1\)$/);
    t.notMatch((busy as Error).message, /\n|Headers/, 'one line, no headers');
    t.notOk(q.isReady(), 'not ready while the API refuses');
    t.match(q.unready(), /the API server failed the last request \(last answer: list: 429 Too many requests/);

    // only the pod read is refused: no Capture is recorded Failed for a passing 429
    sim.faults.apiFaults.push(
      { answer: 'tooManyRequests', path: '/api/v1/namespaces/shop/pods/', times: 1 },
      { answer: 'internalError', path: '/api/v1/namespaces/shop/pods/', times: 1 },
    );
    for (const status of [429, 500]) {
      const e = await q.enqueue(request('p-2')).catch((x: unknown) => x);
      t.ok(isAmberError(e, 'QUEUE_UNAVAILABLE'), `a ${status} on the pod read → QUEUE_UNAVAILABLE`);
      t.match((e as { details: object }).details, { what: 'read pod shop/p-2', status });
    }
    t.equal(sim.captures(NS).length, 0, 'nothing was created');
    const ok = await q.enqueue(request('p-2'));
    t.equal(ok.capture.status.phase, 'Pending', 'the retried alert is queued');
    t.ok(q.isReady(), 'and the queue is ready again');
  },
);

t.test('a pod read during a capture: 429, 5xx and cut connections are KUBE_API_UNAVAILABLE (retried) with one line of message', async (t) => {
  const { sim } = await setUp(t);
  const api = kubeApi(loadKubeConfig(sim.kubeconfigPath));
  const pods = '/api/v1/namespaces/shop/pods/';
  sim.faults.apiFaults.push(
    { answer: 'tooManyRequests', path: pods, retryAfterSeconds: 3 },
    { answer: 'storageInitializing', path: pods },
    { answer: 'internalError', path: pods },
    { answer: 'shuttingDown', path: pods },
    { answer: 'reset', path: pods },
    { answer: 'resetAfterHeaders', path: pods },
  );
  const expected = [
    { status: 429, message: 'Too many requests, please try again later.', retryAfterSeconds: 3 },
    { status: 429, message: 'storage is (re)initializing', retryAfterSeconds: 1 },
    { status: 500, message: 'etcdserver: request timed out' },
    { status: 503, message: 'apiserver is shutting down', retryAfterSeconds: 1 },
    { message: /^fetch failed: other side closed \(UND_ERR_SOCKET\)$/ },
    { message: /^terminated: other side closed \(UND_ERR_SOCKET\)$/ },
  ];
  for (const want of expected) {
    const e = await api.readPod('shop', 'p-1').catch((x: unknown) => x);
    t.ok(isAmberError(e, 'KUBE_API_UNAVAILABLE'), `${String(want.status ?? 'no answer')}: KUBE_API_UNAVAILABLE`);
    t.match((e as { details: object }).details, { what: 'pod shop/p-1', ...want });
    t.equal((e as Error).cause, undefined, 'client-node’s error (body and headers) is not kept');
    t.notMatch((e as Error).message, /\n/);
  }
  t.equal((await api.readPod('shop', 'p-1'))?.metadata?.name, 'p-1');
});
