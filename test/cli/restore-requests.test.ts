/**
 * The agent's runner of a responder's restore requests (src/cli/roles/restore-requests.ts), with a
 * restore we own and the Capture in the simulated API server (real HTTP, real resourceVersions):
 * each request is marked Running, run once, and answered; a request found Running is answered
 * RESTORE_INTERRUPTED and not run.
 */
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { runRestoreRequests, type RestoreRequestSource } from '../../src/cli/roles/restore-requests.js';
import type { SandboxRestore } from '../../src/cli/roles/ui-restorer.js';
import { AmberError } from '../../src/core/amber-error.js';
import type { Capture } from '../../src/core/capture.js';
import { captureApi } from '../../src/kube/capture-api.js';
import { fromResource, toResource } from '../../src/kube/capture-resource.js';
import { loadKubeConfig } from '../../src/kube/kube-api.js';
import { newCapture } from '../../src/queue/capture-queue.js';
import { setRestoreRequest } from '../../src/queue/kube/add-capture-restore.js';
import { LogSink } from '../helpers/log-sink.js';
import { shellCaptureRequest } from '../helpers/shell-capture.js';
import { startSimCluster } from '../sim/sim-cluster.js';

const NS = 'amber-system';

async function setUp(t: { teardown(fn: () => unknown): void }, requests: NonNullable<Capture['status']['restoreRequests']>) {
  const sim = await startSimCluster({ nodes: ['node-a'] });
  t.teardown(() => sim.close());
  const api = captureApi(loadKubeConfig(sim.kubeconfigPath), NS);
  const at = new Date().toISOString();
  const capture = newCapture(shellCaptureRequest('web-1', 'app'), Date.now());
  sim.addCapture({
    ...toResource(capture, 'cap-1', 'node-a'),
    status: {
      phase: 'Sealed',
      phaseTimes: { Pending: at, Sealed: at },
      attempts: 1,
      bundle: { uri: 'file:///b', archives: [], signingKeyId: 'k' },
      restoreRequests: requests,
    },
  });
  const current = (): Capture => fromResource(sim.captures(NS)[0] as never);
  // the queue's part: every version of the Capture as the watch would bring it
  const listeners = new Set<(c: Capture) => void>();
  const source: RestoreRequestSource = {
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    get: async () => current(),
  };
  const changed = () => {
    for (const l of listeners) l(current());
  };
  return { sim, api, capture, current, source, changed };
}

t.test('a requested restore is marked Running, run once for the user who asked, and answered Done with its number', async (t) => {
  const s = await setUp(t, [{ id: 'r1', at: new Date().toISOString(), by: 'alice', state: 'Requested' }]);
  const runs: { user: string; stateWhileRunning: string | undefined }[] = [];
  const restore: SandboxRestore = async (_capture, by) => {
    runs.push({ user: by.user, stateWhileRunning: s.current().status.restoreRequests?.[0]?.state });
    return {
      number: 3,
      record: 'file:///b/restore-3.json',
      image: 'r/x@sha256:1',
      sandbox: { namespace: 'amber-sandbox', pod: 'p', networkPolicy: 'p' },
      signedBy: 'k',
    };
  };
  const logs = new LogSink();
  const runner = runRestoreRequests({ queue: s.source, api: s.api, restore, log: createLogger('info', logs) });
  t.teardown(() => runner.stop());
  s.changed();
  s.changed(); // the same request seen again (a relist, another status write) is not run again
  await runner.idle();
  t.same(runs, [{ user: 'alice', stateWhileRunning: 'Running' }]);
  t.match(s.current().status.restoreRequests, [{ id: 'r1', by: 'alice', state: 'Done', number: 3, answeredAt: String }]);
  t.match(logs.find('the evidence was restored into a sandbox')[0], { capture: s.capture.id, request: 'r1', user: 'alice', number: 3 });
});

t.test('a restore that fails is answered Failed with its code; the next request still runs', async (t) => {
  const s = await setUp(t, [{ id: 'r1', at: new Date().toISOString(), by: 'alice', state: 'Requested' }]);
  let n = 0;
  const restore: SandboxRestore = async () => {
    if (n++ === 0) throw new AmberError('RESTORE_REFUSED', { problem: 'the bundle does not verify' });
    return { number: 1, record: 'x', image: 'y', sandbox: { namespace: 'amber-sandbox', pod: 'p', networkPolicy: 'p' }, signedBy: 'k' };
  };
  const runner = runRestoreRequests({ queue: s.source, api: s.api, restore, log: createLogger('fatal', new LogSink()) });
  t.teardown(() => runner.stop());
  s.changed();
  await runner.idle();
  t.match(s.current().status.restoreRequests?.[0], { state: 'Failed', reason: 'RESTORE_REFUSED', message: /does not verify/ });
  await setRestoreRequest(s.api, s.capture.id, { id: 'r2', at: new Date().toISOString(), by: 'bob', state: 'Requested' });
  s.changed();
  await runner.idle();
  t.match(s.current().status.restoreRequests, [
    { id: 'r1', state: 'Failed' },
    { id: 'r2', state: 'Done', number: 1 },
  ]);
});

t.test('a request found Running was cut off by a restart: answered RESTORE_INTERRUPTED, never run twice', async (t) => {
  const s = await setUp(t, [{ id: 'r1', at: new Date().toISOString(), by: 'alice', state: 'Running' }]);
  let runs = 0;
  const restore: SandboxRestore = async () => {
    runs++;
    throw new Error('must not run');
  };
  const runner = runRestoreRequests({ queue: s.source, api: s.api, restore, log: createLogger('fatal', new LogSink()) });
  t.teardown(() => runner.stop());
  s.changed();
  await runner.idle();
  t.equal(runs, 0);
  t.match(s.current().status.restoreRequests?.[0], { state: 'Failed', reason: 'RESTORE_INTERRUPTED' });
});

t.test('after stop, new requests are left for the next agent', async (t) => {
  const s = await setUp(t, [{ id: 'r1', at: new Date().toISOString(), by: 'alice', state: 'Requested' }]);
  let runs = 0;
  const restore: SandboxRestore = async () => {
    runs++;
    throw new Error('must not run');
  };
  const runner = runRestoreRequests({ queue: s.source, api: s.api, restore, log: createLogger('fatal', new LogSink()) });
  runner.stop();
  s.changed();
  await runner.idle();
  t.equal(runs, 0);
  t.equal(s.current().status.restoreRequests?.[0]?.state, 'Requested');
});
