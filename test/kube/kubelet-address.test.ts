// The agent reaches its own kubelet: at --kubelet-address when given, else at NODE_IP (the
// downward API's status.hostIP, set by the chart), else at the Node's addresses; the port is the
// Node's daemonEndpoints.kubeletEndpoint.Port unless the address names one.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../src/cli/roles/agent-command.js';
import type { Serving } from '../../src/cli/roles/serving.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { isAmberError } from '../../src/core/amber-error.js';
import { planCapture } from '../../src/core/decision.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { parseKubeletAddress, resolveTarget } from '../../src/kube/resolve-target.js';
import { LogSink } from '../helpers/log-sink.js';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';

type Obj = Record<string, any>;

let sim: SimCluster;
let root: string;
t.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'amber-kubelet-address-'));
  sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
});
t.teardown(async () => {
  await sim.close();
  await rm(root, { recursive: true, force: true });
});
t.afterEach(() => sim.advertiseKubeletPort('node-a', undefined));

t.test('--kubelet-address: HOST, HOST:PORT, [IPv6]:PORT, bare IPv6; anything else is refused with the setting named', async (t) => {
  t.same(parseKubeletAddress('10.0.0.7'), { host: '10.0.0.7' });
  t.same(parseKubeletAddress('node-a.internal:10250'), { host: 'node-a.internal', port: 10250 });
  t.same(parseKubeletAddress('[fd00::7]:10250'), { host: 'fd00::7', port: 10250 });
  t.same(parseKubeletAddress('[fd00::7]'), { host: 'fd00::7' });
  t.same(parseKubeletAddress('fd00::7'), { host: 'fd00::7' });
  for (const good of ['10.0.0.7', '10.0.0.7:10250', '[fd00::7]:10250', 'fd00::7', 'localhost:1']) {
    const s = await loadSettings({ flags: { 'kubelet-address': good } });
    t.equal(s.kubelet.address, good);
  }
  t.equal((await loadSettings({ env: { AMBER_KUBELET_ADDRESS: '10.1.2.3:10255' } })).kubelet.address, '10.1.2.3:10255', 'AMBER_KUBELET_ADDRESS');
  for (const bad of ['10.0.0.7:0', '10.0.0.7:65536', 'host:port', '[fd00::7]:', 'a b', '']) {
    const e = await loadSettings({ flags: { 'kubelet-address': bad } }).then(
      () => undefined,
      (err: unknown) => err,
    );
    t.ok(isAmberError(e, 'CONFIG_INVALID'), `'${bad}' refused`);
    t.match(isAmberError(e) ? e.details : {}, { setting: 'kubelet.address', from: 'flag --kubelet-address' });
  }
});

