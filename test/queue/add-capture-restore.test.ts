import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { captureApi } from '../../src/kube/capture-api.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { addCaptureRestore, keepingRestores } from '../../src/queue/kube/add-capture-restore.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { rejected } from '../helpers/amber-errors.js';
import { LogSink } from '../helpers/log-sink.js';
import { shellCaptureRequest } from '../helpers/shell-capture.js';
import { startSimCluster } from '../sim/sim-cluster.js';

const NS = 'amber-system';

t.test("a restore is added to the Capture's status once, beside what the agent wrote", async (t) => {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  sim.addPod({ namespace: 'shop', name: 'web-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const kc = loadKubeConfig(sim.kubeconfigPath);
  const api = kubeApi(kc);
  const queue = KubeQueue.forResponder({ kc, namespace: NS, log: createLogger('warn', new LogSink()), place: (target) => placeTarget(api, target) });
  t.teardown(() => queue.close());
  const { capture } = await queue.enqueue(shellCaptureRequest('web-1', 'app'));
  const restore = { number: 1, at: '2026-12-07T08:00:00.000Z', by: 'analyst@ws', record: 'file:///b/restore-1.json', image: `reg/x@sha256:${'1'.repeat(64)}` };
  const captures = captureApi(kc, NS);
  await addCaptureRestore(captures, capture.id, restore);
  await addCaptureRestore(captures, capture.id, restore);
  await addCaptureRestore(captures, capture.id, { ...restore, number: 2, sandbox: { namespace: 'amber-sandbox', pod: 'amber-restore-1-2' } });
  const after = await queue.get(capture.id);
  t.same(
    after?.status.restores?.map((r) => r.number),
    [1, 2],
    'each restore once, in order',
  );
  t.equal(after?.status.phase, 'Pending', 'the rest of the status is kept');
  t.equal((await rejected(addCaptureRestore(captures, 'c-nosuchcapture', restore))).code, 'CAPTURE_NOT_FOUND');
});

t.test("a status written without restores keeps the resource's (another writer's); one that carries them writes its own", async (t) => {
  const at = new Date().toISOString();
  const restore = { number: 1, at, by: 'alice@h', record: 'file:///b/restore-1.json', image: 'r/x@sha256:1' };
  const request = { id: 'r1', at, by: 'alice', state: 'Requested' as const };
  const theirs = { phase: 'Sealed' as const, phaseTimes: {}, attempts: 1, restores: [restore], restoreRequests: [request] };
  const ours = { phase: 'Sealed' as const, phaseTimes: { Sealed: at }, attempts: 1 };
  t.same(keepingRestores(ours, theirs), { ...ours, restores: [restore], restoreRequests: [request] });
  const answered = { ...ours, restores: [], restoreRequests: [{ ...request, state: 'Done' as const, number: 1 }] };
  t.same(keepingRestores(answered, theirs), answered);
  t.same(keepingRestores(ours, {}), ours);
});
