// amber's kubelet client against the simulated kubelet answering as the real one did
// (test/fixtures/real-kubelet/, replayed byte for byte in test/sim-tests/kubelet-real.test.ts):
// every failure is its own code, with the runtime's words (trimmed) and a remedy.
import t from 'tap';
import { isAmberError, type AmberError } from '../../src/core/amber-error.js';
import { KubeletClient } from '../../src/kube/kubelet-client.js';
import { kubeletFailure, trimRuntimeText } from '../../src/kube/kubelet-answer.js';
import { readCurlAnswer, readStatusBodyAnswers } from '../helpers/real-kubelet.js';
import { RUNTIME_ERRORS, startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import { https } from '../sim-tests/helpers.js';

type Obj = Record<string, any>;

let sim: SimCluster;
let amber: KubeletClient;
let seq = 0;
t.before(async () => {
  sim = await startSimCluster({ nodes: ['node-a'] });
  amber = new KubeletClient({ token: { value: sim.token }, ca: sim.caCert });
});
t.teardown(async () => {
  await amber.close();
  await sim.close();
});
t.beforeEach(() => {
  Object.assign(sim.faults, { checkpointError: undefined, checkpointDelayMs: 0, checkpointFeatureOff: false, tcpEstablishedMissing: false });
  sim.archive.runtimeDefaultTimeoutSeconds = 120;
});

/** A fresh pod per case: amber keeps checkpoints of one container a second apart. */
function newPod(opts: { running?: boolean } = {}): { ns: string; pod: string; id: string } {
  const pod = `victim-${++seq}`;
  const app = { name: 'app', image: 'docker.io/library/busybox:1.36', ...(opts.running === false ? { running: false } : {}) };
  const served = sim.addPod({ namespace: 'kube-real', name: pod, node: 'node-a', containers: [app] }) as Obj;
  return { ns: 'kube-real', pod, id: String(served.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '') };
}

const kubelet = () => ({ host: '127.0.0.1', port: sim.kubeletPort('node-a') });

async function failure(p: { ns: string; pod: string }, container = 'app', client = amber, timeoutSeconds = 30): Promise<AmberError> {
  try {
    await client.checkpoint(kubelet(), p.ns, p.pod, container, timeoutSeconds);
  } catch (e) {
    if (isAmberError(e)) return e;
    throw e;
  }
  throw new Error('the checkpoint succeeded');
}

t.test("a live TCP connection without tcp-established (fixture 17): TcpEstablishedRequired, CRIU's decisive lines, the runc.conf remedy", async (t) => {
  sim.faults.tcpEstablishedMissing = true;
  const p = newPod();
  const e = await failure(p);
  t.equal(e.code, 'TCP_ESTABLISHED_REQUIRED');
  const message = String(e.details['message']);
  t.ok(message.startsWith(`checkpointing of ${p.ns}/${p.pod}/app failed (rpc error: code = Unknown desc = failed to checkpoint container ${p.id}: `), message);
  t.match(message, 'Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using --tcp-established option.');
  t.match(message, 'criu failed: type DUMP errno 0 : exit status 1)');
  t.match(message, `the whole log on the node: /var/lib/containers/storage/overlay-containers/${p.id}/userdata/dump.log`);
  t.notMatch(message, /Found mmap_min_addr|Unseizing|level=warning|"--work-path"/, 'the rest of the 3.7 KB log stays on the node');
  t.ok(message.length < 1000, `${message.length} characters`);
  t.match(e.details['remedy'], /tcp-established.*\/etc\/criu\/runc\.conf.*CRI-O does not pass --tcp-established/);
  t.equal(e.details['status'], 500);
});

t.test('the recorded tcp-established body itself trims to the same decisive lines', async (t) => {
  const real = readCurlAnswer('17-tcp-established-500.txt').body;
  const trimmed = trimRuntimeText(real);
  const errors = real
    .split('\n')
    .filter((l) => l.includes('Error ('))
    .map((l) => /msg="\d+:\(\d\d\.\d+\) (Error \(.*)"$/.exec(l)?.[1]);
  t.equal(errors.length, 4, 'four Error lines in the recording');
  for (const line of errors) t.match(trimmed, line ?? 'missing', 'kept');
  t.ok(trimmed.length < real.length / 4);
});

t.test("an overlapping checkpoint by another client (fixture 16): CheckpointInProgress, transient, runc's words", async (t) => {
  const p = newPod();
  sim.faults.checkpointDelayMs = 600;
  // someone else (kubectl, a second amber) checkpoints the container first
  const other = https(`https://127.0.0.1:${sim.kubeletPort('node-a')}/checkpoint/${p.ns}/${p.pod}/app`, { method: 'POST', ca: sim.caCert, token: sim.token });
  while (!sim.receipts.some((r) => r.pod === p.pod)) await new Promise((r) => setTimeout(r, 5));
  const e = await failure(p);
  t.equal(e.code, 'CHECKPOINT_IN_PROGRESS');
  t.equal(
    e.details['message'],
    `checkpointing of ${p.ns}/${p.pod}/app failed (rpc error: code = Unknown desc = ` +
      `failed to pause container "${p.id}" before checkpointing: container not running : container process not found)`,
  );
  t.match(e.details['remedy'], /amber retries/);
  t.equal((await other).status, 200, 'the other checkpoint completes');
  const recorded = readStatusBodyAnswers('16-parallel-3-requests.txt')[1]?.body ?? '';
  t.match(trimRuntimeText(recorded), /before checkpointing: container not running : container process not found\)$/, 'the recorded 500 trims the same way');
});

