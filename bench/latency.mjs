// bench/latency: time from an alert's arrival at amber to the kubelet's receipt of the checkpoint
// request (the simulated kubelet records it), p50/p99 over N alerts for distinct pods.
// amber runs in this process; the simulated API server and kubelet in a child process (as they
// would be other machines in a cluster), over real HTTPS on loopback.
// Usage: npm run build && node bench/latency.mjs [N=1000]
// BENCH_REPORT=0: no triage reports after sealing. BENCH_ISOLATE=1: wait until each capture has
// settled before the next alert (the floor: no older capture's work overlaps a new alert).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { DEFAULT_CAPTURE_SETTINGS } from '../dist/capture/capture-deps.js';
import { startCaptureWorker } from '../dist/capture/capture-worker.js';
import { DEFAULT_SETTINGS } from '../dist/config/settings.js';
import { loadOrCreateSigningKey } from '../dist/evidence/signing-key.js';
import { IntakeMetrics } from '../dist/http/intake-metrics.js';
import { startServer } from '../dist/http/start-server.js';
import { tokenAuthenticator } from '../dist/http/token-auth.js';
import { kubeApi, loadKubeConfig } from '../dist/kube/kube-api.js';
import { KubeletClient } from '../dist/kube/kubelet-client.js';
import { loadPolicies } from '../dist/policy/load-policies.js';
import { FileQueue } from '../dist/queue/file/file-queue.js';
import { FileStore } from '../dist/storage/file-store.js';
import { fork } from 'node:child_process';
import { once } from 'node:events';

const N = Number(process.argv[2] ?? 1000);
const root = await mkdtemp(join(tmpdir(), 'amber-bench-latency-'));
const child = fork(new URL('./sim-child.mjs', import.meta.url));
const [{ ready: sim }] = await once(child, 'message');
const receipts = [];
const replies = new Map();
child.on('message', (m) => {
  if (m.receipt) receipts.push(m.receipt);
  if (m.pod) replies.get(m.id)?.(m.pod);
});
let asked = 0;
const addPod = (spec) =>
  new Promise((resolve) => {
    const id = ++asked;
    replies.set(id, resolve);
    child.send({ id, addPod: spec });
  });
const log = pino({ level: 'silent' });
const queue = await FileQueue.open({ dir: join(root, 'journal') });
const { key } = await loadOrCreateSigningKey(join(root, 'signing'));
const kubelet = new KubeletClient({ token: { value: sim.token }, ca: await readFile(sim.caFile) });
const worker = await startCaptureWorker({
  queue,
  api: kubeApi(loadKubeConfig(sim.kubeconfigPath)),
  kubelet,
  store: new FileStore(join(root, 'evidence')),
  signingKey: key,
  log,
  settings: { ...DEFAULT_CAPTURE_SETTINGS, checkpointDir: sim.checkpointDir, minFreeBytes: 0, cluster: 'bench', report: process.env.BENCH_REPORT !== '0' },
  actor: { component: 'bench' },
  version: 'bench',
});
const server = await startServer(
  {
    log,
    queue,
    policies: await loadPolicies('policies'),
    auth: tokenAuthenticator(['t'], { acceptClientCerts: false }),
    metrics: new IntakeMetrics(),
    bodyLimit: DEFAULT_SETTINGS.bodyLimit,
    labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
    version: 'bench',
  },
  { listen: '127.0.0.1:0' },
);

const lat = [];
try {
  for (let i = 0; i < N; i++) {
    const name = `web-${i}`;
    const pod = await addPod({ namespace: 'shop', name, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] });
    const full = String(pod.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '');
    const body = JSON.stringify({
      time: new Date().toISOString(),
      rule: 'Terminal shell in container',
      priority: 'Notice',
      output: 'shell',
      source: 'syscall',
      tags: [],
      output_fields: { 'container.id': full.slice(0, 12), 'container.name': 'app', 'k8s.ns.name': 'shop', 'k8s.pod.name': name },
    });
    const before = receipts.length;
    const sent = performance.timeOrigin + performance.now();
    const res = await fetch(`${server.url}/v1/alerts/falco`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body,
    });
    if (res.status !== 202) throw new Error(`alert ${i}: ${res.status} ${await res.text()}`);
    const answer = await res.json();
    while (receipts.length === before) await new Promise((r) => setImmediate(r));
    const receipt = receipts[before];
    if (receipt.pod !== name) throw new Error(`receipt for ${receipt.pod}, expected ${name}`);
    lat.push(receipt.receivedAt - sent);
    if (process.env.BENCH_ISOLATE === '1') await worker.settled(answer.captures[0].id);
  }
} finally {
  await server.close();
  await worker.stop();
  await kubelet.close();
  await queue.close();
  child.send({ close: true });
  await once(child, 'exit');
  await rm(root, { recursive: true, force: true });
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(`alerts: ${lat.length} (distinct pods, one at a time)`);
console.log(
  `alert → kubelet receipt: p50 ${q(0.5).toFixed(2)} ms, p90 ${q(0.9).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${lat[lat.length - 1].toFixed(2)} ms (target p99 ≤ 25 ms)`,
);