t.test("resolveTarget: the given host with the Node's port; a given port too; only for the given node", async (t) => {
  sim.addPod({ namespace: 'shop', name: 'resolve-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
  const api = kubeApi(loadKubeConfig(sim.kubeconfigPath));
  const spec = { target: { namespace: 'shop', pod: 'resolve-1', container: 'app' } } as Parameters<typeof resolveTarget>[1];
  const port = sim.kubeletPort('node-a');
  t.same((await resolveTarget(api, spec)).kubelet, { host: '127.0.0.1', port }, "none given: the Node's InternalIP and kubelet port");
  t.same((await resolveTarget(api, spec, { host: '10.9.8.7', node: 'node-a' })).kubelet, { host: '10.9.8.7', port }, "a host: the Node's port");
  t.same((await resolveTarget(api, spec, { host: '10.9.8.7', port: 10250 })).kubelet, { host: '10.9.8.7', port: 10250 });
  t.same(
    (await resolveTarget(api, spec, { host: '10.9.8.7', port: 10250, node: 'node-b' })).kubelet,
    { host: '127.0.0.1', port },
    "another node's address is not this pod's",
  );
});

/** Starts `amber agent` in this process against the sim, with these flags and env. */
async function agent(t: { teardown(fn: () => unknown): void }, name: string, flags: string[], env: Record<string, string>): Promise<Serving> {
  const dir = join(root, name);
  const serving = await startAgent(
    [
      '--kubeconfig',
      sim.kubeconfigPath,
      '--namespace',
      'amber-system',
      '--cluster',
      'sim',
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'fatal',
      '--node',
      'node-a',
      '--data-dir',
      join(dir, 'data'),
      '--store',
      `file://${join(dir, 'evidence')}`,
      '--kubelet-ca',
      sim.caFile,
      '--checkpoint-dir',
      sim.checkpointDir('node-a'),
      '--min-free-bytes',
      '0',
      '--report',
      'false',
      ...flags,
    ],
    { out: () => undefined, err: () => undefined, env },
  );
  if (!serving) throw new Error('no agent');
  t.teardown(() => serving.stop());
  return serving;
}

/** A Capture for a new pod on node-a, as the responder creates it; resolves with its status once it sealed or met its first failure. */
async function captureOnNodeA(t: { teardown(fn: () => unknown): void }, pod: string): Promise<Obj> {
  const served = sim.addPod({ namespace: 'shop', name: pod, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as Obj;
  const kc = loadKubeConfig(sim.kubeconfigPath);
  const api = kubeApi(kc);
  const responder = KubeQueue.forResponder({
    kc,
    namespace: 'amber-system',
    log: createLogger('fatal', new LogSink()),
    place: (target) => placeTarget(api, target),
  });
  t.teardown(() => responder.close());
  const containerID = String(served.status.containerStatuses[0].containerID)
    .replace(/^[a-z-]+:\/\//, '')
    .slice(0, 12);
  const { capture } = await responder.enqueue(
    planCapture({
      policy: 'interactive-shell',
      signal: {
        source: 'falco',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        time: new Date().toISOString(),
        tags: [],
        fields: {},
        target: { namespace: 'shop', pod, container: 'app', containerID },
        raw: { rule: 'Terminal shell in container', pod },
      },
      containers: 'target',
      cooldownMs: 60_000,
      timeoutSeconds: 30,
      include: [],
      evidence: { retentionDays: 0, lock: 'none' },
    }),
  );
  for (let i = 0; i < 3000; i++) {
    const status = sim.captures('amber-system').find((c) => c.metadata.labels?.['forensics.amber.dev/id'] === capture.id)?.status as Obj | undefined;
    if (status?.phase === 'Sealed' || status?.phase === 'Failed' || status?.reason !== undefined) return status ?? {};
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`capture ${capture.id} did not settle`);
}

const requestsFor = (pod: string) => sim.receipts.filter((r) => r.pod === pod);

t.test("the agent with NODE_IP: checkpoints there, with the Node's kubelet port", async (t) => {
  await agent(t, 'node-ip', [], { NODE_IP: '127.0.0.1' });
  const sealed = await captureOnNodeA(t, 'web-node-ip');
  t.equal(sealed.phase, 'Sealed', String(sealed.message ?? 'sealed'));
  t.equal(requestsFor('web-node-ip').length, 1);
});

t.test("NODE_IP wins over the Node's addresses: a NODE_IP where no kubelet listens is where the agent goes", async (t) => {
  await agent(t, 'node-ip-elsewhere', [], { NODE_IP: '127.0.0.2' });
  const failed = await captureOnNodeA(t, 'web-node-ip-elsewhere');
  t.equal(failed.reason, 'KubeletUnreachable');
  t.match(failed.message, `127.0.0.2:${sim.kubeletPort('node-a')}`, 'NODE_IP, with the port from the Node');
  t.equal(requestsFor('web-node-ip-elsewhere').length, 0, "the Node's own address (127.0.0.1) was not asked");
});

t.test("--kubelet-address HOST:PORT overrides NODE_IP and the Node's port", async (t) => {
  sim.advertiseKubeletPort('node-a', 1); // what the Node says is wrong
  await agent(t, 'address-port', ['--kubelet-address', `127.0.0.1:${sim.kubeletPort('node-a')}`], { NODE_IP: '127.0.0.2' });
  const sealed = await captureOnNodeA(t, 'web-address-port');
  t.equal(sealed.phase, 'Sealed', String(sealed.message ?? 'sealed'));
  t.equal(requestsFor('web-address-port').length, 1);
});

t.test("--kubelet-address HOST (as AMBER_KUBELET_ADDRESS): that host, the Node's port", async (t) => {
  await agent(t, 'address-host', [], { AMBER_KUBELET_ADDRESS: '127.0.0.1', NODE_IP: '127.0.0.2' });
  const sealed = await captureOnNodeA(t, 'web-address-host');
  t.equal(sealed.phase, 'Sealed', String(sealed.message ?? 'sealed'));
});

t.test("neither: the Node's InternalIP and kubelet port", async (t) => {
  await agent(t, 'neither', [], {});
  const sealed = await captureOnNodeA(t, 'web-neither');
  t.equal(sealed.phase, 'Sealed', String(sealed.message ?? 'sealed'));
});

t.test('neither, and the Node advertises another port: that port is the one asked', async (t) => {
  sim.advertiseKubeletPort('node-a', 1);
  await agent(t, 'neither-port', [], {});
  const failed = await captureOnNodeA(t, 'web-neither-port');
  t.equal(failed.reason, 'KubeletUnreachable');
  t.match(failed.message, '127.0.0.1:1');
});
