import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import { startSimCluster } from '../sim/sim-cluster.js';
import { spawnAmber } from '../helpers/run-amber.js';

t.test('killed during the upload, amber resumes after a restart and the bundle verifies', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'amber-kill-'));
  const sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
  t.teardown(async () => {
    await sim.close();
    await rm(root, { recursive: true, force: true });
  });
  sim.archive.pagesBytes = 320 * 1024 * 1024; // big enough that the upload takes a while
  const pod = sim.addPod({ namespace: 'shop', name: 'web-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as any;
  const dataDir = join(root, 'data');
  const args = [
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    dataDir,
    '--policies',
    'policies',
    '--store',
    `file://${join(root, 'evidence')}`,
    '--kubeconfig',
    sim.kubeconfigPath,
    '--kubelet-ca',
    sim.caFile,
    '--checkpoint-dir',
    sim.checkpointDir('node-a'),
    '--min-free-bytes',
    '0',
    '--cluster',
    'sim',
  ];
  const first = spawnAmber(args);
  const { url } = await first.waitForLog('amber is serving');
  const token = (await readFile(join(dataDir, 'auth-token'), 'utf8')).trim();
  const auth = { authorization: `Bearer ${token}` };
  const full = String(pod.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '');
  const res = await fetch(`${url as string}/v1/alerts/falco`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      time: new Date().toISOString(),
      rule: 'Terminal shell in container',
      priority: 'Notice',
      output: 'shell',
      source: 'syscall',
      tags: [],
      output_fields: { 'container.id': full.slice(0, 12), 'container.name': 'app', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' },
    }),
  });
  t.equal(res.status, 202);
  const id = ((await res.json()) as { captures: { id: string }[] }).captures[0]?.id as string;
  let phase = '';
  for (let i = 0; i < 3000 && phase !== 'Uploading'; i++) {
    const c = (await (await fetch(`${url as string}/v1/captures/${id}`, { headers: auth })).json()) as { status: { phase: string } };
    phase = c.status.phase;
    if (phase === 'Sealed') break;
    if (phase !== 'Uploading') await new Promise((r) => setTimeout(r, 5));
  }
  t.equal(phase, 'Uploading', 'caught the capture mid-upload');
  first.child.kill('SIGKILL');
  await first.exited();

  const second = spawnAmber(args);
  t.teardown(() => second.child.kill('SIGKILL'));
  const sealed = await second.waitForLog('capture sealed', 60_000);
  t.equal(sealed['capture'], id);
  t.equal(sim.receipts.filter((r) => r.status === 200).length, 1, 'the container was checkpointed once');
  const capture = (await (await fetch(`${(await second.waitForLog('amber is serving'))['url'] as string}/v1/captures/${id}`, { headers: auth })).json()) as {
    status: { phase: string; bundle: { uri: string } };
  };
  t.equal(capture.status.phase, 'Sealed');
  const out: string[] = [];
  const code = await runCli(['verify', fileURLToPath(capture.status.bundle.uri), '--jwks', join(dataDir, 'signing', 'jwks.json')], {
    out: (s) => out.push(s),
    err: (s) => out.push(s),
    env: {},
  });
  t.equal(code, 0, out.join('\n'));
  second.child.kill('SIGTERM');
  t.equal(await second.exited(), 0);
});
