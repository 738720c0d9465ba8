/**
 * `amber serve` enforces the budgets on its file journal: built by its composition root from
 * flags, against the simulated cluster, the node learned from the pod at intake.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import { startServe } from '../../src/cli/roles/serve-command.js';
import { startSimCluster } from '../sim/sim-cluster.js';

t.test('amber serve: a node budget of 2, three alerts for containers of that node: two checkpoints, one BudgetExceeded', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'amber-serve-budgets-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
  t.teardown(() => sim.close());
  const out: string[] = [];
  const serving = await startServe(
    [
      ...['--listen', '127.0.0.1:0', '--data-dir', join(root, 'data'), '--store', `file://${join(root, 'evidence')}`, '--kubeconfig', sim.kubeconfigPath],
      ...['--kubelet-ca', sim.caFile, '--checkpoint-dir', sim.checkpointDir('node-a'), '--min-free-bytes', '0', '--report', 'false', '--log-level', 'warn'],
      ...['--max-captures-per-hour', '0', '--max-captures-per-namespace-per-hour', '0', '--max-captures-per-node-per-hour', '2'],
    ],
    { out: (s) => out.push(s), err: (s) => out.push(s), env: {} },
  );
  if (!serving) throw new Error('serve did not start');
  t.teardown(() => serving.stop());
  const url = serving.server.url;
  const token = (await readFile(join(root, 'data', 'auth-token'), 'utf8')).trim();
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const answers = [];
  for (const name of ['web-1', 'web-2', 'web-3']) {
    const pod = sim.addPod({ namespace: 'shop', name, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as any;
    const id = String(pod.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '');
    const res = await fetch(`${url}/v1/alerts/falco`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        time: new Date().toISOString(),
        rule: 'Terminal shell in container',
        priority: 'Notice',
        source: 'syscall',
        output: 'shell',
        tags: ['container', 'shell', 'mitre_execution'],
        output_fields: { 'container.id': id.slice(0, 12), 'container.name': 'app', 'k8s.ns.name': 'shop', 'k8s.pod.name': name, 'proc.name': 'bash' },
      }),
    });
    answers.push({ status: res.status, body: (await res.json()) as { captures: { id: string; budgetExceeded?: string }[] } });
  }
  t.same(
    answers.map((a) => a.status),
    [202, 202, 202],
    'every alert is answered 202',
  );
  t.same(
    answers.map((a) => a.body.captures[0]?.budgetExceeded),
    [undefined, undefined, 'node-per-hour'],
    'the third names the budget it ran into',
  );
  const [first, second, third] = answers.map((a) => a.body.captures[0]?.id as string);
  const worker = serving.capture.worker!;
  const settled = await Promise.all([first, second, third].map((id) => worker.settled(id as string, 60_000)));
  t.same(
    settled.map((c) => c.status.phase),
    ['Sealed', 'Sealed', 'Failed'],
  );
  t.equal(sim.receipts.filter((r) => r.status === 200).length, 2, 'two checkpoints at the kubelet');

  const listed = (await (await fetch(`${url}/v1/captures?phase=Failed`, { headers })).json()) as { captures: any[] };
  const over = listed.captures.find((c) => c.id === third);
  t.match(over, {
    status: {
      phase: 'Failed',
      reason: 'BudgetExceeded',
      message: 'budget node-per-hour exceeded: 2 captures on node node-a in the last hour, the limit is 2 per rolling hour; nothing was checkpointed',
    },
  });
  const one = (await (await fetch(`${url}/v1/captures/${third}`, { headers })).json()) as { signals?: unknown[] };
  t.equal(one.signals?.length, 1, 'its signal is kept');
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.match(metrics, /^amber_captures_over_budget_total\{budget="node-per-hour"\} 1$/m);
});

t.test('amber serve refuses to start on a bad budget', async (t) => {
  const err: string[] = [];
  const code = await runCli(['serve', '--max-archive-bytes-per-node-per-day', '10GiB'], { out: () => undefined, err: (s) => err.push(s), env: {} });
  t.not(code, 0);
  t.match(err.join('\n'), /CONFIG_INVALID|budgets\.archiveBytesPerNodePerDay/);
});
