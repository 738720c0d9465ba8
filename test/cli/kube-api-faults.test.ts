/**
 * `amber agent` and `amber responder` as real processes against an API server that fails as a
 * real one does right after the CRD was installed (429 storage (re)initializing with
 * Retry-After), then 500, then cut connections, and whose watches are cut mid-stream: they keep
 * running, /readyz says 503 (with the reason) until the first list succeeded, the log has one
 * line per failure and no HTTP body or header, and Captures are taken and sealed afterwards.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { planCapture } from '../../src/core/decision.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { KubeQueue } from '../../src/queue/kube/kube-queue.js';
import { placeTarget } from '../../src/kube/place-target.js';
import { LogSink } from '../helpers/log-sink.js';
import { spawnAmber, type AmberProcess } from '../helpers/run-amber.js';
import { simForProcesses } from '../helpers/sim-processes.js';
import type { SimCluster } from '../sim/sim-cluster.js';

const NS = 'amber-system';
const CAPTURES = `/apis/forensics.amber.dev/v1alpha1/namespaces/${NS}/captures`;
/** what a dumped ApiException, or a Status body, would leave in a log line */
const DUMP = /HTTP-Code|Headers:|audit-id|"kind":"Status"|\\"kind\\"|x-kubernetes-pf/i;

type Line = Record<string, unknown>;
const parsed = (p: AmberProcess): Line[] =>
  p.stdout.flatMap((l) => {
    try {
      return [JSON.parse(l) as Line];
    } catch {
      return [];
    }
  });

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function setUp(t: { teardown(fn: () => unknown): void }): Promise<{ root: string; sim: SimCluster; common: string[]; procs: AmberProcess[] }> {
  const { root, sim, procs } = await simForProcesses(t, 'apifaults');
  // the backoff bounds are settings (YAML only); short here so the test takes seconds
  const config = join(root, 'amber.yaml');
  await writeFile(config, 'kube:\n  apiBackoffBaseMs: 100\n  apiBackoffMaxMs: 400\n');
  const common = ['--kubeconfig', sim.kubeconfigPath, '--namespace', NS, '--cluster', 'sim', '--listen', '127.0.0.1:0', '--config', config];
  return { root, sim, common, procs };
}

