import t from 'tap';
import { planCapture } from '../../src/core/decision.js';
import type { Capture } from '../../src/core/capture.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { failUnclaimed } from '../../src/queue/kube/fail-unclaimed.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { LogSink } from '../helpers/log-sink.js';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';

const NS = 'amber-system';

function request(pod: string, opts: { cooldownMs?: number; deliveryKey?: string } = {}) {
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
      ...(opts.deliveryKey !== undefined ? { deliveryKey: opts.deliveryKey } : {}),
    },
    containers: 'target',
    cooldownMs: opts.cooldownMs ?? 60_000,
    timeoutSeconds: 120,
    include: ['podSpec'],
    evidence: { retentionDays: 1, lock: 'none' },
  });
}

async function setUp(t: {
  teardown(fn: () => unknown): void;
}): Promise<{ sim: SimCluster; responder: () => KubeQueue; agent: (node: string) => KubeQueue; logs: LogSink }> {
  const sim = await startSimCluster({ nodes: ['node-a', 'node-b'] });
  t.teardown(() => sim.close());
  const logs = new LogSink();
  const log = createLogger('debug', logs);
  const queues: KubeQueue[] = [];
  t.teardown(() => Promise.all(queues.map((q) => q.close())));
  const kc = () => loadKubeConfig(sim.kubeconfigPath);
  return {
    sim,
    logs,
    responder: () => {
      const k = kc();
      const api = kubeApi(k);
      const q = KubeQueue.forResponder({ kc: k, namespace: NS, log, place: (target) => placeTarget(api, target) });
      queues.push(q);
      return q;
    },
    agent: (node) => {
      const q = KubeQueue.forAgent({ kc: kc(), namespace: NS, node, log, rewatchMs: 50 });
      queues.push(q);
      return q;
    },
  };
}

t.test('two responders given the same alert at once create exactly one Capture', async (t) => {
  const { sim, responder } = await setUp(t);
  sim.addPod({ namespace: 'shop', name: 'web-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const [a, b] = [responder(), responder()];
  const results = await Promise.all([a.enqueue(request('web-1')), b.enqueue(request('web-1')), a.enqueue(request('web-1'))]);
  t.equal(results.filter((r) => !r.duplicate).length, 1, 'one created, the others are duplicates');
  t.equal(new Set(results.map((r) => r.capture.id)).size, 1, 'all name the same capture');
  const listed = await a.list();
  t.equal(listed.length, 1);
  t.equal(listed[0]?.spec.target.node, 'node-a', 'placed on the pod’s node');
  t.equal(listed[0]?.status.phase, 'Pending');
  t.same(await b.get(results[0]?.capture.id ?? ''), listed[0], 'readable from another replica');
});

t.test('the cooldown and re-deliveries hold across replicas; after the cooldown a new Capture is made', async (t) => {
  const { sim, responder } = await setUp(t);
  sim.addPod({ namespace: 'shop', name: 'web-2', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const [a, b] = [responder(), responder()];
  const first = await a.enqueue(request('web-2', { cooldownMs: 300, deliveryKey: 'uuid-1' }));
  t.equal(first.duplicate, false);
  t.equal((await b.enqueue(request('web-2', { cooldownMs: 300 }))).duplicate, true, 'within the cooldown');
  await new Promise((r) => setTimeout(r, 350));
  t.equal(
    (await b.enqueue(request('web-2', { cooldownMs: 300, deliveryKey: 'uuid-1' }))).duplicate,
    true,
    're-delivery of the same signal, whatever the cooldown',
  );
  // the first capture has its archive by now: one still Pending would be joined (one freeze per container)
  await b.updateStatus(first.capture.id, { ...first.capture.status, phase: 'Uploading' });
  const second = await b.enqueue(request('web-2', { cooldownMs: 300 }));
  t.equal(second.duplicate, false, 'after the cooldown');
  t.not(second.capture.id, first.capture.id);
  t.equal((await a.list()).length, 2);
});

t.test('a target that cannot be placed is recorded Failed with its reason', async (t) => {
  const { responder } = await setUp(t);
  const r = await responder().enqueue(request('no-such-pod'));
  t.equal(r.capture.status.phase, 'Failed');
  t.equal(r.capture.status.reason, 'PodGone');
});

t.test('an agent sees only its node’s Captures, through list and watch, and writes status', async (t) => {
  const { sim, responder, agent } = await setUp(t);
  sim.addPod({ namespace: 'shop', name: 'on-a', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  sim.addPod({ namespace: 'shop', name: 'on-a2', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  sim.addPod({ namespace: 'shop', name: 'on-b', node: 'node-b', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const r = responder();
  const early = await r.enqueue(request('on-a'));
  const onB = agent('node-b');
  const seenA: Capture[] = [];
  const onA = agent('node-a');
  onA.watch((c) => seenA.push(c));
  const later = await r.enqueue(request('on-b'));
  await r.enqueue(request('on-a2'));
  await waitFor(() => seenA.length >= 2);
  t.same(
    seenA.map((c) => c.spec.target.pod),
    ['on-a', 'on-a2'],
    'the listed one and the watched one, not node-b’s',
  );
  t.same(
    (await onB.list()).map((c) => c.id),
    [later.capture.id],
  );
  const updated = await onA.updateStatus(early.capture.id, {
    ...early.capture.status,
    phase: 'Checkpointing',
    attempts: 1,
    phaseTimes: { ...early.capture.status.phaseTimes, Checkpointing: new Date().toISOString() },
  });
  t.equal(updated.status.phase, 'Checkpointing');
  t.equal((await r.get(early.capture.id))?.status.phase, 'Checkpointing', 'the responder reads what the agent wrote');
});

t.test('Captures no agent takes fail with NoAgent after the timeout', async (t) => {
  const { sim, responder } = await setUp(t);
  sim.addPod({ namespace: 'shop', name: 'orphan', node: 'node-b', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const r = responder();
  const c = await r.enqueue(request('orphan'));
  t.same(await failUnclaimed(r, 60_000), [], 'not yet');
  await new Promise((res) => setTimeout(res, 30));
  t.same(await failUnclaimed(r, 10), [c.capture.id]);
  const failed = await r.get(c.capture.id);
  t.equal(failed?.status.phase, 'Failed');
  t.equal(failed?.status.reason, 'NoAgent');
  t.match(failed?.status.message, /no amber agent on node node-b/);
});

t.test('a watch that gets 410 Gone relists and loses no Capture', async (t) => {
  const { sim, responder, agent, logs } = await setUp(t);
  for (const name of ['w-1', 'w-2', 'w-3'])
    sim.addPod({ namespace: 'shop', name, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const r = responder();
  const seen: string[] = [];
  agent('node-a').watch((c) => seen.push(c.spec.target.pod));
  await r.enqueue(request('w-1'));
  await waitFor(() => seen.length === 1);
  // the API server forgets history and drops the stream; a capture is made while no watch is open
  sim.faults.watchWindow = 0;
  sim.expireWatchHistory();
  sim.endWatches('reset');
  await r.enqueue(request('w-2'));
  await r.enqueue(request('w-3'));
  await waitFor(() => seen.length === 3, 10_000);
  t.same(seen.sort(), ['w-1', 'w-2', 'w-3'], 'every Capture reported exactly once');
  t.ok(
    logs.lines.some((l) => l['msg'] === 'Capture watch expired (410 Gone): relisting'),
    'it relisted after the 410',
  );
});

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
