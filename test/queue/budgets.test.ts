/**
 * Capture budgets (src/core/capture-budget.ts) as both queues enforce them: the file journal from
 * its own records (and again after a restart), the Capture resources across responder replicas
 * racing for the last slot, against the simulated API server. Settings: validated at load.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { HOUR_MS, UNLIMITED, type BudgetLimits } from '../../src/core/capture-budget.js';
import type { PlannedCapture } from '../../src/core/decision.js';
import { ANNOTATIONS, fromResource, LABELS, type CaptureResource } from '../../src/kube/capture-resource.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { budgetUses } from '../../src/queue/kube/kube-budgets.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { LogSink } from '../helpers/log-sink.js';
import { startSimCluster } from '../sim/sim-cluster.js';

function request(pod: string, over: { namespace?: string; container?: string; policy?: string; node?: string } = {}): PlannedCapture {
  const namespace = over.namespace ?? 'shop';
  const container = over.container ?? 'app';
  const policy = over.policy ?? 'p';
  return {
    dedupeKey: `${policy}/${namespace}/${pod}/${container}`,
    cooldownMs: 60_000,
    spec: {
      target: { namespace, pod, container, ...(over.node !== undefined ? { node: over.node } : {}) },
      trigger: { source: 'falco', rule: 'Terminal shell in container', time: '2026-11-28T10:00:00Z', policy, signalDigest: 'ab' },
      containers: 'target',
      timeoutSeconds: 120,
      include: ['podSpec'],
      evidence: { retentionDays: 1, lock: 'none' },
    },
    signals: [{ pod, container }],
  };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-budgets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const limits = (over: Partial<BudgetLimits>): BudgetLimits => ({ ...UNLIMITED, ...over });

t.test('file queue: the cluster budget admits N captures an hour, records the rest Failed BudgetExceeded, and holds after a restart', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2026-12-07T10:00:00Z');
  const budgets = limits({ capturesPerHour: 3 });
  const q = await FileQueue.open({ dir, now: () => now, budgets });
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await q.enqueue(request(`web-${i}`)));
  t.same(
    results.map((r) => r.capture.status.phase),
    ['Pending', 'Pending', 'Pending', 'Failed', 'Failed'],
  );
  const over = results[3]!;
  t.equal(over.duplicate, false, 'recorded as a new capture (202)');
  t.match(over.overBudget, { budget: 'cluster-per-hour', limit: 3, window: 'hour' });
  t.equal(over.capture.status.reason, 'BudgetExceeded');
  t.equal(
    over.capture.status.message,
    'budget cluster-per-hour exceeded: 3 captures cluster-wide in the last hour, the limit is 3 per rolling hour; nothing was checkpointed',
  );
  t.same((await q.get(over.capture.id))?.signals, [{ pod: 'web-3', container: 'app' }], 'its signal is kept');

  t.match(await q.enqueue(request('web-0')), { duplicate: true, capture: { id: results[0]!.capture.id } }, 'a duplicate consumes nothing');
  t.match(await q.enqueue(request('web-0', { policy: 'other' })), { joined: true }, 'a join consumes nothing (it freezes nothing)');
  t.match(await q.enqueue(request('web-9')), { overBudget: { budget: 'cluster-per-hour' } }, 'still over budget');
  await q.close();

  const reopened = await FileQueue.open({ dir, now: () => now, budgets });
  t.teardown(() => reopened.close());
  t.match(await reopened.enqueue(request('web-10')), { overBudget: { budget: 'cluster-per-hour' } }, 'counted from the journal after a restart');
  now += HOUR_MS;
  t.equal((await reopened.enqueue(request('web-11'))).capture.status.phase, 'Pending', 'an hour later the window has room again');
});

t.test('file queue: namespace and node budgets, and the node archive bytes of the last day', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2026-12-07T10:00:00Z');
  const nodes: Record<string, string> = { 'web-a1': 'node-a', 'web-a2': 'node-a', 'web-a3': 'node-a', 'web-b1': 'node-b' };
  const q = await FileQueue.open({
    dir,
    now: () => now,
    budgets: limits({ capturesPerNamespacePerHour: 2, capturesPerNodePerHour: 2, archiveBytesPerNodePerDay: 1000 }),
    nodeOf: async (target) => nodes[target.pod],
  });
  t.teardown(() => q.close());
  t.equal((await q.enqueue(request('x1', { namespace: 'dev' }))).capture.status.phase, 'Pending');
  t.equal((await q.enqueue(request('x2', { namespace: 'dev' }))).capture.status.phase, 'Pending');
  t.match(await q.enqueue(request('x3', { namespace: 'dev' })), { overBudget: { budget: 'namespace-per-hour', limit: 2, scope: 'dev' } });

  const a1 = await q.enqueue(request('web-a1'));
  await q.enqueue(request('web-a2'));
  const a3 = await q.enqueue(request('web-a3'));
  t.match(a3.overBudget, { budget: 'node-per-hour', limit: 2, scope: 'node-a' }, "the node is learned from the pod (amber serve's nodeOf)");
  t.match(a3.capture.status.message, /2 captures on node node-a in the last hour, the limit is 2 per rolling hour/);
  t.equal((await q.enqueue(request('web-b1', { namespace: 'prod' }))).capture.status.phase, 'Pending', 'another node has its own budget');

  // an hour later node-a has room for captures again, but its sealed archives of the day fill the bytes budget
  const sealed = {
    ...a1.capture.status,
    phase: 'Sealed' as const,
    bundle: { uri: 'file:///x', archives: [{ container: 'app', size: 1200, sha256: 'ab' }], signingKeyId: 'k' },
  };
  await q.updateStatus(a1.capture.id, sealed);
  now += HOUR_MS;
  const late = await q.enqueue(request('web-a2', { container: 'sidecar' }));
  t.match(late.overBudget, { budget: 'node-archive-bytes-per-day', limit: 1000, used: 1200, window: 'day', scope: 'node-a' });
  t.match(late.capture.status.message, /archives of the last 24 h on node node-a already hold 1200 bytes, the limit is 1000 bytes per rolling day/);
  now += 23 * HOUR_MS;
  t.equal((await q.enqueue(request('web-a3', { container: 'sidecar' }))).capture.status.phase, 'Pending', 'a day later the bytes are out of the window');
});

t.test('file queue: 0 is unlimited', async (t) => {
  const dir = await tempDir(t);
  const q = await FileQueue.open({ dir, budgets: UNLIMITED });
  t.teardown(() => q.close());
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => q.enqueue(request(`web-${i}`))));
  t.ok(
    results.every((r) => r.capture.status.phase === 'Pending' && r.overBudget === undefined),
    '200 captures in a minute, none refused',
  );
});

t.test('budget settings: defaults, flags and env, and a bad value refuses to start', async (t) => {
  const defaults = await loadSettings({});
  t.same(defaults.budgets, DEFAULT_SETTINGS.budgets);
  t.ok(
    Object.values(defaults.budgets).every((v) => v > 0),
    'every budget is on by default',
  );
  const set = await loadSettings({
    flags: { 'max-captures-per-hour': '0', 'max-captures-per-node-per-hour': '5' },
    env: { AMBER_MAX_CAPTURES_PER_NAMESPACE_PER_HOUR: '7', AMBER_MAX_ARCHIVE_BYTES_PER_NODE_PER_DAY: '1073741824' },
  });
  t.same(set.budgets, { capturesPerHour: 0, capturesPerNodePerHour: 5, capturesPerNamespacePerHour: 7, archiveBytesPerNodePerDay: 1073741824 });
  await t.rejects(loadSettings({ flags: { 'max-captures-per-hour': '-1' } }), { code: 'CONFIG_INVALID', details: { setting: 'budgets.capturesPerHour' } });
  await t.rejects(loadSettings({ env: { AMBER_MAX_CAPTURES_PER_NODE_PER_HOUR: 'lots' } }), {
    code: 'CONFIG_INVALID',
    details: { setting: 'budgets.capturesPerNodePerHour', from: 'env AMBER_MAX_CAPTURES_PER_NODE_PER_HOUR' },
  });
  const dir = await tempDir(t);
  const file = join(dir, 'amber.yaml');
  await writeFile(file, 'budgets:\n  capturesPerHour: 10\n  perNode: 3\n');
  await t.rejects(loadSettings({ configFile: file }), { code: 'CONFIG_INVALID' }, 'an unknown budget key in the file');
});

t.test('pending Captures count only when created before: by creation revision, a join keeping the revision it was created at', async (t) => {
  const at = new Date().toISOString();
  const resource = (name: string, state: string, rv: string, extra: Record<string, string> = {}): CaptureResource =>
    ({
      apiVersion: 'forensics.amber.dev/v1alpha1',
      kind: 'Capture',
      metadata: {
        name,
        resourceVersion: rv,
        labels: { [LABELS.budget]: state },
        annotations: { [ANNOTATIONS.id]: name, [ANNOTATIONS.createdAt]: at, [ANNOTATIONS.dedupeKey]: name, [ANNOTATIONS.cooldownMs]: '0', ...extra },
      },
      spec: request(name).spec,
    }) as CaptureResource;
  const listed = [
    resource('counted-late', 'counted', '900'),
    resource('pending-early', 'pending', '10'),
    resource('pending-late', 'pending', '30'),
    resource('pending-joined', 'pending', '95', { [ANNOTATIONS.createdRevision]: '15' }),
    resource('me', 'pending', '20'),
  ];
  t.same(
    budgetUses(listed, { name: 'me', revision: '20' }).map((u) => u.createdMs).length,
    3,
    'counted (any revision), pending-early, pending-joined (created at 15); not pending-late, not itself',
  );
  t.equal(budgetUses(listed).length, 1, 'before its own create, only the counted ones');
  const swept = { ...resource('pending-swept', 'pending', '5'), status: { phase: 'Failed' as const, phaseTimes: {}, attempts: 0, reason: 'NoAgent' } };
  t.equal(budgetUses([swept], { name: 'me', revision: '20' }).length, 0, 'a pending one failed meanwhile (its replica gone) never ran');
  t.equal(budgetUses([resource('odd', 'pending', 'abc')], { name: 'me', revision: '20' }).length, 1, 'a revision that is not a number is counted');
});

t.test('two responder replicas racing for the last slot: exactly one Capture is admitted, the other recorded BudgetExceeded', async (t) => {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  const ROUNDS = 12;
  for (let i = 0; i < ROUNDS; i++) {
    for (const pod of ['web-1', 'web-2'])
      sim.addPod({ namespace: `ns-${i}`, name: pod, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1' }] });
  }
  const log = createLogger('debug', new LogSink());
  const replica = () => {
    const kc = loadKubeConfig(sim.kubeconfigPath);
    const api = kubeApi(kc);
    return KubeQueue.forResponder({
      kc,
      namespace: 'amber-system',
      log,
      place: (target) => placeTarget(api, target),
      budgets: limits({ capturesPerNamespacePerHour: 1 }),
    });
  };
  const [r1, r2] = [replica(), replica()];
  t.teardown(() => Promise.all([r1.close(), r2.close()]));
  // one namespace per round: each has one slot, and both replicas ask for it at the same moment
  const rounds = await Promise.all(
    Array.from({ length: ROUNDS }, (_, i) =>
      Promise.all([r1.enqueue(request('web-1', { namespace: `ns-${i}` })), r2.enqueue(request('web-2', { namespace: `ns-${i}` }))]),
    ),
  );
  for (const [i, pair] of rounds.entries()) {
    t.same(pair.map((r) => r.overBudget === undefined).sort(), [false, true], `ns-${i}: one admitted, one over budget`);
  }
  const stored = sim.captures('amber-system') as CaptureResource[];
  t.equal(stored.length, ROUNDS * 2, 'every request is recorded');
  for (let i = 0; i < ROUNDS; i++) {
    const mine = stored.filter((r) => r.spec.target.namespace === `ns-${i}`);
    const admitted = mine.filter((r) => r.metadata.labels?.[LABELS.budget] === 'counted');
    const refused = mine.filter((r) => r.metadata.labels?.[LABELS.budget] === 'exceeded');
    t.equal(admitted.length, 1, `ns-${i}: one counted`);
    t.equal(admitted[0]?.metadata.labels?.[LABELS.node], 'node-a', 'the admitted one is labelled for its agent');
    t.equal(refused[0]?.metadata.labels?.[LABELS.node], undefined, 'the refused one is not: no agent sees it');
    t.match(fromResource(refused[0]).status, { phase: 'Failed', reason: 'BudgetExceeded' });
  }
  const agent = KubeQueue.forAgent({ kc: loadKubeConfig(sim.kubeconfigPath), namespace: 'amber-system', log, node: 'node-a' });
  t.teardown(() => agent.close());
  const seen: string[] = [];
  agent.watch((c) => seen.push(c.id));
  for (let i = 0; i < 200 && seen.length < ROUNDS; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(seen.length, ROUNDS, "the agent's watch sees the admitted Captures only");
  t.ok(
    (await agent.list()).every((c) => c.status.reason !== 'BudgetExceeded'),
    'none over budget among them',
  );
});