/** A responder in this process, to create Captures as `amber responder` does. */
function captureMaker(sim: SimCluster) {
  const kc = loadKubeConfig(sim.kubeconfigPath);
  const api = kubeApi(kc);
  const queue = KubeQueue.forResponder({ kc, namespace: NS, log: createLogger('warn', new LogSink()), place: (target) => placeTarget(api, target) });
  return async (pod: string) => {
    sim.addPod({ namespace: 'shop', name: pod, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
    const { capture } = await queue.enqueue(
      planCapture({
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
        },
        containers: 'target',
        cooldownMs: 60_000,
        timeoutSeconds: 120,
        include: ['podSpec'],
        evidence: { retentionDays: 1, lock: 'none' },
      }),
    );
    return capture.id;
  };
}

t.test('the agent survives a 429 storm at start, 500s and a cut connection, then a watch cut mid-stream, and takes every Capture', async (t) => {
  const { root, sim, common, procs } = await setUp(t);
  // the CRD's storage is initialising until the test says otherwise; then 500, 500, a cut connection
  const storm = { answer: 'storageInitializing' as const, verb: 'list', path: CAPTURES, times: Infinity, retryAfterSeconds: 1 };
  sim.faults.apiFaults.push(
    storm,
    { answer: 'internalError', verb: 'list', path: CAPTURES, times: 2 },
    { answer: 'reset', verb: 'list', path: CAPTURES, times: 1 },
  );
  const agent = spawnAmber([
    'agent',
    ...common,
    '--node',
    'node-a',
    '--data-dir',
    join(root, 'agent'),
    '--store',
    `file://${join(root, 'evidence')}`,
    '--kubelet-ca',
    sim.caFile,
    '--checkpoint-dir',
    sim.checkpointDir('node-a'),
    '--min-free-bytes',
    '0',
  ]);
  procs.push(agent);
  const { url } = (await agent.waitForLog('amber is serving', 60_000)) as { url: string };
  await until('two 429s', () => (((storm as { answeredAt?: number[] }).answeredAt?.length ?? 0) >= 2 ? true : undefined));
  const early = await readyz(url);
  t.equal(early.status, 503, 'not ready while the lists are refused');
  t.match(early.body, {
    status: 'not ready',
    reason: /^waiting for the first list of Captures to succeed \(last answer: list: 429 storage is \(re\)initializing \(retry after 1 s\)\)$/,
  });
  t.equal(agent.child.exitCode, null, 'running');
  storm.times = 0;
  await until('ready', async () => ((await readyz(url)).status === 200 ? true : undefined));
  t.equal(agent.child.exitCode, null, 'still running');
  t.same(
    sim.faults.apiFaults.map((f) => f.times),
    [0, 0, 0],
    'every refusal was met',
  );
  const storms = (storm as { answeredAt?: number[] }).answeredAt ?? [];
  t.ok(
    storms.slice(1).every((at, i) => at - (storms[i] ?? 0) >= 990),
    'each list after a 429 waited for its Retry-After: 1',
  );

  const failures = parsed(agent).filter((l) => l['msg'] === 'Capture list failed; retrying');
  t.equal(failures.length, storms.length + 3, 'one log line per refused list');
  t.match(
    failures.map((l) => [l['status'], l['problem'], l['attempt']]),
    [
      ...storms.map((_, i) => [429, 'storage is (re)initializing', i + 1]),
      [500, 'etcdserver: request timed out', storms.length + 1],
      [500, 'etcdserver: request timed out', storms.length + 2],
      [undefined, 'fetch failed: other side closed (UND_ERR_SOCKET)', storms.length + 3],
    ],
  );
  t.match(failures[0], { level: 40, retryAfterSeconds: 1, retryInMs: Number });

  const make = captureMaker(sim);
  const id1 = await make('after-storm');
  const sealed1 = await until('the first capture sealed', () => parsed(agent).find((l) => l['msg'] === 'capture sealed' && l['capture'] === id1));
  t.ok(sealed1, 'a Capture created after the storm is taken and sealed');

  // the open watch is reset; the one after it is cut in the middle of its first event
  sim.faults.apiFaults.push({ answer: 'cutWatch', cut: 'truncate', afterEvents: 0 });
  t.equal(sim.endWatches('reset'), 1, 'the agent was watching');
  await until('re-watched', () => (sim.faults.apiFaults[3]?.times === 0 ? true : undefined));
  const id2 = await make('after-cut');
  await until('the second capture sealed', () => parsed(agent).find((l) => l['msg'] === 'capture sealed' && l['capture'] === id2));
  const watchFailures = parsed(agent).filter((l) => l['msg'] === 'Capture watch failed; watching again');
  t.ok(watchFailures.length >= 2, `one line per cut watch (${watchFailures.length})`);
  t.equal(sim.receipts.filter((r) => r.status === 200).length, 2, 'each Capture checkpointed once');
  t.equal(agent.child.exitCode, null, 'still running');

  t.notMatch(agent.stdout.join('\n'), DUMP, 'no HTTP body or header in the log');
  t.notMatch(agent.stderr.join(''), /DeprecationWarning|FSTDEP|Warning/, 'nothing on stderr');
  agent.child.kill('SIGTERM');
  t.equal(await agent.exited(), 0);
});

t.test(
  'the responder: not ready until its first list succeeds; an alert while the API answers 429 gets 503, the next one 202; no deprecation warning',
  async (t) => {
    const { root, sim, common, procs } = await setUp(t);
    const pod = sim.addPod({ namespace: 'shop', name: 'web-1', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as any;
    const containerId = String(pod.status.containerStatuses[0].containerID)
      .replace(/^[a-z-]+:\/\//, '')
      .slice(0, 12);
    const storm = { answer: 'storageInitializing' as const, verb: 'list', path: CAPTURES, times: Infinity, retryAfterSeconds: 1 };
    sim.faults.apiFaults.push(storm);
    const data = join(root, 'responder');
    const responder = spawnAmber(['responder', ...common, '--data-dir', data]);
    procs.push(responder);
    const { url } = (await responder.waitForLog('amber is serving', 60_000)) as { url: string };
    await until('a 429', () => (((storm as { answeredAt?: number[] }).answeredAt?.length ?? 0) >= 1 ? true : undefined));
    const early = await readyz(url);
    t.equal(early.status, 503);
    t.match(early.body.reason, /^waiting for the first list of Captures to succeed/);
    storm.times = 0;
    await until('ready', async () => ((await readyz(url)).status === 200 ? true : undefined));
    t.equal(parsed(responder).filter((l) => l['msg'] === 'Capture list failed; retrying').length, (storm as { answeredAt?: number[] }).answeredAt?.length);

    const token = (await readFile(join(data, 'auth-token'), 'utf8')).trim();
    const post = () =>
      fetch(`${url}/v1/alerts/falco`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          time: new Date().toISOString(),
          rule: 'Terminal shell in container',
          priority: 'Notice',
          output: 'shell',
          source: 'syscall',
          tags: [],
          output_fields: { 'container.id': containerId, 'container.name': 'app', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' },
        }),
      });
    sim.faults.apiFaults.push({ answer: 'tooManyRequests', times: 1, retryAfterSeconds: 2 });
    const busy = await post();
    const body = (await busy.json()) as { error: { code: string; message: string } };
    t.equal(busy.status, 503, `the sender is told to retry: ${JSON.stringify(body)}`);
    t.equal(body.error.code, 'QUEUE_UNAVAILABLE');
    t.notMatch(body.error.message, DUMP);
    t.equal((await post()).status, 202, 'the retried alert is queued');
    t.equal(sim.captures(NS).length, 1);
    t.equal(responder.child.exitCode, null);
    t.notMatch(responder.stdout.join('\n'), DUMP, 'no HTTP body or header in the log');
    t.notMatch(responder.stderr.join(''), /DeprecationWarning|FSTDEP|Warning/, 'nothing on stderr');
    responder.child.kill('SIGTERM');
    t.equal(await responder.exited(), 0);
  },
);
