import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import type { SimContainer, SimEnv } from '../sim/k8s-objects.js';
import { spawnAmber, type AmberProcess } from './run-amber.js';

export interface UiStack {
  readonly sim: SimCluster;
  readonly amber: AmberProcess;
  readonly url: string;
  readonly token: string;
  readonly dataDir: string;
  readonly evidenceDir: string;
  /** Adds a running pod on node-a and posts a Falco "Terminal shell in container" alert for it; the capture's id. */
  alert(
    pod: { namespace: string; name: string; container?: Partial<SimContainer>; env?: Omit<SimEnv, 'container'>[] },
    fields?: Record<string, string>,
    output?: string,
  ): Promise<string>;
  /** GET on amber's API with the bearer token. */
  get(path: string): Promise<any>;
}

/**
 * The real `amber serve` process (dist/, as npm test builds it) with its evidence browser on,
 * the repository's policies and a file store, against the simulated cluster; `config` is the
 * YAML of its --config file.
 */
export async function startUiStack(t: { teardown(fn: () => unknown): void }, name: string, opts: { config?: string } = {}): Promise<UiStack> {
  const root = await mkdtemp(join(tmpdir(), `amber-${name}-`));
  const config = join(root, 'amber.yaml');
  // settings only a config file can give (ui.restore)
  await writeFile(config, opts.config ?? '{}\n');
  const sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
  const dataDir = join(root, 'data');
  const evidenceDir = join(root, 'evidence');
  const amber = spawnAmber([
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    dataDir,
    '--policies',
    'policies',
    '--store',
    `file://${evidenceDir}`,
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
    '--config',
    config,
  ]);
  t.teardown(async () => {
    amber.child.kill('SIGKILL');
    await amber.exited();
    await sim.close();
    await rm(root, { recursive: true, force: true });
  });
  const url = (await amber.waitForLog('amber is serving', 30_000))['url'] as string;
  const token = (await readFile(join(dataDir, 'auth-token'), 'utf8')).trim();
  const auth = { authorization: `Bearer ${token}` };
  return {
    sim,
    amber,
    url,
    token,
    dataDir,
    evidenceDir,
    async get(path) {
      const res = await fetch(`${url}${path}`, { headers: auth });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async alert(pod, fields = {}, output = 'A shell was spawned in a container with an attached terminal') {
      const container = { name: 'app', image: 'ghcr.io/acme/app:1.0', ...pod.container };
      const added = sim.addPod({
        namespace: pod.namespace,
        name: pod.name,
        node: 'node-a',
        containers: [container],
        env: (pod.env ?? []).map((e) => ({ ...e, container: container.name })),
      }) as any;
      const full = String(added.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '');
      const res = await fetch(`${url}/v1/alerts/falco`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          time: new Date().toISOString(),
          rule: 'Terminal shell in container',
          priority: 'Notice',
          output,
          source: 'syscall',
          tags: ['container', 'shell'],
          output_fields: {
            'container.id': full.slice(0, 12),
            'container.name': container.name,
            'container.image.repository': 'ghcr.io/acme/app',
            'k8s.ns.name': pod.namespace,
            'k8s.pod.name': pod.name,
            ...fields,
          },
        }),
      });
      const body = (await res.json()) as { captures?: { id: string }[] };
      const id = body.captures?.[0]?.id;
      if (res.status !== 202 || id === undefined) throw new Error(`the alert was not taken: ${res.status} ${JSON.stringify(body)}`);
      return id;
    },
  };
}
