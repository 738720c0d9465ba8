/**
 * One freeze per container on Capture resources (src/kube/join-capture-resource.ts), against the
 * simulated API server through @kubernetes/client-node: signals of several policies for one
 * container join the first one's Capture while it is Pending or Checkpointing, across responder
 * replicas, and never once the agent has moved it on.
 */
import t from 'tap';
import { AmberError } from '../../src/core/amber-error.js';
import type { Capture, EvidenceSettings } from '../../src/core/capture.js';
import { planCapture } from '../../src/core/decision.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { fromResource, toResource, type CaptureResource } from '../../src/kube/capture-resource.js';
import { joinCaptureResource, type CaptureResourceAccess } from '../../src/queue/kube/join-capture-resource.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { LogSink } from '../helpers/log-sink.js';
import { startSimCluster } from '../sim/sim-cluster.js';

const NS = 'amber-system';

function request(policy: string, evidence: EvidenceSettings = { retentionDays: 1, lock: 'none' }, pod = 'web-1') {
  return planCapture({
    policy,
    signal: {
      source: 'falco',
      rule: `rule of ${policy}`,
      priority: 'Notice',
      time: new Date().toISOString(),
      tags: [],
      fields: {},
      target: { namespace: 'shop', pod, container: 'app' },
      raw: { policy },
    },
    containers: 'target',
    cooldownMs: 60_000,
    timeoutSeconds: 120,
    include: ['podSpec'],
    evidence,
  });
}

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  sim.addPod({ namespace: 'shop', name: 'web-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1' }] });
  const log = createLogger('debug', new LogSink());
  const queues: KubeQueue[] = [];
  t.teardown(() => Promise.all(queues.map((q) => q.close())));
  const make = (node?: string) => {
    const kc = loadKubeConfig(sim.kubeconfigPath);
    const api = kubeApi(kc);
    const q = node
      ? KubeQueue.forAgent({ kc, namespace: NS, log, node })
      : KubeQueue.forResponder({ kc, namespace: NS, log, place: (target) => placeTarget(api, target) });
    queues.push(q);
    return q;
  };
  return { sim, responder: () => make(), agent: () => make('node-a') };
}

t.test('three policies for one container at once: one Capture, the others joined, the strictest settings', async (t) => {
  const { sim, responder } = await setUp(t);
  const q = responder();
  const results = await Promise.all([
    q.enqueue(request('a', { retentionDays: 7, lock: 'governance' })),
    q.enqueue(request('b', { retentionDays: 365, lock: 'none' })),
    q.enqueue(request('c', { retentionDays: 1, lock: 'none', legalHold: true })),
  ]);
  t.equal(new Set(results.map((r) => r.capture.id)).size, 1, 'one capture');
  t.same(
    results.map((r) => r.joined === true),
    [false, true, true],
  );
  const stored = sim.captures(NS);
  t.equal(stored.length, 1, 'one Capture resource');
  const capture = fromResource(stored[0]);
  t.same(
    capture.joined?.map((j) => j.trigger.policy),
    ['b', 'c'],
  );
  t.same(capture.signals, [{ policy: 'a' }, { policy: 'b' }, { policy: 'c' }]);
  t.same(capture.spec.evidence, { retentionDays: 365, lock: 'governance', legalHold: true });
  t.match(await q.enqueue(request('b')), { duplicate: true, capture: { id: capture.id } }, "b's next alert is a duplicate of the capture it joined");
});

t.test('another replica joins the same Capture; once the agent has it Uploading, a new signal gets its own', async (t) => {
  const { sim, responder, agent } = await setUp(t);
  const [r1, r2] = [responder(), responder()];
  const first = await r1.enqueue(request('a'));
  const [b, c] = await Promise.all([r1.enqueue(request('b')), r2.enqueue(request('c'))]);
  t.ok(b.joined && c.joined, 'both replicas joined');
  t.equal(b.capture.id, first.capture.id);
  t.equal(c.capture.id, first.capture.id);
  t.same(
    fromResource(sim.captures(NS)[0])
      .joined?.map((j) => j.trigger.policy)
      .sort(),
    ['b', 'c'],
    'neither join overwrote the other',
  );

  const a = agent();
  const current = (await a.get(first.capture.id))!;
  const checkpointing = await a.updateStatus(current.id, { ...current.status, phase: 'Checkpointing' });
  t.match(await r2.enqueue(request('d')), { joined: true }, 'Checkpointing: joined');
  const uploading = await a.updateStatus(current.id, { ...checkpointing.status, phase: 'Uploading' });
  t.same(uploading.joined?.map((j) => j.trigger.policy).sort(), ['b', 'c', 'd'], 'the capture the agent goes on with holds every join');
  const late = await r1.enqueue(request('e'));
  t.notOk(late.joined);
  t.not(late.capture.id, first.capture.id, 'Uploading: a Capture of its own');
  t.equal(sim.captures(NS).length, 2);
});

t.test('a join whose write meets a newer status reads the Capture again and decides again', async (t) => {
  const base = toResource(
    {
      ...{ id: '01kxxxxxxxxxxxxxxxxxxxxxxx', createdAt: new Date().toISOString(), dedupeKey: 'a/shop/web-1/app', cooldownMs: 60_000 },
      spec: request('a').spec,
      status: { phase: 'Pending', phaseTimes: {}, attempts: 0 },
      signals: [{ policy: 'a' }],
    } as Capture,
    'cap-x-0',
    'node-a',
  );
  const versions: CaptureResource[] = [
    { ...base, metadata: { ...base.metadata, resourceVersion: '1' } },
    { ...base, metadata: { ...base.metadata, resourceVersion: '2' }, status: { phase: 'Uploading', phaseTimes: {}, attempts: 1 } },
  ];
  let reads = 0;
  const writes: string[] = [];
  const api: CaptureResourceAccess = {
    get: async () => versions[Math.min(reads++, versions.length - 1)],
    replace: async (_name: string, body: CaptureResource): Promise<CaptureResource> => {
      writes.push(body.metadata.resourceVersion ?? '');
      throw new AmberError('QUEUE_CONFLICT', { what: 'join', status: 409, message: 'the object has been modified' });
    },
  };
  t.equal(await joinCaptureResource(api, 'cap-x-0', request('b'), Date.now()), undefined, 'moved on to Uploading: not joined');
  t.same(writes, ['1'], 'the write carried the resourceVersion it was read at, and was not repeated once the capture moved on');
  reads = 0;
  versions[1] = { ...versions[0]!, metadata: { ...base.metadata, resourceVersion: '2' } };
  let conflicts = 1;
  api.replace = async (_name, body) => {
    writes.push(body.metadata.resourceVersion ?? '');
    if (conflicts-- > 0) throw new AmberError('QUEUE_CONFLICT', { what: 'join', status: 409, message: 'conflict' });
    return body;
  };
  const joined = await joinCaptureResource(api, 'cap-x-0', request('b'), Date.now());
  t.same(
    joined?.joined?.map((j) => j.trigger.policy),
    ['b'],
    'joined on the second try',
  );
  t.same(writes.slice(1), ['1', '2']);
});