t.test('the runtime cannot checkpoint: CheckpointingNotEnabled, with the remedy for that runtime', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['CRI-O without CRIU support', RUNTIME_ERRORS.criuSupportOff, /enable_criu_support = true/],
    ['containerd without CRIU', RUNTIME_ERRORS.criuMissing('0'.repeat(64)), /install CRIU 3\.16 or newer/],
    ['a runtime without the CRI call', RUNTIME_ERRORS.notImplemented, /CRI-O 1\.25 or newer, or containerd 2\.0 or newer/],
  ];
  for (const [name, text, remedy] of cases) {
    sim.faults.checkpointError = text;
    const p = newPod();
    const e = await failure(p);
    t.equal(e.code, 'CHECKPOINTING_NOT_ENABLED', name);
    t.equal(e.details['message'], `checkpointing of ${p.ns}/${p.pod}/app failed (${text})`, `${name}: the runtime's words, whole`);
    t.match(e.details['remedy'], remedy);
  }
});

t.test('404s: gate off, unknown pod (fixture 04), unknown container (fixture 05) — each its own code', async (t) => {
  sim.faults.checkpointFeatureOff = true;
  const gate = await failure(newPod());
  t.equal(gate.code, 'CHECKPOINT_FEATURE_GATE_OFF');
  t.equal(gate.details['message'], '404 page not found');
  t.match(gate.details['remedy'], /ContainerCheckpoint feature gate/);
  sim.faults.checkpointFeatureOff = false;

  const pod = await failure({ ns: 'kube-real', pod: 'nosuch' });
  t.equal(pod.code, 'POD_GONE');
  t.equal(pod.details['message'], readCurlAnswer('04-unknown-pod.txt').body);
  t.match(pod.details['remedy'], /another node's kubelet/);

  const real = readCurlAnswer('05-unknown-ctr.txt').body;
  const ctr = await failure(newPod(), /^container (\S+) does not exist$/.exec(real)?.[1]);
  t.equal(ctr.code, 'CONTAINER_NOT_FOUND');
  t.equal(ctr.details['message'], real);
});

t.test('401 (fixtures 02, 21) and 403 (fixture 03): their codes, with what to grant', async (t) => {
  const bogus = new KubeletClient({ token: { value: 'not-a-token' }, ca: sim.caCert });
  const forbidden = new KubeletClient({ token: { value: sim.forbiddenToken }, ca: sim.caCert });
  t.teardown(async () => {
    await bogus.close();
    await forbidden.close();
  });
  const u = await failure(newPod(), 'app', bogus);
  t.equal(u.code, 'KUBELET_UNAUTHORIZED');
  t.equal(u.details['message'], readCurlAnswer('21-bad-token.txt').body);
  const f = await failure(newPod(), 'app', forbidden);
  t.equal(f.code, 'KUBELET_FORBIDDEN');
  t.match(
    f.details['message'],
    /^Forbidden \(user=system:serviceaccount:amber-system:amber-unbound, verb=create, resource=nodes, subresource\(s\)=\[checkpoint\]\)$/,
  );
  t.match(f.details['remedy'], /nodes\/checkpoint/);
});

t.test('the container stopped, or went while the checkpoint ran: ContainerNotRunning; the deadline: CheckpointTimeout', async (t) => {
  const stopped = await failure(newPod({ running: false }));
  t.equal(stopped.code, 'CONTAINER_NOT_RUNNING');
  t.match(stopped.details['message'], /failed \(container app not found\)$/);

  sim.faults.checkpointDelayMs = 400;
  const p = newPod();
  setTimeout(() => sim.deletePod(p.ns, p.pod), 100);
  const gone = await failure(p);
  t.equal(gone.code, 'CONTAINER_NOT_RUNNING');
  t.match(gone.details['message'], /rpc error: code = NotFound/);

  sim.archive.runtimeDefaultTimeoutSeconds = 1;
  sim.faults.checkpointDelayMs = 1500;
  const slow = await failure(newPod(), 'app', amber, 1);
  t.equal(slow.code, 'CHECKPOINT_TIMEOUT');
  t.match(slow.details['remedy'], /capture\.timeoutSeconds/);
});

t.test('any other runtime failure: CheckpointFailed with its text, no invented remedy', async (t) => {
  sim.faults.checkpointError = 'rpc error: code = Unknown desc = something no one has seen';
  const e = await failure(newPod());
  t.equal(e.code, 'CHECKPOINT_FAILED');
  t.match(e.details['message'], /something no one has seen\)$/);
  t.equal(e.details['remedy'], undefined);
});

t.test("a 200 on the real shape (fixture 01): the path, named in the kubelet's local time, is accepted", async (t) => {
  const p = newPod();
  const r = await amber.checkpoint(kubelet(), p.ns, p.pod, 'app', 30);
  t.match(r.path, new RegExp(`/checkpoint-${p.pod}_${p.ns}-app-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\+02:00\\.tar$`));
  t.match(
    readCurlAnswer('01-sa-ok.txt').body,
    /^\{"items":\["\/var\/lib\/kubelet\/checkpoints\/checkpoint-victim_kube-real-app-[^"]+\.tar"\]\}$/,
    'the shape the sim gives',
  );
});

t.test('every non-200 the real kubelet answered has its code, the request forms amber never sends included', async (t) => {
  const where = { node: 'node-a', namespace: 'kube-real', pod: 'victim', container: 'app' };
  const expected: Record<string, string> = {
    '02-nocreds.txt': 'KUBELET_UNAUTHORIZED',
    '21-bad-token.txt': 'KUBELET_UNAUTHORIZED',
    '03-norbac.txt': 'KUBELET_FORBIDDEN',
    '04-unknown-pod.txt': 'POD_GONE',
    '05-unknown-ctr.txt': 'CONTAINER_NOT_FOUND',
    '17-tcp-established-500.txt': 'TCP_ESTABLISHED_REQUIRED',
    // a GET, a short path, a timeout that is not a number: amber sends none of these; if a proxy did, no remedy is invented
    '08-get.txt': 'CHECKPOINT_NOT_AVAILABLE',
    '09-short.txt': 'CHECKPOINT_NOT_AVAILABLE',
    '12-badtimeout.txt': 'CHECKPOINT_NOT_AVAILABLE',
  };
  for (const [file, code] of Object.entries(expected)) {
    const real = readCurlAnswer(file);
    t.equal(kubeletFailure(real.status, real.body, where).code, code, file);
  }
  for (const a of readStatusBodyAnswers('16-parallel-3-requests.txt').filter((x) => x.status !== 200)) {
    t.equal(kubeletFailure(a.status, a.body, where).code, 'CHECKPOINT_IN_PROGRESS', '16: the overlapping requests');
  }
});
